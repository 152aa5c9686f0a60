//! Why an import into the vault was refused.

use std::io;

/// Why a package was not stored.
#[derive(Debug)]
pub enum ImportError {
    /// Something about the package itself (a link, a `..`, too many entries): whoever made
    /// it must change it.
    Refused(String),
    /// No room on the disk (or over quota): the package may be fine, and is worth trying
    /// again once there is room.
    NoSpace(String),
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(why) => f.write_str(why),
            Self::NoSpace(why) => write!(f, "the disk is full: {why}"),
        }
    }
}

impl From<String> for ImportError {
    fn from(why: String) -> Self {
        Self::Refused(why)
    }
}

impl ImportError {
    /// `e`, met doing `what`: a full disk, or a refusal.
    pub(crate) fn io(what: impl std::fmt::Display, e: &io::Error) -> Self {
        Self::of(format!("{what}: {e}"), e)
    }

    /// `text`, about `e`: a full disk, or a refusal.
    pub(super) fn of(text: String, e: &io::Error) -> Self {
        if crate::store::is_no_space(e) {
            Self::NoSpace(text)
        } else {
            Self::Refused(text)
        }
    }
}
