//! Where each key and array element of a JSON document is, by path.
//!
//! serde_json gives positions for syntax and type errors only; a cross-reference problem
//! (an env naming an unknown host) is found later, on the typed document. The index built
//! here maps a path like `envs.uat.apps.pets.war[1]` back to byte offsets in the text, so
//! those problems point at the offending key too. It also notices keys given twice in one
//! object, which serde would let the last one win silently.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::ops::Range;

/// serde_json refuses deeper documents; past this the index stops rather than recurse on.
const MAX_DEPTH: usize = 256;

/// One step into a JSON document.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into a JSON document: `envs.uat.apps.pets.war[1]`; a key that is not a plain
/// word is quoted (`hosts."db.example.com"`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Path(pub Vec<Seg>);

impl Path {
    pub fn key(&self, k: &str) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Key(k.to_string()));
        p
    }

    pub fn index(&self, i: usize) -> Self {
        let mut p = self.clone();
        p.0.push(Seg::Index(i));
        p
    }
}

/// `Path::default().key("envs").key("uat")`, shorter.
pub fn path<const N: usize>(keys: [&str; N]) -> Path {
    Path(keys.iter().map(|k| Seg::Key((*k).to_string())).collect())
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    if i > 0 {
                        f.write_str(".")?;
                    }
                    let plain = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if plain {
                        f.write_str(k)?;
                    } else {
                        write!(f, "{}", serde_json::Value::String(k.clone()))?;
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Byte spans of the keys and values of a JSON text, by path.
#[derive(Debug, Default)]
pub struct Locator {
    /// The key of an object member, quotes included.
    keys: HashMap<Path, Range<usize>>,
    /// The value at a path (an array element, or a member's value).
    values: HashMap<Path, Range<usize>>,
    /// Keys seen again in the same object: the path and the second key's span.
    pub duplicates: Vec<(Path, Range<usize>)>,
}

impl Locator {
    /// Indexes `text`; a syntax error stops the index where it is (serde_json reports it).
    pub fn index(text: &str) -> Self {
        let mut s = Scanner {
            b: text.as_bytes(),
            text,
            pos: 0,
            out: Self::default(),
        };
        s.skip_ws();
        let _ = s.value(&mut Path::default(), 0);
        s.out
    }

    /// The span to point at for `path`: its key when it is an object member, else its value.
    pub fn span(&self, path: &Path) -> Option<Range<usize>> {
        self.keys
            .get(path)
            .or_else(|| self.values.get(path))
            .cloned()
    }

    /// The shortest value span ending at byte `end`: the value serde_json stopped on.
    pub fn innermost_ending_at(&self, end: usize) -> Option<Range<usize>> {
        self.values
            .values()
            .filter(|s| s.end == end)
            .min_by_key(|s| s.len())
            .cloned()
    }

    /// The span of the value at `path`.
    pub fn value_span(&self, path: &Path) -> Option<Range<usize>> {
        self.values.get(path).cloned()
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    text: &'a str,
    pos: usize,
    out: Locator,
}

impl Scanner<'_> {
    fn skip_ws(&mut self) {
        while self
            .b
            .get(self.pos)
            .is_some_and(|c| matches!(c, b' ' | b'\t' | b'\n' | b'\r'))
        {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// One value starting at `pos` (whitespace skipped), recorded at `path`.
    fn value(&mut self, path: &mut Path, depth: usize) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        let start = self.pos;
        match self.peek()? {
            b'{' => self.object(path, depth)?,
            b'[' => self.array(path, depth)?,
            b'"' => {
                self.string()?;
            }
            _ => {
                // A number or a literal: up to the next delimiter.
                while self.peek().is_some_and(|c| {
                    !matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                }) {
                    self.pos += 1;
                }
                if self.pos == start {
                    return None;
                }
            }
        }
        self.out.values.insert(path.clone(), start..self.pos);
        Some(())
    }

    fn object(&mut self, path: &mut Path, depth: usize) -> Option<()> {
        self.pos += 1;
        let mut seen = HashSet::new();
        self.skip_ws();
        if self.peek()? == b'}' {
            self.pos += 1;
            return Some(());
        }
        loop {
            self.skip_ws();
            let key_start = self.pos;
            let key = self.string()?;
            let key_span = key_start..self.pos;
            path.0.push(Seg::Key(key.clone()));
            if seen.insert(key) {
                self.out.keys.insert(path.clone(), key_span);
            } else {
                self.out.duplicates.push((path.clone(), key_span));
            }
            self.skip_ws();
            if self.peek()? != b':' {
                return None;
            }
            self.pos += 1;
            self.skip_ws();
            let r = self.value(path, depth + 1);
            path.0.pop();
            r?;
            self.skip_ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b'}' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn array(&mut self, path: &mut Path, depth: usize) -> Option<()> {
        self.pos += 1;
        self.skip_ws();
        if self.peek()? == b']' {
            self.pos += 1;
            return Some(());
        }
        let mut i = 0;
        loop {
            self.skip_ws();
            path.0.push(Seg::Index(i));
            let r = self.value(path, depth + 1);
            path.0.pop();
            r?;
            i += 1;
            self.skip_ws();
            match self.peek()? {
                b',' => self.pos += 1,
                b']' => {
                    self.pos += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// A string at `pos`, decoded by serde_json (escapes, surrogate pairs); `pos` ends after it.
    fn string(&mut self) -> Option<String> {
        if self.peek()? != b'"' {
            return None;
        }
        let start = self.pos;
        self.pos += 1;
        loop {
            match self.peek()? {
                b'\\' => self.pos += 2,
                b'"' => {
                    self.pos += 1;
                    break;
                }
                _ => self.pos += 1,
            }
        }
        serde_json::from_str(self.text.get(start..self.pos)?).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{
  "envs": {
    "uat": { "apps": { "pets": { "war": ["a", "b\"c"] } } }
  },
  "hosts": { "db.example.com": {}, "x\u0041": 1, "xA": 2 }
}"#;

    fn at(span: Range<usize>) -> &'static str {
        &DOC[span]
    }

    #[test]
    fn paths_lead_to_keys_and_elements() {
        let l = Locator::index(DOC);
        let war = path(["envs", "uat", "apps", "pets", "war"]);
        assert_eq!(at(l.span(&war).expect("war")), "\"war\"");
        assert_eq!(at(l.span(&war.index(1)).expect("[1]")), r#""b\"c""#);
        assert_eq!(war.index(1).to_string(), "envs.uat.apps.pets.war[1]");
        let host = path(["hosts", "db.example.com"]);
        assert_eq!(at(l.span(&host).expect("host")), "\"db.example.com\"");
        assert_eq!(host.to_string(), "hosts.\"db.example.com\"");
        assert_eq!(at(l.value_span(&host).expect("value")), "{}");
        assert!(l.span(&path(["hosts", "nope"])).is_none());
    }

    #[test]
    fn a_key_given_twice_is_noticed_even_when_spelt_otherwise() {
        let l = Locator::index(DOC);
        assert_eq!(l.duplicates.len(), 1);
        let (p, span) = &l.duplicates[0];
        assert_eq!(p.to_string(), "hosts.xA");
        assert_eq!(at(span.clone()), "\"xA\"");
    }

    #[test]
    fn broken_or_hostile_text_never_panics() {
        for text in [
            "",
            "{",
            "{\"a\"",
            "{\"a\":",
            "[1,",
            "\"\\",
            "{\"a\" 1}",
            "[[[[",
            "\u{e9}",
            "{\"\\u12",
        ] {
            let _ = Locator::index(text);
        }
        let deep = "[".repeat(10_000);
        let _ = Locator::index(&deep);
    }
}
