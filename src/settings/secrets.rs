//! Secret files: read as the runner reads them, and checked by `pilote config check` where
//! the config names them.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use super::workspace::Workspace;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::value::{ParamType, SecretRef, Value, unusable_secret};

/// A secret file's value: its text without the newlines it ends with (an editor's, `echo`'s).
pub fn read_secret_file(path: &Path) -> std::io::Result<String> {
    Ok(std::fs::read_to_string(path)?
        .trim_end_matches('\n')
        .to_string())
}

/// More than this is long enough whatever it ends with, and a check reads no more.
const CHECKED_BYTES: u64 = 4096;

/// The secrets the config takes from a file (an automation's default, a var of an environment
/// or of the workspace named after a secret parameter) that a run would refuse: empty, or too
/// short to be masked. Only a regular file this process can read is looked at (the runner may
/// read it as another account: it checks again when a run starts); the value is never shown.
/// A plan's own secrets are checked when its run starts.
pub fn check_files(ws: &Workspace) -> Diagnostics {
    let mut found: Vec<(PathBuf, String, String)> = Vec::new();
    let mut secret_params = Vec::new();
    for a in &ws.catalog.automations {
        let file = a
            .defined_at
            .rsplit_once(':')
            .map_or(a.defined_at.as_str(), |(f, _)| f);
        for p in a.params.iter().filter(|p| p.ty == ParamType::Secret) {
            secret_params.push(p.name.as_str());
            if let Some(Value::Secret(SecretRef::File(path))) = &p.default {
                found.push((file.into(), p.name.clone(), path.clone()));
            }
        }
    }
    let vars = ws
        .inventory
        .envs
        .iter()
        .map(|e| (super::INVENTORY_FILE, &e.vars))
        .chain([(super::SETTINGS_FILE, &ws.settings.vars)]);
    for (file, vars) in vars {
        for (name, v) in vars
            .iter()
            .filter(|(n, _)| secret_params.contains(&n.as_str()))
        {
            if let Some(path) = v.get("file").and_then(toml::Value::as_str) {
                found.push((ws.config_dir.join(file), name.clone(), path.to_string()));
            }
        }
    }
    let mut diags = Diagnostics::default();
    for (file, name, path) in found {
        let Some(value) = readable(Path::new(&path)) else {
            continue;
        };
        if let Some(why) = unusable_secret(&name, &path, &value) {
            diags.push(Diagnostic::file_error(&file, why));
        }
    }
    diags
}

/// The value of the secret file at `path` as far as a check needs it, if it is a regular
/// file this process can read (never a FIFO, which would block).
fn readable(path: &Path) -> Option<String> {
    if !std::fs::metadata(path).is_ok_and(|m| m.is_file()) {
        return None;
    }
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .ok()?
        .take(CHECKED_BYTES)
        .read_to_end(&mut bytes)
        .ok()?;
    Some(
        String::from_utf8_lossy(&bytes)
            .trim_end_matches('\n')
            .to_string(),
    )
}
