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

/// What a terminal cell may hold of `symbol` (one grapheme, as a drawing library put it in
/// the cell): `None` if it is safe as it is; else the symbol without what a terminal would
/// obey, or, when nothing visible is left, one column standing for it: the control picture of
/// a C0 character (`␛` for ESC, `␇` for BEL; a space for a tab), `␡` for DEL, `�` for the
/// rest. One column, as the cell is one: the cells after it stay where they were drawn.
/// Richer escapes (`\e[2J`) are the drawer's to make before; this is the net under them all.
pub fn cell_symbol(symbol: &str) -> Option<String> {
    // Nearly every cell is one printable ASCII byte: decided without decoding, as this runs
    // for each cell of each frame.
    if symbol.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return None;
    }
    let first = symbol.chars().find(|c| needs_escape(*c))?;
    let kept: String = symbol.chars().filter(|c| !needs_escape(*c)).collect();
    if !kept.is_empty() {
        return Some(kept);
    }
    let stand_in = match first as u32 {
        // A tab in a name is only a gap, as the log pane shows it.
        0x09 => ' ',
        c @ 0..0x20 => char::from_u32(0x2400 + c).unwrap_or('\u{fffd}'),
        0x7f => '\u{2421}',
        _ => '\u{fffd}',
    };
    Some(stand_in.to_string())
}

/// Whether a terminal could act on `c` instead of showing it: controls (an escape sequence
/// starts with one: ESC, or CSI/OSC as C1), and the bidi overrides and isolates that make a
/// terminal with bidi support (VTE) show a line in another order than it was written.
fn needs_escape(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::{cell_symbol, escape_controls};

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

    #[test]
    fn a_cell_holds_one_visible_column_never_a_control() {
        assert_eq!(cell_symbol("a"), None);
        assert_eq!(cell_symbol("é"), None);
        assert_eq!(cell_symbol("\u{1b}").as_deref(), Some("␛"));
        assert_eq!(cell_symbol("\u{7}").as_deref(), Some("␇"));
        assert_eq!(cell_symbol("\0").as_deref(), Some("␀"));
        assert_eq!(cell_symbol("\t").as_deref(), Some(" "));
        assert_eq!(cell_symbol("\r\n").as_deref(), Some("␍"));
        assert_eq!(cell_symbol("\u{7f}").as_deref(), Some("␡"));
        assert_eq!(cell_symbol("\u{9b}").as_deref(), Some("\u{fffd}"));
        // A zero-width override appended to a letter's cell goes; the letter stays.
        assert_eq!(cell_symbol("a\u{202e}").as_deref(), Some("a"));
        assert_eq!(cell_symbol("\u{2067}").as_deref(), Some("\u{fffd}"));
    }
}
