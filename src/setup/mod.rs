//! Creating workspaces on disk: `pilote init` from the shipped template, and the pets demo.
//!
//! A workspace is written into a temporary sibling dir and renamed into place, so an
//! interrupted or failed init never leaves a half-written workspace behind.

use std::fs;
use std::path::{Path, PathBuf};

use crate::assets::{DEFAULT_WORKSPACE, DEMO_RELEASE, DEMO_WORKSPACE, Embedded};
use crate::error::{Error, Result};
use crate::settings::{AUTOMATIONS_DIR, SETTINGS_FILE};

/// Marks a config dir as the demo's, so `pilote demo --reset` never deletes a real workspace.
pub const DEMO_MARKER: &str = ".pilote-demo";

/// Writes a new workspace from the shipped template into `dir`, named `name` (default: the
/// dir's own name).
pub fn init_workspace(dir: &Path, name: Option<&str>) -> Result<String> {
    let explicit = name.is_some();
    let name = match name {
        Some(n) => n.to_string(),
        None => name_from_dir(dir),
    };
    if !crate::core::automation::is_name(&name) {
        return Err(Error::BadInput(format!(
            "invalid workspace name {name:?}: use lowercase letters, digits, `-` or `_`, starting with a letter or digit{}",
            if explicit { "" } else { " (pass --name NAME)" }
        )));
    }
    // Two workspaces of one name would share the default data dir; say so now, not later.
    if let Ok(root) = crate::settings::default_data_root() {
        let data = root.join("workspaces").join(&name);
        if data.join(crate::store::DB_FILE).exists() {
            return Err(Error::BadInput(format!(
                "a workspace named `{name}` already keeps its data in {}; choose another with --name NAME",
                data.display()
            )));
        }
    }
    let files: Vec<(String, Vec<u8>)> = DEFAULT_WORKSPACE
        .iter()
        .map(|(path, bytes)| {
            let bytes = if *path == SETTINGS_FILE {
                String::from_utf8_lossy(bytes)
                    .replace("name = \"default\"", &format!("name = \"{name}\""))
                    .into_bytes()
            } else {
                bytes.to_vec()
            };
            (path.to_string(), bytes)
        })
        .collect();
    write_atomically(dir, &files)?;
    Ok(name)
}

/// Writes the pets demo workspace's config into `dir`.
pub fn write_demo_config(dir: &Path, data_inside: bool) -> Result<()> {
    let mut files = owned(DEMO_WORKSPACE);
    if data_inside {
        for (path, bytes) in &mut files {
            if path == SETTINGS_FILE {
                let text = String::from_utf8_lossy(bytes).replace(
                    "name = \"demo\"\n",
                    "name = \"demo\"\n# Kept beside the config: this demo is not in the default place.\ndata_dir = \"data\"\n",
                );
                *bytes = text.into_bytes();
            }
        }
    }
    files.push((
        DEMO_MARKER.to_string(),
        b"This workspace was created by `pilote demo`; `pilote demo --reset` may delete it.\n"
            .to_vec(),
    ));
    write_atomically(dir, &files)
}

/// What `pilote demo` and the runs it starts create in a data dir; `--reset` deletes these
/// and nothing else, so a data dir pointed elsewhere by mistake loses nothing.
const DEMO_DATA: &[&str] = &[
    "pilote.db",
    "pilote.db-wal",
    "pilote.db-shm",
    "pilote.lock",
    "sandbox",
    "drop",
    "spool",
];

/// Deletes the demo's data, after checking the store there belongs to this demo.
pub fn clear_demo_data(ws: &crate::settings::Workspace) -> Result<()> {
    let dir = &ws.data_dir;
    if dir.join(crate::store::DB_FILE).exists() {
        // Opening refuses a store that belongs to another workspace.
        drop(crate::store::Store::open(
            dir,
            &ws.config_dir,
            std::time::Duration::from_secs(5),
        )?);
    } else {
        return Ok(());
    }
    for name in DEMO_DATA {
        let path = dir.join(name);
        let result = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(format!("cannot delete {}", path.display()))(e)),
        }
    }
    let _ = fs::remove_dir(dir);
    Ok(())
}

/// Whether `dir` holds a demo workspace created by `pilote demo`.
pub fn is_demo(dir: &Path) -> bool {
    dir.join(DEMO_MARKER).is_file()
}

/// Whether `dir` is missing or empty, i.e. free for a new workspace.
pub fn is_free(dir: &Path) -> Result<bool> {
    match fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(Error::io(format!("cannot read {}", dir.display()))(e)),
    }
}

/// The pets 1.4.0 release files, for the demo's drop folder.
pub fn demo_release() -> Vec<(String, Vec<u8>)> {
    owned(DEMO_RELEASE)
}

fn owned(list: &[Embedded]) -> Vec<(String, Vec<u8>)> {
    list.iter()
        .map(|(p, b)| (p.to_string(), b.to_vec()))
        .collect()
}

fn name_from_dir(dir: &Path) -> String {
    // `pilote init .` has no file name until made absolute; a missing dir is used as given.
    let abs = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    let base = abs
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let name: String = base
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.trim_matches('-').to_string()
}

/// Writes `files` under a temporary sibling of `dir`, then renames it to `dir`.
///
/// `dir` must be missing or empty: an existing workspace is never overwritten.
pub fn write_atomically(dir: &Path, files: &[(String, Vec<u8>)]) -> Result<()> {
    if !is_free(dir)? {
        let what = if dir.join(SETTINGS_FILE).exists() {
            "a workspace already exists there"
        } else {
            "the directory is not empty"
        };
        return Err(Error::BadInput(format!(
            "cannot create a workspace in {}: {what}",
            dir.display()
        )));
    }
    let parent = match dir.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| bad_dir(&parent, e))?;
    let leaf = dir
        .file_name()
        .map_or_else(|| "workspace".into(), |n| n.to_string_lossy().into_owned());
    let tmp = parent.join(format!(".{leaf}.tmp-{}", std::process::id()));
    let result = (|| {
        fs::create_dir(&tmp).map_err(|e| bad_dir(&parent, e))?;
        fs::create_dir(tmp.join(AUTOMATIONS_DIR)).map_err(|e| bad_dir(&tmp, e))?;
        for (rel, bytes) in files {
            let path = tmp.join(rel);
            if let Some(p) = path.parent() {
                fs::create_dir_all(p).map_err(|e| bad_dir(p, e))?;
            }
            fs::write(&path, bytes)
                .map_err(Error::io(format!("cannot write {}", path.display())))?;
        }
        // An empty target dir is replaced by rename(2); a missing one is created by it.
        fs::rename(&tmp, dir).map_err(|e| bad_dir(dir, e))
    })();
    if result.is_err() {
        let _ = fs::remove_dir_all(&tmp);
    }
    result
}

fn bad_dir(dir: &Path, e: std::io::Error) -> Error {
    Error::BadInput(format!("cannot write to {}: {e}", dir.display()))
}
pub mod team;
