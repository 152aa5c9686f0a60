//! Masking secrets in output before anything is stored.
//!
//! Every form a script may print a secret in is a pattern of one Aho-Corasick automaton
//! (leftmost-longest, ASCII case ignored), so a line is searched once however many secrets
//! and forms there are; each match becomes `****`. The forms of a secret:
//! - itself, and each of its lines (a PEM key is printed line by line);
//! - percent-encoded (RFC 3986's unreserved characters kept; either hex case, as case is
//!   ignored), hex (`xxd -p`, `od -tx1`, either case);
//! - base64 of any text that holds it: the secret starts 0, 1 or 2 bytes into a 3-byte group,
//!   and for each of the three the characters that only its own bits decide (the "core": those
//!   next to the unknown text before and after are left out) are a pattern, with base64url's
//!   alphabet too, and the whole padded end for a secret that ends the text (`printf 'u:%s'`);
//! - base64 wrapped at 76 columns (`base64`) or 64 (PEM, `openssl base64`), and hex wrapped at
//!   60 (`xxd -p`): the core of a longer secret is cut by line breaks, so each piece a line
//!   can hold is a pattern (see [`wrapped`]).
//!
//! No form shorter than [`MIN_LEN`] is masked: it would hide ordinary words (secrets that
//! short are refused before a run starts). A line longer than the runner stores whole is cut
//! by [`Redactor::cut`], which never cuts through a form.

use aho_corasick::{AhoCorasick, MatchKind};

/// Replaces every occurrence of a secret, and of the forms a script may print it in, by
/// `****`. Cheap to clone (the automaton is shared); with no secret it does nothing at all.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    automaton: Option<AhoCorasick>,
}

/// Shorter forms would mask ordinary words: no secret is this short (they are refused), and a
/// base64 or hex piece that short is left alone.
pub const MIN_LEN: usize = crate::core::value::MIN_SECRET_CHARS;

const MASK: &[u8] = b"****";

/// The widths tools wrap base64 at: `base64`'s default (57 bytes a line), and PEM's.
const BASE64_WRAPS: &[usize] = &[76, 64];
/// `xxd -p`'s (30 bytes a line).
const HEX_WRAPS: &[usize] = &[60];

impl Redactor {
    /// The masks of `secrets`. Fails only for a pattern set past the automaton's size limits
    /// (far beyond any real set of secrets): a run must then not start, rather than start
    /// unmasked.
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut patterns = Vec::new();
        for s in secrets.into_iter().filter(|s| s.len() >= MIN_LEN) {
            forms(s, &mut patterns);
        }
        patterns.retain(|p| p.len() >= MIN_LEN);
        patterns.sort_unstable();
        patterns.dedup();
        if patterns.is_empty() {
            return Ok(Self::default());
        }
        AhoCorasick::builder()
            .match_kind(MatchKind::LeftmostLongest)
            .ascii_case_insensitive(true)
            .build(&patterns)
            .map(|a| Self { automaton: Some(a) })
            .map_err(|e| format!("cannot build the masks of the run's secrets: {e}"))
    }

    /// `text` masked.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        self.redact_in_place(&mut out);
        out
    }

    /// Masks in place, in one pass; a line with no secret in it (nearly all) is not copied.
    pub fn redact_in_place(&self, line: &mut String) {
        let Some(a) = &self.automaton else { return };
        let mut matches = a.find_iter(line.as_bytes()).peekable();
        if matches.peek().is_none() {
            return;
        }
        let mut out = Vec::with_capacity(line.len());
        let mut last = 0;
        for m in matches {
            out.extend_from_slice(&line.as_bytes()[last..m.start()]);
            out.extend_from_slice(MASK);
            last = m.end();
        }
        out.extend_from_slice(&line.as_bytes()[last..]);
        // Matches start and end on characters (patterns are whole UTF-8, and case folding
        // only touches ASCII), so this is valid UTF-8; lossy only to avoid an unwrap.
        *line = String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    }

    /// For a line too long to be stored whole: where to cut `buf`, and the masked text before
    /// the cut. The cut is on a character, never inside a form, and far enough from the end
    /// that every form starting before it was seen whole; the rest of `buf` goes before what
    /// is read next. So the pieces are masked as the whole line would be (a form longer than
    /// half of `buf`, tens of KiB, excepted), and each piece is about half of `buf` or more.
    pub fn cut(&self, buf: &[u8]) -> (String, usize) {
        let longest = self
            .automaton
            .as_ref()
            .map_or(0, AhoCorasick::max_pattern_len);
        let mut at = char_start(
            buf,
            buf.len() - longest.saturating_sub(1).min(buf.len() / 2),
        );
        let mut out = Vec::with_capacity(at);
        let mut last = 0;
        if let Some(a) = &self.automaton {
            for m in a.find_iter(buf) {
                if m.start() >= at {
                    break;
                }
                out.extend_from_slice(&buf[last..m.start()]);
                out.extend_from_slice(MASK);
                last = m.end();
                // A form across the cut moves the cut to its end (a character boundary).
                at = at.max(m.end());
            }
        }
        out.extend_from_slice(&buf[last..at]);
        (String::from_utf8_lossy(&out).into_owned(), at)
    }
}

/// `at`, or the start of the UTF-8 character of `buf` that `at` would cut through.
fn char_start(buf: &[u8], at: usize) -> usize {
    let Some(start) = (at.saturating_sub(4)..at)
        .rev()
        .find(|&i| buf[i] & 0xC0 != 0x80)
    else {
        return at;
    };
    let len = match buf[start] {
        0xF0.. => 4,
        0xE0.. => 3,
        0xC0.. => 2,
        _ => 1,
    };
    if start + len > at { start } else { at }
}

/// Every form of `secret` (some maybe shorter than [`MIN_LEN`], dropped by the caller).
fn forms(secret: &str, out: &mut Vec<Vec<u8>>) {
    let bytes = secret.as_bytes();
    out.push(bytes.to_vec());
    out.extend(secret.lines().map(|l| l.as_bytes().to_vec()));
    out.push(percent_encode(bytes).into_bytes());
    let hex = hex::encode(bytes);
    wrapped(&hex, 0, 2, HEX_WRAPS, out);
    out.push(hex.into_bytes());
    for offset in 0..3 {
        let mut prefixed = vec![0u8; offset];
        prefixed.extend_from_slice(bytes);
        let encoded = base64(&prefixed);
        // The characters whose 6 bits all come from the secret: from the first that starts
        // at or after its first bit, to the last that ends at or before its last bit.
        let start = (8 * offset).div_ceil(6);
        let end = 8 * (offset + bytes.len()) / 6;
        let core = &encoded[start..end];
        // A line starts at a multiple of 4 characters of the whole encoding, whose core
        // starts `start` characters into a group.
        wrapped(core, (4 - start % 4) % 4, 4, BASE64_WRAPS, out);
        for form in [
            core,
            encoded[start..].trim_end_matches('='),
            &encoded[start..],
        ] {
            out.push(form.as_bytes().to_vec());
            out.push(form.replace('+', "-").replace('/', "_").into_bytes());
        }
    }
}

/// The pieces of `core` a wrapped line can hold, when the encoding it is part of is wrapped
/// at one of `widths` columns: a line starts only where the encoding has a whole unit (4
/// base64 characters, 2 hex digits), so at an index `i` of the core with `i % unit == phase`.
/// Each such `i` gives the end of a line (the core up to `i`), the start of one (the core
/// from `i`, when the rest fits in a line) and each whole line inside the core. That is
/// about `core.len() / unit` patterns per width: for a 3 KiB key, a few thousand.
fn wrapped(core: &str, phase: usize, unit: usize, widths: &[usize], out: &mut Vec<Vec<u8>>) {
    let widest = widths.iter().copied().max().unwrap_or(0);
    let core = core.as_bytes();
    for i in (phase..core.len()).step_by(unit) {
        if i > 0 && i <= widest {
            out.push(core[..i].to_vec());
        }
        if i > 0 && core.len() - i <= widest {
            out.push(core[i..].to_vec());
        }
        for w in widths {
            if let Some(line) = core.get(i..i + w) {
                out.push(line.to_vec());
            }
        }
    }
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn percent_encode(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `text` wrapped at `width` columns, as `base64 -w WIDTH` or `fold -w WIDTH` print it.
    fn wrap(text: &str, width: usize) -> Vec<String> {
        text.as_bytes()
            .chunks(width)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect()
    }

    /// Masks each line of `lines` apart, as the runner does.
    fn each(r: &Redactor, lines: &[String]) -> Vec<String> {
        lines.iter().map(|l| r.redact(l)).collect()
    }

    #[test]
    fn masks_raw_and_base64_forms() {
        let r = Redactor::new(["hunter2-secret"]).expect("masks");
        assert_eq!(r.redact("pw=hunter2-secret!"), "pw=****!");
        assert_eq!(base64(b"hunter2-secret"), "aHVudGVyMi1zZWNyZXQ=");
        assert_eq!(r.redact("b64 aHVudGVyMi1zZWNyZXQ="), "b64 ****");
        assert_eq!(r.redact("b64 aHVudGVyMi1zZWNyZXQ"), "b64 ****");
        assert_eq!(r.redact("nothing here"), "nothing here");
        // `echo "$TOKEN" | base64` encodes the newline too: all is masked but what holds
        // bits of the newline (here its top two bits are 0, as the end's padding: only `K`).
        assert_eq!(base64(b"hunter2-secret\n"), "aHVudGVyMi1zZWNyZXQK");
        assert_eq!(r.redact("aHVudGVyMi1zZWNyZXQK"), "****K");
        let pem = Redactor::new([
            "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----",
        ])
        .expect("masks");
        assert_eq!(pem.redact("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "****");
    }

    #[test]
    fn masks_the_base64_of_any_text_holding_the_secret() {
        let secret = "s3cr3t-T0ken/x";
        let r = Redactor::new([secret]).expect("masks");
        // An HTTP Basic header: `printf 'user:%s' "$T" | base64`, with the secret at each of
        // the three offsets in a 3-byte group, and text after it or not.
        for user in ["u", "us", "use", "user"] {
            for after in ["", "\n", ":more"] {
                let text = format!("{user}:{secret}{after}");
                let encoded = base64(text.as_bytes());
                let masked = r.redact(&encoded);
                assert!(masked.contains("****"), "{text:?}: {encoded} -> {masked}");
                // What is left is what the text around decides: a few characters each side.
                let left = masked.replace("****", "");
                assert!(
                    left.len() <= base64(format!("{user}:{after}").as_bytes()).len() + 2,
                    "{text:?}: {encoded} -> {masked}"
                );
            }
        }
        // base64url (a JWT's alphabet).
        let url = base64(format!("x{secret}").as_bytes())
            .replace('+', "-")
            .replace('/', "_");
        assert!(r.redact(&url).contains("****"), "{url}");
    }

    #[test]
    fn masks_base64_wrapped_at_76_and_64_columns() {
        // A PEM key's worth: 3 lines of base64 at 76 columns or more, at every offset.
        let secret: String = (0..130)
            .map(|i| {
                char::from(
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"[i * 7 % 64],
                )
            })
            .collect();
        let r = Redactor::new([secret.as_str()]).expect("masks");
        for width in [76, 64] {
            for prefix in 0..80 {
                let text = format!("{}{secret}\n", "p".repeat(prefix));
                let lines = wrap(&base64(text.as_bytes()), width);
                let masked = each(&r, &lines).concat();
                // Every character left is one the text around decides, or one of a piece
                // shorter than six at a line's end or start.
                let left = masked.replace("****", "").len();
                let around = base64(format!("{}\n", "p".repeat(prefix)).as_bytes()).len();
                assert!(
                    left <= around + 2 * 5 + 4,
                    "width {width}, prefix {prefix}: {lines:?} -> {masked}"
                );
            }
        }
    }

    #[test]
    fn masks_hex_in_any_case_and_wrapped_as_xxd_does() {
        let r = Redactor::new(["a/b+c=d&e%f"]).expect("masks");
        assert_eq!(r.redact("612f622b633d642665256600"), "****00");
        assert_eq!(r.redact("612F622B633D642665256600"), "****00");
        assert_eq!(r.redact("612f622B633D642665256600"), "****00");
        let long = "0123456789abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ";
        let r = Redactor::new([long]).expect("masks");
        let masked = each(&r, &wrap(&hex::encode_upper(format!("key={long}\n")), 60));
        assert!(masked.iter().all(|l| l.contains("****")), "{masked:?}");
        assert!(
            masked.concat().replace("****", "").len() <= 8 + 2 + 10,
            "{masked:?}"
        );
    }

    #[test]
    fn masks_url_encoded_forms_in_either_case() {
        let r = Redactor::new(["a/b+c=d&e%f"]).expect("masks");
        assert_eq!(r.redact("?t=a%2Fb%2Bc%3Dd%26e%25f&x"), "?t=****&x");
        assert_eq!(r.redact("?t=a%2fb%2bc%3dd%26e%25f"), "?t=****");
        // A secret with nothing to escape has one URL form: itself, masked once.
        let plain = Redactor::new(["plain-token"]).expect("masks");
        assert_eq!(plain.redact("plain-token"), "****");
    }

    #[test]
    fn short_secrets_and_none_mask_nothing() {
        let none = Redactor::new([]).expect("masks");
        assert!(none.automaton.is_none());
        assert_eq!(none.redact("anything"), "anything");
        let short = Redactor::new(["abcde", ""]).expect("masks");
        assert!(short.automaton.is_none());
        assert_eq!(short.redact("abcde"), "abcde");
    }

    #[test]
    fn a_cut_never_splits_a_form_nor_a_character() {
        let secret = "the-long-secret-value";
        let r = Redactor::new([secret]).expect("masks");
        for pad in 0..40 {
            let line = format!("{}{secret}{}", "x".repeat(100 + pad), "é".repeat(20));
            let (piece, at) = r.cut(line.as_bytes());
            assert!(at >= line.len() / 2 && at <= line.len());
            assert!(line.is_char_boundary(at), "pad {pad}: {at}");
            let rest = &line[at..];
            let whole = r.redact(&format!("{piece}{}", r.redact(rest)));
            assert_eq!(whole, r.redact(&line), "pad {pad}");
            assert!(
                !piece.contains(secret) && !rest.contains(secret),
                "pad {pad}"
            );
        }
        // No secret: the cut is at the end, or before the last character if it is cut short.
        let none = Redactor::default();
        let (piece, at) = none.cut("abcé".as_bytes());
        assert_eq!((piece.as_str(), at), ("abcé", 5));
        let (piece, at) = none.cut(&"abcé".as_bytes()[..4]);
        assert_eq!((piece.as_str(), at), ("abc", 3));
    }
}
