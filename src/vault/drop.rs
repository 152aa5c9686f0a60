//! The drop directory (`<data dir>/drop/`): a package placed there as `APP-VERSION` (a
//! directory, a file, or a `.tar`/`.tar.gz`/`.tgz`/`.zip`) is imported into the vault once nothing
//! in it has changed for a while, then moved to `drop/imported/`; copy it under a dot-name or
//! with a `.part` suffix and rename it when complete, so a stalled copy is never taken. One that cannot be
//! imported is moved to `drop/rejected/` with a `.reason` file beside it: never half-imported,
//! never retried in a loop. Sweeps of several processes take turns (a lock file).

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;

use super::{ImportError, Vault, archive, package_digest};
use crate::identity::Actor;
use crate::settings::Workspace;
use crate::store::{Imported, Store};

/// What a sweep did with each entry.
#[derive(Debug, Default, Serialize)]
pub struct Swept {
    /// (entry, app, version, package digest): new in the vault, or already there unchanged.
    pub imported: Vec<(String, String, String, String)>,
    /// Entries still changing: left for a later sweep.
    pub waiting: Vec<String>,
    /// (entry, reason): moved to `drop/rejected/`.
    pub rejected: Vec<(String, String)>,
    /// (entry, what was full): the disk had no room for it, so it stays in the drop dir for
    /// a sweep once there is room; nothing is wrong with the package as far as is known.
    pub no_space: Vec<(String, String)>,
}

pub fn dir(ws: &Workspace) -> PathBuf {
    ws.settings.drop_dir.clone()
}

/// Imports what is ready in the drop directory. `settle`: how long an entry must have been
/// left untouched (its newest file's modification time) before it is taken.
pub fn sweep(ws: &Workspace, store: &mut Store, settle: Duration) -> Result<Swept, String> {
    let drop = dir(ws);
    fs::create_dir_all(&drop).map_err(|e| format!("cannot create {}: {e}", drop.display()))?;
    let lock = fs::File::create(drop.join(".sweep.lock"))
        .map_err(|e| format!("cannot lock {}: {e}", drop.display()))?;
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive)
        .map_err(|e| format!("cannot lock {}: {e}", drop.display()))?;
    let vault = Vault::open(&ws.data_dir).map_err(|e| format!("cannot open the vault: {e}"))?;
    let mut entries: Vec<(String, PathBuf)> = fs::read_dir(&drop)
        .map_err(|e| format!("cannot read {}: {e}", drop.display()))?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.to_string(), e.path())))
        // Uploads in progress: a dot-name or a `.part`/`.tmp` suffix, renamed when complete.
        .filter(|(name, _)| {
            !name.starts_with('.')
                && !name.ends_with(".part")
                && !name.ends_with(".tmp")
                && name != "imported"
                && name != "rejected"
                && !dealt_with(name)
        })
        .collect();
    entries.sort();
    let mut out = Swept::default();
    let now = SystemTime::now();
    for (name, path) in entries {
        if newest_change(&path).is_some_and(|t| now.duration_since(t).unwrap_or_default() < settle)
        {
            out.waiting.push(name);
            continue;
        }
        match import_one(ws, store, &vault, &name, &path) {
            Ok((app, version, digest)) => {
                move_aside(&drop.join("imported"), &name, &path)?;
                out.imported.push((name, app, version, digest));
            }
            // The store could not take it now (busy, disk full): the drop stays for the next
            // sweep, whatever the package is worth.
            Err(Failure::Store(why)) => out.waiting.push(format!("{name} ({why})")),
            // No room to copy it in: not the package's fault, and no reason to reject it.
            Err(Failure::NoSpace(why)) => out.no_space.push((name, why)),
            Err(Failure::Bad(why)) => {
                let at = move_aside(&drop.join("rejected"), &name, &path)?;
                let reason = at.with_file_name(format!(
                    "{}.reason",
                    at.file_name().and_then(|n| n.to_str()).unwrap_or(&name)
                ));
                let _ = fs::write(&reason, format!("{why}\n"));
                out.rejected.push((name, why));
            }
        }
    }
    Ok(out)
}

/// Why a drop was not imported: something wrong with it, with the store right now, or no
/// room on the disk.
enum Failure {
    Bad(String),
    Store(String),
    NoSpace(String),
}

fn import_one(
    ws: &Workspace,
    store: &mut Store,
    vault: &Vault,
    name: &str,
    path: &Path,
) -> Result<(String, String, String), Failure> {
    let (app, version) = app_and_version(ws, archive::stem(name)).map_err(Failure::Bad)?;
    let artifacts = vault.import(path).map_err(|e| match e {
        ImportError::Refused(why) => Failure::Bad(why),
        ImportError::NoSpace(why) => Failure::NoSpace(why),
    })?;
    let digest = package_digest(&artifacts);
    match store
        .import_package(&app, &version, &digest, &artifacts, &Actor::current())
        .map_err(|e| Failure::Store(e.to_string()))?
    {
        Imported::New | Imported::Unchanged => Ok((app, version, digest)),
        Imported::Duplicate(a, v) => Err(Failure::Bad(format!(
            "this content is already in the vault as {a} {v} (package sha256 {digest})"
        ))),
        Imported::Conflict(existing) => Err(Failure::Bad(format!(
            "{app} {version} is already in the vault with another content (package sha256 {existing}, this one {digest}); a version never changes"
        ))),
    }
}

/// `pets-1.4.0` → (`pets`, `1.4.0`), the app being one of the inventory's (the longest that
/// fits, so `pets-batch-2.0` is app `pets-batch` when there is one).
fn app_and_version(ws: &Workspace, stem: &str) -> Result<(String, String), String> {
    let app = ws
        .inventory
        .apps
        .iter()
        .filter(|a| stem.starts_with(&format!("{}-", a.name)))
        .max_by_key(|a| a.name.len())
        .ok_or_else(|| {
            let apps: Vec<&str> = ws.inventory.apps.iter().map(|a| a.name.as_str()).collect();
            format!(
                "`{stem}` is not named APP-VERSION with APP one of: {}",
                apps.join(", ")
            )
        })?;
    let version = &stem[app.name.len() + 1..];
    if !super::is_version(version) {
        return Err(format!(
            "`{version}` is not a version (letters, digits, `.`, `_`, `-` or `+`, at most 64)"
        ));
    }
    Ok((app.name.clone(), version.to_string()))
}

/// The latest modification time of anything in `path`.
fn newest_change(path: &Path) -> Option<SystemTime> {
    let meta = fs::symlink_metadata(path).ok()?;
    let mut newest = meta.modified().ok()?;
    if meta.is_dir() {
        for e in fs::read_dir(path).ok()?.filter_map(Result::ok) {
            if let Some(t) = newest_change(&e.path()) {
                newest = newest.max(t);
            }
        }
    }
    Some(newest)
}

/// Moves an entry into `into/`, under a new name if that one is taken; returns where.
fn move_aside(into: &Path, name: &str, path: &Path) -> Result<PathBuf, String> {
    fs::create_dir_all(into).map_err(|e| format!("cannot create {}: {e}", into.display()))?;
    let mut target = into.join(name);
    let mut n = 1;
    while target.exists() {
        n += 1;
        target = into.join(format!("{name}.{n}"));
    }
    match fs::rename(path, &target) {
        Ok(()) => Ok(target),
        // A directory someone else dropped (a team member's, in a team's drop dir) cannot
        // change parent without write permission on it; renamed where it is, it is just as
        // done with, and the sweep passes over it.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && path.is_dir() => {
            let kind = into.file_name().and_then(|k| k.to_str()).unwrap_or("done");
            let parent = path.parent().unwrap_or(Path::new("."));
            let mut beside = parent.join(format!("{name}.{kind}"));
            let mut n = 1;
            while beside.exists() {
                n += 1;
                beside = parent.join(format!("{name}.{kind}.{n}"));
            }
            fs::rename(path, &beside)
                .map_err(|e| format!("cannot move {} aside: {e}", path.display()))?;
            Ok(beside)
        }
        Err(e) => Err(format!(
            "cannot move {} to {}: {e}",
            path.display(),
            target.display()
        )),
    }
}

/// Whether a drop-dir entry is one a sweep already dealt with (moved aside in place) or its
/// reason file.
fn dealt_with(name: &str) -> bool {
    [".imported", ".rejected", ".reason"]
        .iter()
        .any(|s| name.ends_with(s) || name.contains(&format!("{s}.")))
}

/// Sweeps every `every` in a thread of its own, for as long as the process lives (the
/// console): problems go to the log file, never to the screen.
pub fn sweep_periodically(ws: Workspace, every: Duration) {
    let spawned = std::thread::Builder::new()
        .name("drop-sweeper".into())
        .spawn(move || {
            loop {
                let result = Store::open(
                    &ws.data_dir,
                    &ws.config_dir,
                    Duration::from_millis(ws.settings.busy_timeout_ms),
                )
                .map_err(|e| e.to_string())
                .and_then(|mut store| sweep(&ws, &mut store, Duration::from_secs(10)));
                match result {
                    Ok(s) => {
                        for (name, app, version, _) in &s.imported {
                            tracing::info!("drop: imported {name} as {app} {version}");
                        }
                        for (name, why) in &s.rejected {
                            tracing::warn!("drop: rejected {name}: {why}");
                        }
                    }
                    Err(e) => tracing::warn!("drop: sweep failed: {e}"),
                }
                std::thread::sleep(every);
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("drop: cannot start the sweeper: {e}");
    }
}
