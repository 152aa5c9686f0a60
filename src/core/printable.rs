//! Text from outside (a remote script's output, a name inside an archive, a key of a hostile
//! file) made safe to print on an operator's terminal: every character a terminal would obey
//! instead of show is written as a visible escape.
//!
//! Output is stored raw and escaped only when shown, so nothing is lost: the escape says what
//! was there (`\e[2J` is a clear screen, `\r` a return that would overwrite the line) where a
//! replacement character would not (CVE-2021-25743 is the same attack on `kubectl logs`; its
//! fix also escapes `\r`, kubernetes/kubernetes#112553).

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character (C0 but `keep`, DEL, C1) and every bidirectional
/// override written as an escape: `\e`, `\r`, `\n`, `\a`, `\b`, `\x7f`, `\u{9b}`,
/// `\u{202e}`... `keep` lists what the caller lets through (a tab for `pilote logs`, a
/// newline between the lines of an error message).
pub fn escape_controls<'a>(text: &'a str, keep: &[char]) -> Cow<'a, str> {
    if !text.chars().any(|c| needs_escape(c) && !keep.contains(&c)) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if !needs_escape(c) || keep.contains(&c) {
            out.push(c);
            continue;
        }
        match c {
            '\u{1b}' => out.push_str("\\e"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            c if (c as u32) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
        }
    }
    Cow::Owned(out)
}

/// Whether a terminal could act on `c` instead of showing it: controls (an escape sequence
/// starts with one: ESC, or CSI/OSC as C1), and the bidi overrides and isolates that make a
/// terminal with bidi support (VTE) show a line in another order than it was written.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn sequences_are_shown_not_obeyed() {
        let raw = "a\u{1b}[2J\u{1b}]52;c;aGk=\u{7}b\rfake\u{8}\u{7f}\u{9b}1m\u{202e}x\u{0}";
        assert_eq!(
            escape_controls(raw, &[]),
            "a\\e[2J\\e]52;c;aGk=\\ab\\rfake\\b\\x7f\\u{9b}1m\\u{202e}x\\x00"
        );
    }

    #[test]
    fn plain_text_is_borrowed_and_kept_characters_pass() {
        assert!(matches!(
            escape_controls("déjà vu ✓", &[]),
            std::borrow::Cow::Borrowed(_)
        ));
        assert_eq!(escape_controls("a\tb\nc\r", &['\t', '\n']), "a\tb\nc\\r");
    }
}
