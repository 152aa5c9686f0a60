//! Which files a workspace has, and how each is read: size-capped, UTF-8, parsed with
//! its errors at file:line:col.

use std::fs;
use std::path::Path;

use serde::de::DeserializeOwned;

use crate::core::diagnostic::{Diagnostic, Diagnostics};

pub const SETTINGS_FILE: &str = "pilote.toml";
pub const INVENTORY_FILE: &str = "inventory.toml";
pub const LIFECYCLES_FILE: &str = "lifecycles.toml";
pub const AUTOMATIONS_DIR: &str = "automations";

/// A config file larger than this is refused before parsing: config is typed by people.
pub(super) const MAX_CONFIG_BYTES: u64 = 4 * 1024 * 1024;

/// A diagnostic on line 1 at least (a span TOML gives for a whole-file value may have 0).
pub(crate) fn at_line(mut d: Diagnostic) -> Diagnostic {
    d.line = d.line.max(1);
    d
}

/// Reads one config file, or records why it cannot be read.
pub(super) fn read(dir: &Path, name: &str, diags: &mut Diagnostics) -> Option<String> {
    read_path(&dir.join(name), diags)
}

/// Reads a text file of at most `MAX_CONFIG_BYTES`, or records why it cannot be read.
pub fn read_path(path: &Path, diags: &mut Diagnostics) -> Option<String> {
    let path = path.to_path_buf();
    let result = fs::metadata(&path).and_then(|m| {
        if m.len() > MAX_CONFIG_BYTES {
            Err(std::io::Error::other(too_big(m.len())))
        } else {
            fs::read(&path)
        }
    });
    match result {
        Ok(bytes) => text_of(&path, bytes, diags),
        Err(e) => {
            let message = match e.kind() {
                std::io::ErrorKind::NotFound => "file is missing".to_string(),
                _ => format!("cannot read file: {e}"),
            };
            diags.push(Diagnostic::file_error(&path, message));
            None
        }
    }
}

pub(super) fn too_big(len: u64) -> String {
    format!("file is {len} bytes, more than the {MAX_CONFIG_BYTES} a config file may have")
}

/// The text of a file's `bytes` (read from `path`, or handed over), or why it is none.
pub fn text_of(path: &Path, bytes: Vec<u8>, diags: &mut Diagnostics) -> Option<String> {
    if bytes.len() as u64 > MAX_CONFIG_BYTES {
        diags.push(Diagnostic::file_error(path, too_big(bytes.len() as u64)));
        return None;
    }
    match String::from_utf8(bytes) {
        Ok(text) => Some(text),
        Err(e) => {
            let offset = e.utf8_error().valid_up_to();
            let text = String::from_utf8_lossy(e.as_bytes()).into_owned();
            diags.push(
                Diagnostic::at(path, &text, offset..offset + 1, "file is not valid UTF-8")
                    .expected("a UTF-8 text file"),
            );
            None
        }
    }
}

pub(crate) fn parse<T: DeserializeOwned>(
    path: &Path,
    text: Option<&str>,
    diags: &mut Diagnostics,
) -> Option<T> {
    let text = text?;
    match toml::from_str(text) {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(Diagnostic::from_toml(path, text, &e));
            None
        }
    }
}
