//! Any text, escaped for a terminal, holds no character a terminal would obey (no control
//! but the tab the caller keeps, no bidi override), and text with none comes back unchanged.
//! Run: `cargo +nightly fuzz run escape -- -max_total_time=60`
#![no_main]

use libfuzzer_sys::fuzz_target;
use pilote::core::printable::escape_controls;

fn obeyed(c: char) -> bool {
    (c.is_control() && c != '\t')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let out = escape_controls(&text, &['\t']);
    if let Some(c) = out.chars().find(|c| obeyed(*c)) {
        panic!("{c:?} left in {out:?}");
    }
    if !text.chars().any(obeyed) {
        assert_eq!(out, text);
    }
});
