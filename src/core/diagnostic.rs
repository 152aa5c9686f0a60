//! Errors and warnings about input files, pointing at file:line:col.
//!
//! Every config or plan problem becomes a [`Diagnostic`]; loaders collect all of them before
//! failing, so a person fixes a file in one pass instead of one error per run.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// How bad a diagnostic is: errors stop the load, warnings are shown and let it go on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in one file, with the position of the offending text.
#[derive(Debug, Clone, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    pub file: PathBuf,
    /// 1-based line; 0 when the problem is about the whole file (missing, unreadable).
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    pub message: String,
    /// What would have been accepted, when it can be said in a few words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expected: Option<String>,
    /// The source line and a caret under the offending text, for the human rendering.
    #[serde(skip)]
    snippet: Option<Snippet>,
}

#[derive(Debug, Clone)]
struct Snippet {
    text: String,
    caret_col: usize,
    caret_len: usize,
}

impl Diagnostic {
    /// A problem about a whole file (it is missing, unreadable, not UTF-8).
    pub fn file_error(file: &Path, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line: 0,
            col: 0,
            message: message.into(),
            expected: None,
            snippet: None,
        }
    }

    /// A problem at a byte span of `source`, the text of `file`.
    pub fn at(file: &Path, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        let (line, col, snippet) = locate(source, span);
        Self {
            severity: Severity::Error,
            file: file.to_path_buf(),
            line,
            col,
            message: message.into(),
            expected: None,
            snippet: Some(snippet),
        }
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }

    /// Drops the source line from the human rendering, for a value that is a secret (a
    /// webhook URL): the position is enough to find it, and the terminal may be recorded.
    pub fn without_snippet(mut self) -> Self {
        self.snippet = None;
        self
    }

    pub fn warning(mut self) -> Self {
        self.severity = Severity::Warning;
        self
    }

    /// Turns a TOML syntax or type error into a diagnostic at the position the parser reports.
    pub fn from_toml(file: &Path, source: &str, err: &toml::de::Error) -> Self {
        // The parser's message may already say "expected ...": keep it whole, it is precise.
        let message = err.message().trim_end().to_string();
        match err.span() {
            Some(span) => Self::at(file, source, span, message),
            None => Self::file_error(file, message),
        }
    }

    /// `file:line:col: message` on one line, for a header or a warning line.
    pub fn headline(&self) -> String {
        let message = self.message.lines().next().unwrap_or_default();
        if self.line == 0 {
            format!("{}: {message}", self.file.display())
        } else {
            format!(
                "{}:{}:{}: {message}",
                self.file.display(),
                self.line,
                self.col
            )
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Finds the 1-based line and character column of a byte offset, and the line's text.
fn locate(source: &str, span: Range<usize>) -> (usize, usize, Snippet) {
    let start = floor_char_boundary(source, span.start.min(source.len()));
    let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = source[start..]
        .find('\n')
        .map_or(source.len(), |i| start + i);
    let line = source[..start].matches('\n').count() + 1;
    let col = source[line_start..start].chars().count() + 1;
    let end = floor_char_boundary(source, span.end.clamp(start, line_end));
    let caret_len = source[start..end].chars().count().max(1);
    let text = source[line_start..line_end]
        .trim_end_matches('\r')
        .to_string();
    (
        line,
        col,
        Snippet {
            text,
            caret_col: col,
            caret_len,
        },
    )
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        // A message quoting hostile input (a 50 kB name) is cut: the snippet shows where. The
        // longest true ones (serde's "expected one of" every console action) are ~700.
        let message = match self.message.char_indices().nth(2000) {
            Some((i, _)) => format!("{}…", &self.message[..i]),
            None => self.message.clone(),
        };
        if self.line == 0 {
            write!(f, "{label}: {}: {message}", self.file.display())?;
        } else {
            write!(
                f,
                "{label}: {}:{}:{}: {message}",
                self.file.display(),
                self.line,
                self.col,
            )?;
        }
        if let Some(snippet) = &self.snippet {
            let gutter = self.line.to_string().len();
            // Control characters (a tab, binary garbage) would shift or corrupt the caret line.
            let mut text: String = snippet
                .text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            // A very long line (minified or hostile input) is shown as a window around the caret.
            let mut caret_col = snippet.caret_col;
            let len = text.chars().count();
            if len > 160 {
                let start = caret_col.saturating_sub(60);
                let window: String = text.chars().skip(start).take(120).collect();
                let head = if start > 0 { "…" } else { "" };
                let tail = if start + 120 < len { "…" } else { "" };
                caret_col = caret_col - start + head.chars().count();
                text = format!("{head}{window}{tail}");
            }
            write!(
                f,
                "\n{:gutter$} |\n{} | {}\n{:gutter$} | {}{}",
                "",
                self.line,
                text,
                "",
                " ".repeat(caret_col.saturating_sub(1)),
                "^".repeat(snippet.caret_len.min(120)),
            )?;
        }
        if let Some(expected) = &self.expected {
            write!(f, "\n  = expected {expected}")?;
        }
        Ok(())
    }
}

/// All the diagnostics of one load, errors first in file order.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(transparent)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    pub fn push(&mut self, d: Diagnostic) {
        self.0.push(d);
    }

    pub fn has_errors(&self) -> bool {
        self.0.iter().any(Diagnostic::is_error)
    }

    pub fn error_count(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }

    pub fn warning_count(&self) -> usize {
        self.0.len() - self.error_count()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}\n")?;
        }
        let (errors, warnings) = (self.error_count(), self.warning_count());
        write!(
            f,
            "{errors} error{}, {warnings} warning{}",
            plural(errors),
            plural(warnings)
        )
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locates_line_and_column_in_characters() {
        let src = "a = 1\nnom = \"été\" x\n";
        let start = src.find('x').expect("x in source");
        let d = Diagnostic::at(Path::new("f.toml"), src, start..start + 1, "bad");
        assert_eq!((d.line, d.col), (2, 13));
        assert_eq!(
            d.to_string(),
            "error: f.toml:2:13: bad\n  |\n2 | nom = \"été\" x\n  |             ^"
        );
    }

    #[test]
    fn span_past_the_end_does_not_panic() {
        let d = Diagnostic::at(Path::new("f"), "ab", 10..20, "eof");
        assert_eq!((d.line, d.col), (1, 3));
    }
}
