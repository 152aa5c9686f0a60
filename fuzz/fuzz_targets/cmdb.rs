//! Any bytes given as a CMDB inventory document yield diagnostics or a document, never a
//! panic; and a document that is accepted renders an `inventory.toml` that is valid TOML
//! (a name or description with quotes, newlines or controls must not break the file).
//! Run: `cargo +nightly fuzz run cmdb -- -max_total_time=60`
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use pilote::integrations::cmdb::document::parse;
use pilote::integrations::cmdb::render::{Kept, body};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(doc) = parse(Path::new("fuzz.json"), text) {
        let out = body(&doc, &Kept::default());
        if let Err(e) = out.parse::<toml::Table>() {
            panic!("rendered inventory is not TOML: {e}\n{out}");
        }
    }
});
