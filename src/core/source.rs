//! A source file's path and text, for pointing diagnostics at spans.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::diagnostic::Diagnostic;

#[derive(Debug, Clone)]
pub struct SourceFile {
    pub path: PathBuf,
    pub text: String,
}

impl SourceFile {
    pub fn new(path: impl Into<PathBuf>, text: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            text: text.into(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn at_span(&self, span: Range<usize>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(&self.path, &self.text, span, message)
    }

    pub fn at<T>(&self, item: &Spanned<T>, message: impl Into<String>) -> Diagnostic {
        self.at_span(item.span(), message)
    }

    /// 1-based line of a byte offset, for listings that point back into the file.
    pub fn line_of(&self, offset: usize) -> usize {
        let end = offset.min(self.text.len());
        self.text.as_bytes()[..end]
            .iter()
            .filter(|b| **b == b'\n')
            .count()
            + 1
    }
}
