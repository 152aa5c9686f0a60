//! `pilote vault`: import, list, show and verify packages.

use serde_json::json;

use super::VaultCommand;
use crate::core::automation::is_name;
use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::settings::Workspace;
use crate::store::{Imported, PackageRow, Store};
use crate::table;
use crate::vault::{ImportError, Vault, package_digest};

pub fn vault(ws: &Workspace, mut store: Store, command: VaultCommand) -> Result<()> {
    match command {
        VaultCommand::Import { path, app, version } => {
            import(ws, &mut store, &path, &app, &version)
        }
        VaultCommand::List { app, json } => list(&store, app.as_deref(), json),
        VaultCommand::Show { app, version, json } => show(&store, &app, &version, json),
        VaultCommand::Sweep { settle, json } => sweep(ws, &mut store, settle, json),
        VaultCommand::Verify { app, version, json } => {
            verify(ws, &store, app.as_deref(), version.as_deref(), json)
        }
    }
}

fn open_vault(ws: &Workspace) -> Result<Vault> {
    Vault::open(&ws.data_dir).map_err(Error::io(format!(
        "cannot open the vault in {}",
        ws.data_dir.display()
    )))
}

fn import(
    ws: &Workspace,
    store: &mut Store,
    path: &std::path::Path,
    app: &str,
    version: &str,
) -> Result<()> {
    if ws.settings.team.is_some() {
        // The service account would read PATH with its own rights, the store's among them.
        return Err(Error::BadInput(format!(
            "a team's vault takes releases from its drop dir: copy {} into {} (under a dot-name, \
             then rename it `{app}-{version}`), then `pilote vault sweep`",
            path.display(),
            ws.settings.drop_dir.display()
        )));
    }
    if ws.inventory.apps.iter().all(|a| a.name != app) {
        let known: Vec<&str> = ws.inventory.apps.iter().map(|a| a.name.as_str()).collect();
        return Err(Error::BadInput(format!(
            "no app `{app}` in the inventory; expected one of {}",
            known.join(", ")
        )));
    }
    if !crate::vault::is_version(version) {
        return Err(Error::BadInput(format!(
            "`{version}` is not a version; expected letters, digits, `.`, `_`, `-` or `+` (at most 64)"
        )));
    }
    debug_assert!(is_name(app));
    let vault = open_vault(ws)?;
    let artifacts = vault.import(path).map_err(|e| match e {
        ImportError::Refused(why) => {
            Error::BadInput(format!("cannot import {}: {why}", path.display()))
        }
        // Not the package's fault: exit 1, as any operation that could not be done.
        ImportError::NoSpace(why) => disk_full(
            format!("cannot import {}: the disk is full", path.display()),
            why,
        ),
    })?;
    let digest = package_digest(&artifacts);
    match store.import_package(app, version, &digest, &artifacts, &Actor::current())? {
        Imported::New => {
            outln!(
                "imported {app} {version}: {} artifact(s), package sha256 {digest}",
                artifacts.len()
            );
            Ok(())
        }
        Imported::Unchanged => {
            outln!(
                "{app} {version} is already in the vault with this content (package sha256 {digest})"
            );
            Ok(())
        }
        Imported::Duplicate(a, v) => Err(Error::BadInput(format!(
            "this content is already in the vault as {a} {v} (package sha256 {digest}); \
             its blobs were checked and repaired where needed"
        ))),
        Imported::Conflict(existing) => Err(Error::BadInput(format!(
            "{app} {version} is already in the vault with another content (package sha256 {existing}, \
             this one {digest}); a version never changes: import it as a new version"
        ))),
    }
}

fn sweep(ws: &Workspace, store: &mut Store, settle: u64, json: bool) -> Result<()> {
    let swept = crate::vault::drop::sweep(ws, store, std::time::Duration::from_secs(settle))
        .map_err(Error::BadInput)?;
    if json {
        outln!("{:#}", json!(swept));
        return no_room(&swept);
    }
    for (name, app, version, digest) in &swept.imported {
        outln!("imported  {name}: {app} {version}, package sha256 {digest}");
    }
    for name in &swept.waiting {
        outln!("waiting   {name}: changed less than {settle} s ago, left for the next sweep");
    }
    for (name, why) in &swept.rejected {
        outln!("rejected  {name}: {why} (moved to drop/rejected/)");
    }
    for (name, why) in &swept.no_space {
        outln!("no room   {name}: the disk is full ({why}); left for the next sweep");
    }
    if swept.imported.is_empty()
        && swept.waiting.is_empty()
        && swept.rejected.is_empty()
        && swept.no_space.is_empty()
    {
        outln!("nothing in {}", crate::vault::drop::dir(ws).display());
    }
    no_room(&swept)
}

/// A sweep that met a full disk fails (exit 1), after saying what it did: its drops are
/// fine as far as is known, and wait in the drop dir for room.
fn no_room(swept: &crate::vault::drop::Swept) -> Result<()> {
    match swept.no_space.first() {
        None => Ok(()),
        Some((_, why)) => Err(disk_full(
            format!(
                "the disk is full: {} drop(s) left in the drop dir for the next sweep",
                swept.no_space.len()
            ),
            why.clone(),
        )),
    }
}

fn disk_full(context: String, why: String) -> Error {
    Error::Io {
        context,
        source: std::io::Error::new(std::io::ErrorKind::StorageFull, why),
    }
}

fn list(store: &Store, app: Option<&str>, json: bool) -> Result<()> {
    let rows = store.packages(app)?;
    if json {
        outln!("{:#}", json!({ "packages": rows }));
        return Ok(());
    }
    let table_rows: Vec<Vec<String>> = rows
        .iter()
        .map(|p| {
            vec![
                p.app.clone(),
                p.version.clone(),
                p.artifacts.len().to_string(),
                size(p.size_bytes),
                p.digest.get(..12).unwrap_or(&p.digest).to_string(),
                p.imported_by.clone(),
                crate::clock::format_ms(p.imported_at),
            ]
        })
        .collect();
    outln!(
        "{}",
        table::render(
            &[
                "APP", "VERSION", "FILES", "SIZE", "DIGEST", "BY", "IMPORTED"
            ],
            &table_rows
        )
        .trim_end()
    );
    Ok(())
}

fn find(store: &Store, app: &str, version: &str) -> Result<PackageRow> {
    store.package(app, version)?.ok_or_else(|| {
        Error::BadInput(format!(
            "no package {app} {version} in the vault; `pilote vault list` shows what is there"
        ))
    })
}

fn show(store: &Store, app: &str, version: &str, json: bool) -> Result<()> {
    let p = find(store, app, version)?;
    if json {
        outln!("{:#}", json!({ "package": p }));
        return Ok(());
    }
    outln!(
        "{} {}  package sha256 {}\nimported by {} at {}, {} in {} artifact(s)",
        p.app,
        p.version,
        p.digest,
        p.imported_by,
        crate::clock::format_ms(p.imported_at),
        size(p.size_bytes),
        p.artifacts.len()
    );
    let rows: Vec<Vec<String>> = p
        .artifacts
        .iter()
        // A name is the dropper's: a newline in it would print a line of their choosing
        // (even piped, where outln! leaves control characters alone), so it is escaped.
        .map(|a| vec![visible(&a.path), size(a.size), a.sha256.clone()])
        .collect();
    outln!(
        "{}",
        table::render(&["ARTIFACT", "SIZE", "SHA256"], &rows).trim_end()
    );
    Ok(())
}

fn verify(
    ws: &Workspace,
    store: &Store,
    app: Option<&str>,
    version: Option<&str>,
    json: bool,
) -> Result<()> {
    let vault = open_vault(ws)?;
    let packages = match (app, version) {
        (Some(a), Some(v)) => vec![find(store, a, v)?],
        (app, None) => store.packages(app)?,
        (None, Some(_)) => unreachable!("clap requires the app before the version"),
    };
    let mut bad = 0;
    let mut checked = Vec::new();
    for p in &packages {
        let mut problems: Vec<String> = p
            .artifacts
            .iter()
            .filter_map(|a| vault.check(a).err())
            .collect();
        if package_digest(&p.artifacts) != p.digest {
            problems.push("the manifest does not match the package digest".into());
        }
        if !problems.is_empty() {
            bad += 1;
        }
        if json {
            checked.push(json!({
                "app": p.app, "version": p.version, "digest": p.digest,
                "artifacts": p.artifacts.len(), "ok": problems.is_empty(), "problems": problems,
            }));
        } else if problems.is_empty() {
            outln!(
                "ok       {} {} ({} artifact(s))",
                p.app,
                p.version,
                p.artifacts.len()
            );
        } else {
            for why in problems {
                outln!("ALTERED  {} {}: {}", p.app, p.version, visible(&why));
            }
        }
    }
    if json {
        outln!("{:#}", json!({ "ok": bad == 0, "packages": checked }));
    }
    if bad > 0 {
        return Err(Error::CheckFailed(format!(
            "{bad} of {} package(s) do not match their digests; do not deploy them",
            packages.len()
        )));
    }
    Ok(())
}

/// `text` with every control character escaped (`\n`, `\e`...): a line of its own in a table.
fn visible(text: &str) -> String {
    crate::core::printable::escape_controls(text, &[]).into_owned()
}

fn size(bytes: i64) -> String {
    match bytes {
        b if b >= 10 << 20 => format!("{} MiB", b >> 20),
        b if b >= 10 << 10 => format!("{} KiB", b >> 10),
        b => format!("{b} B"),
    }
}
