//! Any text given to the plan checker yields diagnostics or a plan, never a panic or a hang.
#![no_main]

use std::path::Path;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use pilote::core::SourceFile;
use pilote::core::plan;
use pilote::settings::{self, Located, Origin, Overrides, Workspace};

fn demo() -> &'static Workspace {
    static WS: OnceLock<Workspace> = OnceLock::new();
    WS.get_or_init(|| {
        settings::load(
            &Located {
                dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/demo/config"),
                origin: Origin::Flag,
            },
            &Overrides::default(),
        )
        .expect("demo config")
    })
}

fuzz_target!(|data: &[u8]| {
    let ws = demo();
    let ctx = ws.plan_context();
    let file = SourceFile::new("fuzz.toml", String::from_utf8_lossy(data).into_owned());
    let _ = plan::check(&file, &ctx, None);
});
