//! `pilote inventory import` and `pilote inventory check`: keeping the inventory true to the
//! CMDB, and the CMDB true to the machines.

use std::fs;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::core::line_diff;
use crate::engine::inventory_check::{self, Reach, Report};
use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::integrations::cmdb::{self, Kept, Origin};
use crate::settings::{
    self, INVENTORY_FILE, Inventory, LoadError, Located, Overrides, PendingInventory,
    SETTINGS_FILE, Workspace,
};
use crate::store::Store;
use crate::table;

/// Lines of context around each change in the diff.
const CONTEXT: usize = 3;
/// Hosts probed at once by `inventory check`.
const PARALLEL: usize = 32;

/// What one kind of entry (apps, envs, hosts) gains, loses and changes in an import.
#[derive(Debug, Default, Serialize)]
pub struct Changes {
    pub added: Vec<String>,
    pub removed: Vec<String>,
    pub changed: Vec<String>,
}

impl Changes {
    fn between<T: Serialize>(old: &[T], new: &[T], name: impl Fn(&T) -> &str) -> Self {
        let value = |t: &T| serde_json::to_value(t).unwrap_or_default();
        let mut c = Self::default();
        for n in new {
            match old.iter().find(|o| name(o) == name(n)) {
                None => c.added.push(name(n).to_string()),
                Some(o) if value(o) != value(n) => c.changed.push(name(n).to_string()),
                Some(_) => {}
            }
        }
        for o in old {
            if !new.iter().any(|n| name(n) == name(o)) {
                c.removed.push(name(o).to_string());
            }
        }
        c
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (what, names) in [
            ("added", &self.added),
            ("removed", &self.removed),
            ("changed", &self.changed),
        ] {
            if !names.is_empty() {
                parts.push(format!("{what} {}", names.join(", ")));
            }
        }
        if parts.is_empty() {
            "unchanged".to_string()
        } else {
            parts.join("; ")
        }
    }
}

/// What the apps, envs and hosts of `new` are to those of `old` (none: all added).
fn summarize(old: Option<&Inventory>, new: &Inventory) -> [Changes; 3] {
    let none = Inventory {
        apps: Vec::new(),
        envs: Vec::new(),
        hosts: Vec::new(),
        lifecycles: Vec::new(),
        groups: Vec::new(),
    };
    let old = old.unwrap_or(&none);
    [
        Changes::between(&old.apps, &new.apps, |a| &a.name),
        Changes::between(&old.envs, &new.envs, |e| &e.name),
        Changes::between(&old.hosts, &new.hosts, |h| &h.name),
    ]
}

/// `pilote inventory import --from FROM`.
pub fn import(
    located: &Located,
    overrides: &Overrides,
    from: &str,
    yes: bool,
    json: bool,
) -> Result<()> {
    let dir = &located.dir;
    if crate::settings::peek(dir).is_some() {
        // Its files are root's alone, and the service account would read FILE with its
        // own rights.
        return Err(crate::error::Error::BadInput(format!(
            "a team's inventory ({}) is its admins' file: import into a workspace of your own \
             (`pilote -w DIR inventory import --from ...`), then an admin copies its inventory.toml",
            dir.join(crate::settings::INVENTORY_FILE).display()
        )));
    }
    if !dir.join(SETTINGS_FILE).exists() {
        return Err(LoadError::Missing {
            dir: dir.clone(),
            origin: located.origin,
        }
        .into());
    }
    let document = cmdb::fetch(from)?;
    // Only the request gets `from` whole: the file, the audit trail, the log and the output
    // name it with its credential masked.
    let from: &str = &cmdb::shown(from);
    let doc = cmdb::parse(Path::new(from), &document).map_err(Error::Invalid)?;
    let path = dir.join(INVENTORY_FILE);
    let current = match fs::read_to_string(&path) {
        Ok(t) => Some(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(Error::io(format!("cannot read {}", path.display()))(e)),
    };

    let mut notes = Vec::new();
    let kept = match current.as_deref().map(Kept::from_current) {
        Some(Ok(k)) => k,
        Some(Err(e)) => {
            notes.push(format!(
                "the current {INVENTORY_FILE} does not parse ({e}): none of its env vars or freeze windows are kept"
            ));
            Kept::default()
        }
        None => Kept::default(),
    };
    for env in kept.dropped(&doc) {
        notes.push(format!(
            "environment `{env}` is not in the document: its vars and freeze windows go with it"
        ));
    }
    let at = jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let text = cmdb::render(&doc, &kept, &Origin { from, at: &at });

    // The whole workspace must load with the new file before anything is written.
    let pending = PendingInventory {
        label: PathBuf::from(format!("{} (as imported)", path.display())),
        text: &text,
    };
    let new_ws = settings::load_with_inventory(located, overrides, &pending).map_err(|e| {
        errln!(
            "the workspace would not load with this inventory; nothing was written ({} is unchanged)",
            path.display()
        );
        Error::Load(e)
    })?;
    // Through the command's loader, so the log file starts when the workspace loads.
    let old_inventory: Option<Inventory> = match super::open::load(located, overrides) {
        Ok(ws) => Some(ws.inventory),
        Err(_) if current.is_none() => None,
        Err(_) => {
            notes.push(
                "the current workspace does not load: every entry counts as added (`pilote config check` says why)"
                    .to_string(),
            );
            None
        }
    };
    if current
        .as_deref()
        .map(cmdb::strip_header)
        .is_some_and(|b| b.lines().any(|l| l.trim_start().starts_with('#')))
    {
        notes.push(format!(
            "{INVENTORY_FILE} is rewritten whole: the comments of the current file are not kept"
        ));
    }

    let old_text = current.as_deref().unwrap_or_default();
    let up_to_date = current
        .as_deref()
        .is_some_and(|c| cmdb::strip_header(c) == cmdb::strip_header(&text));
    let old_label = format!("{INVENTORY_FILE} (current)");
    let new_label = format!("{INVENTORY_FILE} (from {from})");
    let diff = if up_to_date {
        String::new()
    } else {
        line_diff::unified(old_text, &text, &old_label, &new_label, CONTEXT)
    };
    let [apps, envs, hosts] = summarize(old_inventory.as_ref(), &new_ws.inventory);
    let changes = [&apps, &envs, &hosts];
    if !json {
        if up_to_date {
            outln!("inventory is up to date with {from}");
            return Ok(());
        }
        print_preview(&diff, &notes, &path, from, changes);
    }
    // `--json` is for scripts: it never asks.
    let write = !up_to_date && (yes || (!json && confirm()));
    if write {
        // Someone may have edited the file while the diff was read: that diff is stale.
        if fs::read_to_string(&path).ok() != current {
            return Err(Error::BadInput(format!(
                "{} changed since the diff was made; nothing was written: run the import again",
                path.display()
            )));
        }
        write_atomic(&path, &text)?;
        audit(&new_ws, from, &doc, &document, old_text, &text)?;
    }
    if json {
        let body = json!({
            "source": from,
            "path": path,
            "up_to_date": up_to_date,
            "written": write,
            "apps": apps,
            "envs": envs,
            "hosts": hosts,
            "notes": notes,
            "diff": diff,
        });
        outln!("{body:#}");
    }
    if up_to_date {
        return Ok(());
    }
    if write {
        tracing::info!(source = from, path = %path.display(), "inventory imported");
        errln!("wrote {}", path.display());
        return Ok(());
    }
    // Exit 1: a script (or cron) learns the CMDB and the workspace differ.
    Err(Error::CheckFailed(format!(
        "{} not written: {}",
        path.display(),
        if json || !on_tty() {
            "pass --yes to write it"
        } else {
            "not confirmed"
        }
    )))
}

/// Whether a person can be asked: the question goes to stderr, the answer comes on stdin.
fn on_tty() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn print_preview(
    diff: &str,
    notes: &[String],
    path: &Path,
    from: &str,
    [apps, envs, hosts]: [&Changes; 3],
) {
    outln!("{} from {from}:", path.display());
    outln!("  apps   {}", apps.describe());
    outln!("  envs   {}", envs.describe());
    outln!("  hosts  {}", hosts.describe());
    for n in notes {
        outln!("note: {n}");
    }
    super::output::write_stdout(diff);
}

/// Asks on the terminal; without one, the answer is no.
fn confirm() -> bool {
    if !on_tty() {
        return false;
    }
    eprint!("Write this inventory? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    let _ = std::io::stdin().lock().read_line(&mut answer);
    matches!(answer.trim(), "y" | "Y" | "yes")
}

/// Replaces `path` by `text` all at once, keeping its mode (see `fsutil::write_atomic`).
fn write_atomic(path: &Path, text: &str) -> Result<()> {
    crate::fsutil::write_atomic(path, text.as_bytes(), None)
        .map_err(Error::io(format!("cannot write {}", path.display())))
}

/// Records the import in the audit trail: where from, and the digests of the document and
/// of the file before and after.
fn audit(
    ws: &Workspace,
    from: &str,
    doc: &cmdb::Document,
    document: &str,
    old_text: &str,
    text: &str,
) -> Result<()> {
    let sha = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
    let actor = Actor::current();
    let recorded = (|| {
        let mut store = Store::open(
            &ws.data_dir,
            &ws.config_dir,
            Duration::from_millis(ws.settings.busy_timeout_ms),
        )?;
        store.audit_override(
            "inventory",
            "inventory.imported",
            &json!({
                "source": from,
                "cmdb": doc.source,
                "document_sha256": sha(document),
                "previous_sha256": sha(old_text),
                "sha256": sha(text),
            }),
            &actor,
        )?;
        store.sync_inventory(&ws.inventory, &actor)?;
        Ok::<_, crate::store::StoreError>(())
    })();
    recorded.map_err(|e| {
        errln!("the new inventory was written, but the audit trail could not record it");
        Error::Store(e)
    })
}

/// `pilote inventory check`.
pub fn check(ws: &Workspace, env: Option<&str>, timeout: &str, json: bool) -> Result<()> {
    let timeout = crate::core::duration::parse(timeout)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| {
            Error::BadInput(format!(
                "--timeout {timeout:?} is not a duration; expected one like \"5s\" or \"1m\""
            ))
        })?;
    let envs: Vec<&settings::Env> = match env {
        Some(name) => vec![ws.inventory.env(name).ok_or_else(|| {
            let known: Vec<String> = ws
                .inventory
                .envs
                .iter()
                .map(|e| format!("`{}`", e.name))
                .collect();
            Error::BadInput(format!(
                "unknown environment `{name}`; expected one of {}",
                known.join(", ")
            ))
        })?],
        None => ws.inventory.envs.iter().collect(),
    };
    let report = inventory_check::check(
        ws,
        &envs,
        inventory_check::Options {
            timeout,
            parallel: PARALLEL,
        },
    )
    .map_err(|e| Error::io("cannot check the inventory")(std::io::Error::other(e)))?;
    if json {
        let body = json!({
            "ok": report.ok(),
            "integrity": report.integrity,
            "passed": report.passed,
            "total": report.total,
            "elapsed_ms": report.elapsed_ms,
            "hosts": report.hosts,
        });
        outln!("{body:#}");
    } else {
        outln!("{}", render_report(&report).trim_end());
    }
    errln!(
        "checked {} host{} in {}",
        report.hosts.len(),
        if report.hosts.len() == 1 { "" } else { "s" },
        crate::core::duration::human(Duration::from_millis(report.elapsed_ms))
    );
    tracing::info!(
        passed = report.passed,
        total = report.total,
        elapsed_ms = report.elapsed_ms,
        "inventory checked"
    );
    if report.ok() {
        Ok(())
    } else {
        Err(Error::CheckFailed(format!(
            "{} of {} checks failed",
            report.total - report.passed,
            report.total
        )))
    }
}

/// The table and the integrity line.
pub fn render_report(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .hosts
        .iter()
        .map(|h| {
            let ssh = match h.reach {
                Reach::Local => "local",
                Reach::Ok => "ok",
                Reach::Failed => "failed",
            };
            let run = h.checks.iter().filter(|c| c.passed.is_some()).count();
            let passed = h.checks.iter().filter(|c| c.passed == Some(true)).count();
            let checks = if h.checks.is_empty() {
                "-".to_string()
            } else if run == 0 {
                "not run".to_string()
            } else {
                format!("{passed}/{}", h.checks.len())
            };
            vec![
                h.env.clone(),
                h.host.clone(),
                h.domains.join(", "),
                ssh.to_string(),
                checks,
                h.problems.join("; "),
            ]
        })
        .collect();
    let mut out = table::render(
        &["ENV", "HOST", "DOMAINS", "SSH", "CHECKS", "PROBLEM"],
        &rows,
    );
    out.push_str(&if report.total == 0 {
        "integrity: 100% (no host to check)\n".to_string()
    } else {
        format!(
            "integrity: {}% ({} of {} checks passed)\n",
            report.integrity, report.passed, report.total
        )
    });
    out
}
