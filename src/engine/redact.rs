//! Masking secrets in output before anything is stored.

/// Replaces every occurrence of a secret, and of the forms a script may print it in (base64,
/// URL-encoded, hex), by `****`.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    patterns: Vec<String>,
}

/// Shorter values would mask ordinary words; such secrets are refused elsewhere or left alone.
const MIN_LEN: usize = 4;

impl Redactor {
    pub fn new<'a>(secrets: impl Iterator<Item = &'a str>) -> Self {
        let mut patterns = Vec::new();
        for s in secrets.filter(|s| s.len() >= MIN_LEN) {
            patterns.push(s.to_string());
            // A multi-line secret (a PEM key) is printed line by line.
            patterns.extend(s.lines().filter(|l| l.len() >= MIN_LEN).map(str::to_string));
            let encoded = base64(s.as_bytes());
            // The whole 3-byte groups encode the same whatever follows the secret (`echo`'s
            // newline, other text), so that prefix is masked too.
            let whole = (s.len() / 3) * 4;
            if whole >= 8 {
                patterns.push(encoded[..whole].to_string());
            }
            patterns.push(encoded);
            // A token put in a URL or a curl `--data-urlencode`, either hex case.
            for upper in [true, false] {
                let url = url_encode(s.as_bytes(), upper);
                if url != s {
                    patterns.push(url);
                }
            }
            // `xxd -p`, `od -tx1 | tr -d ' '`, a hash tool's "hex" of the bytes.
            let hex = hex::encode(s.as_bytes());
            patterns.push(hex.to_ascii_uppercase());
            patterns.push(hex);
        }
        // Longest first, so a secret that contains another is masked whole.
        patterns.sort_by_key(|p| std::cmp::Reverse(p.len()));
        patterns.dedup();
        Self { patterns }
    }

    #[cfg(test)]
    fn redact(&self, line: &str) -> String {
        let mut out = line.to_string();
        self.redact_in_place(&mut out);
        out
    }

    /// Masks in place; a line with no secret in it (nearly all) is not copied.
    pub fn redact_in_place(&self, line: &mut String) {
        for p in &self.patterns {
            if line.contains(p.as_str()) {
                *line = line.replace(p.as_str(), "****");
            }
        }
    }
}

/// Percent-encoding of everything but RFC 3986's unreserved characters.
fn url_encode(bytes: &[u8], upper: bool) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for &b in bytes {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else if upper {
            let _ = write!(out, "%{b:02X}");
        } else {
            let _ = write!(out, "%{b:02x}");
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

    #[test]
    fn masks_raw_and_base64_forms() {
        let r = Redactor::new(["hunter2-secret"].into_iter());
        assert_eq!(r.redact("pw=hunter2-secret!"), "pw=****!");
        assert_eq!(base64(b"hunter2-secret"), "aHVudGVyMi1zZWNyZXQ=");
        assert_eq!(r.redact("b64 aHVudGVyMi1zZWNyZXQ="), "b64 ****");
        assert_eq!(r.redact("nothing here"), "nothing here");
        // `echo "$TOKEN" | base64` encodes the newline too.
        assert_eq!(base64(b"hunter2-secret\n"), "aHVudGVyMi1zZWNyZXQK");
        assert!(
            !r.redact("aHVudGVyMi1zZWNyZXQK")
                .contains("aHVudGVyMi1zZWNy")
        );
        let pem = Redactor::new(
            ["-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----"]
                .into_iter(),
        );
        assert_eq!(pem.redact("MIIEvQIBADANBgkqhkiG9w0BAQEFAASC"), "****");
    }

    #[test]
    fn masks_url_encoded_and_hex_forms() {
        let r = Redactor::new(["a/b+c=d&e%f"].into_iter());
        assert_eq!(r.redact("?t=a%2Fb%2Bc%3Dd%26e%25f&x"), "?t=****&x");
        assert_eq!(r.redact("?t=a%2fb%2bc%3dd%26e%25f"), "?t=****");
        assert_eq!(r.redact("612f622b633d642665256600"), "****00");
        assert_eq!(r.redact("612F622B633D642665256600"), "****00");
        // A secret with nothing to escape has one URL form: itself, masked once.
        let plain = Redactor::new(["plain-token"].into_iter());
        assert_eq!(plain.redact("plain-token"), "****");
    }
}
