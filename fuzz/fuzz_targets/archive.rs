//! Any bytes given as a package archive (tar, tar.gz, zip) are extracted inside the target
//! dir or refused: never a panic, never a file outside it.
//! Run: `cargo +nightly fuzz run archive -- -max_total_time=60`
#![no_main]

use libfuzzer_sys::fuzz_target;
use pilote::vault::archive::{Limits, extract};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, bytes)) = data.split_first() else {
        return;
    };
    let name = match kind % 3 {
        0 => "pkg.tar",
        1 => "pkg.tar.gz",
        _ => "pkg.zip",
    };
    let dir = tempfile::tempdir().expect("tmp");
    let archive = dir.path().join(name);
    std::fs::write(&archive, bytes).expect("write");
    let into = dir.path().join("out");
    std::fs::create_dir(&into).expect("mkdir");
    let limits = Limits {
        max_bytes: 1 << 20,
        max_entries: 100,
        max_ratio: 200,
    };
    let _ = extract(&archive, &into, limits);
    // Nothing but `pkg.*` and `out/` in the temp dir: no escape.
    for e in std::fs::read_dir(dir.path()).expect("read") {
        let name = e.expect("entry").file_name();
        let name = name.to_string_lossy();
        assert!(name == "out" || name.starts_with("pkg."), "escaped: {name}");
    }
});
