//! Loading a workspace: every file read and checked, every problem reported at once.

use std::fs;
use std::path::{Path, PathBuf};

use super::files::{self, InventoryFile, LifecyclesFile, LogLevel, SettingsFile};
use super::locate::{Located, default_data_root};
use super::read::*;
use super::snapshot::ConfigSnapshot;
use super::team::{self, Steps, Team, admin_owned, registration};
use super::workspace::*;
use super::{inventory, vocabulary, webhooks};
use crate::core::SourceFile;
use crate::core::automation::{self, Catalog, StepKind};
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::inventory::Inventory;
use crate::core::silence;

/// Loads and checks every file of the workspace at `located`, reporting all problems at once.
pub fn load(located: &Located, overrides: &Overrides) -> Result<Workspace, LoadError> {
    load_inner(located, overrides, None, false)
}

/// Loads the workspace as [`load`] does, but a config with errors still gives a workspace,
/// marked [`Broken`]: its settings are `pilote.toml`'s when that file is sound, its inventory
/// and catalog are empty (the caller puts the last recorded ones in, see
/// [`Workspace::with_recorded`]). For the emergency path: status, logs, cancel, rollback.
pub fn load_tolerant(located: &Located, overrides: &Overrides) -> Result<Workspace, LoadError> {
    load_inner(located, overrides, None, true)
}

/// An inventory text to check in place of `inventory.toml`, before it is written.
pub struct PendingInventory<'a> {
    /// What diagnostics about the text call it (it is not on disk yet).
    pub label: PathBuf,
    pub text: &'a str,
}

/// Loads the workspace as [`load`] does, but with `pending` as its inventory: whether the
/// whole workspace (lifecycles, catalog) still loads once that text replaces the file.
pub fn load_with_inventory(
    located: &Located,
    overrides: &Overrides,
    pending: &PendingInventory<'_>,
) -> Result<Workspace, LoadError> {
    load_inner(located, overrides, Some(pending), false)
}

fn load_inner(
    located: &Located,
    overrides: &Overrides,
    pending: Option<&PendingInventory<'_>>,
    tolerant: bool,
) -> Result<Workspace, LoadError> {
    let dir = &located.dir;
    match fs::metadata(dir.join(SETTINGS_FILE)) {
        Ok(_) => {}
        // Not there, or not there for this account: "run pilote init" would be wrong advice.
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            return Err(LoadError::Environment(format!(
                "cannot read the workspace at {} ({}): permission denied for {}; {}",
                dir.display(),
                located.origin.describe(),
                crate::identity::user_name(crate::identity::euid()).unwrap_or_default(),
                owner_hint(dir)
            )));
        }
        Err(_) => {
            return Err(LoadError::Missing {
                dir: dir.clone(),
                origin: located.origin,
            });
        }
    }
    let mut diags = Diagnostics::default();
    let settings_text = read(dir, SETTINGS_FILE, &mut diags);
    let (inventory_path, inventory_text) = match pending {
        Some(p) => (p.label.clone(), Some(p.text.to_string())),
        None => (
            dir.join(INVENTORY_FILE),
            read(dir, INVENTORY_FILE, &mut diags),
        ),
    };
    let lifecycles_text = read(dir, LIFECYCLES_FILE, &mut diags);

    let settings: Option<SettingsFile> = parse(
        &dir.join(SETTINGS_FILE),
        settings_text.as_deref(),
        &mut diags,
    );
    let inv: Option<InventoryFile> = parse(&inventory_path, inventory_text.as_deref(), &mut diags);
    let lcs: Option<LifecyclesFile> = parse(
        &dir.join(LIFECYCLES_FILE),
        lifecycles_text.as_deref(),
        &mut diags,
    );

    let inventory = match (&inv, &lcs) {
        (Some(inv), Some(lcs)) => inventory::resolve(
            inv,
            &inventory::Source {
                path: &inventory_path,
                text: inventory_text.as_deref().unwrap_or_default(),
            },
            lcs,
            &inventory::Source {
                path: &dir.join(LIFECYCLES_FILE),
                text: lifecycles_text.as_deref().unwrap_or_default(),
            },
            &mut diags,
        ),
        _ => None,
    };
    let catalog_files = read_catalog(dir, &mut diags);
    let catalog_digest = catalog_digest(&catalog_files);
    let catalog = automation::parse_catalog(&catalog_files, &mut diags);
    let settings_path = dir.join(SETTINGS_FILE);
    let settings_src = settings_text.as_deref().unwrap_or_default();
    if let Some(s) = &settings {
        let name = s.name.get_ref();
        if !automation::is_name(name) {
            diags.push(
                Diagnostic::at(
                    &settings_path,
                    settings_src,
                    s.name.span(),
                    format!("invalid workspace name `{name}`"),
                )
                .expected("lowercase letters, digits, `-` or `_` (it names the data dir)"),
            );
        }
    }
    if let Some(inv) = &inventory {
        for a in &catalog.automations {
            let Some(domain) = &a.domain else { continue };
            if !inv
                .apps
                .iter()
                .any(|app| app.domains.iter().any(|d| &d.name == domain))
            {
                let known: Vec<String> = inv
                    .apps
                    .iter()
                    .flat_map(|app| app.domains.iter().map(|d| format!("`{}`", d.name)))
                    .collect();
                diags.push(
                    automation_warning(
                        a,
                        format!(
                            "automation `{}` targets domain `{domain}`, which no app has",
                            a.name
                        ),
                    )
                    .expected(format!("one of {}", known.join(", "))),
                );
            }
        }
    }
    // Before the return on errors, so each is reported with every other problem.
    let (team, steps) = match &settings {
        Some(s) => team::check(
            s.team.as_ref(),
            &s.steps,
            &settings_path,
            settings_src,
            &mut diags,
        ),
        None => (None, Steps::default()),
    };
    let (ssh, console, dashboard) = match &settings {
        Some(s) => {
            check_data_dir(s, &settings_path, settings_src, &mut diags);
            (
                Some(ssh_settings(
                    dir,
                    &s.ssh,
                    &settings_path,
                    settings_src,
                    &mut diags,
                )),
                console_settings(&s.console, &settings_path, settings_src, &mut diags),
                dashboard_settings(&s.dashboard, &settings_path, settings_src, &mut diags),
            )
        }
        None => (None, Console::default(), Vec::new()),
    };
    let alertmanager = match (&settings, &inventory) {
        (Some(s), Some(inv)) => s
            .alertmanager
            .as_ref()
            .map(|a| alertmanager_settings(a, inv, &settings_path, settings_src, &mut diags)),
        _ => None,
    };
    if alertmanager.is_none() {
        warn_unsilenced(&catalog, &mut diags);
    }
    let webhooks = settings.as_ref().map_or_else(Vec::new, |s| {
        webhooks::check(&s.webhooks, &settings_path, settings_src, &mut diags)
    });
    let broken = diags.has_errors().then(|| Broken {
        settings_ok: settings.is_some()
            && !diags
                .iter()
                .any(|d| d.is_error() && d.file == settings_path),
        errors: diags.clone(),
    });
    if broken.is_some() && !tolerant {
        return Err(LoadError::Invalid(diags));
    }
    let snapshot = match &broken {
        None => ConfigSnapshot::of(
            inventory_text.as_deref().unwrap_or_default(),
            lifecycles_text.as_deref().unwrap_or_default(),
            &catalog_files,
            &settings
                .as_ref()
                .map(|s| s.vars.clone())
                .unwrap_or_default(),
        ),
        Some(_) => ConfigSnapshot::default(),
    };
    let (s, inventory, ssh, catalog, team, steps, alertmanager, webhooks) = match broken {
        None => match (settings, inventory, ssh) {
            (Some(s), Some(inventory), Some(ssh)) => (
                s,
                inventory,
                ssh,
                catalog,
                team,
                steps,
                alertmanager,
                webhooks,
            ),
            // Unreachable in practice: a missing part always comes with an error above.
            _ => return Err(LoadError::Invalid(diags)),
        },
        Some(ref b) if b.settings_ok => {
            let s = settings.ok_or_else(|| LoadError::Invalid(diags.clone()))?;
            let ssh = ssh.ok_or_else(|| LoadError::Invalid(diags.clone()))?;
            // Its env overrides are checked against an inventory that may be the broken
            // part; the settings were sound when the recorded runs started.
            let alertmanager = s.alertmanager.as_ref().map(|a| {
                alertmanager_settings(
                    a,
                    &Inventory::default(),
                    &settings_path,
                    settings_src,
                    &mut Diagnostics::default(),
                )
            });
            (
                s,
                Inventory::default(),
                ssh,
                Catalog::default(),
                team,
                steps,
                alertmanager,
                webhooks,
            )
        }
        Some(_) => {
            // `pilote.toml` is the broken part: enough of it to find the store, nothing that
            // would run a step or post a webhook.
            let (name, data_dir) = peek_location(settings_src);
            // A team's service account serves only a config it can check is the admins':
            // a pilote.toml it cannot read as one gives no store to fall back on.
            let registered = crate::identity::user_name(crate::identity::euid())
                .is_some_and(|me| registration(&me).ok().flatten().is_some());
            if registered || !automation::is_name(&name) {
                return Err(LoadError::Invalid(diags));
            }
            let mut minimal = format!("name = {}\n", toml::Value::String(name));
            if let Some(d) = data_dir {
                minimal.push_str(&format!("data_dir = {}\n", toml::Value::String(d)));
            }
            let s: SettingsFile =
                toml::from_str(&minimal).map_err(|_| LoadError::Invalid(diags.clone()))?;
            let ssh = ssh_settings(dir, &s.ssh, &settings_path, "", &mut Diagnostics::default());
            (
                s,
                Inventory::default(),
                ssh,
                Catalog::default(),
                None,
                Steps::default(),
                None,
                Vec::new(),
            )
        }
    };

    let log_level = match &overrides.log_level {
        Some(v) => LogLevel::parse(v).ok_or_else(|| {
            LoadError::Environment(format!(
                "PILOTE_LOG={v:?} is not a log level; expected one of error, warn, info, debug, trace"
            ))
        })?,
        None => s.log.level,
    };
    let busy_timeout_ms = match &overrides.busy_timeout_ms {
        Some(v) => v.parse().map_err(|_| {
            LoadError::Environment(format!(
                "PILOTE_BUSY_TIMEOUT_MS={v:?} is not a number of milliseconds"
            ))
        })?,
        None => s.store.busy_timeout_ms,
    };
    if overrides
        .data_dir
        .as_ref()
        .is_some_and(|d| d.as_os_str().is_empty())
    {
        return Err(LoadError::Environment(
            "PILOTE_DATA_DIR is set but empty; unset it or give a directory".into(),
        ));
    }
    if let Some(t) = &team {
        verify_team_files(dir, t, &catalog_files, ssh.config.as_deref())?;
    }
    let name = s.name.into_inner();
    let vars = s.vars;
    let data_dir = match (&overrides.data_dir, &s.data_dir) {
        (Some(d), _) => d.clone(),
        (None, Some(d)) => dir.join(d.get_ref()),
        (None, None) => default_data_root()
            .map_err(LoadError::Environment)?
            .join("workspaces")
            .join(&name),
    };
    let drop_dir = s
        .vault
        .drop_dir
        .as_ref()
        .map_or_else(|| data_dir.join("drop"), |d| dir.join(d.get_ref()));
    Ok(Workspace {
        config_dir: dir.clone(),
        data_dir,
        settings: Settings {
            name,
            vars,
            busy_timeout_ms,
            min_free_mb: s.store.min_free_mb,
            log_level,
            ssh,
            console,
            dashboard,
            alertmanager,
            webhooks,
            team,
            steps,
            drop_dir,
        },
        inventory,
        catalog,
        catalog_digest,
        warnings: diags,
        snapshot,
        broken,
    })
}

/// The workspace's name and `data_dir` from a `pilote.toml` that does not load: from its
/// TOML when it parses, else from the first top-level `name = "..."` and `data_dir = "..."`
/// lines, so the store can still be found with the file half edited.
fn peek_location(text: &str) -> (String, Option<String>) {
    if let Ok(t) = toml::from_str::<toml::Table>(text) {
        let get = |k: &str| t.get(k).and_then(|v| v.as_str()).map(str::to_string);
        return (get("name").unwrap_or_default(), get("data_dir"));
    }
    let (mut name, mut data_dir) = (String::new(), None);
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            break;
        }
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let Some(v) = toml::from_str::<toml::Table>(&format!("v = {}", v.trim()))
            .ok()
            .and_then(|t| t.get("v").and_then(|v| v.as_str()).map(str::to_string))
        else {
            continue;
        };
        match k.trim() {
            "name" if name.is_empty() => name = v,
            "data_dir" if data_dir.is_none() => data_dir = Some(v),
            _ => {}
        }
    }
    (name, data_dir)
}

/// Who owns the part of `dir` that keeps others out (the first that is not open to all, from
/// `dir` up), for a permission error.
fn owner_hint(dir: &Path) -> String {
    use std::os::unix::fs::MetadataExt;
    let owned = dir.ancestors().find_map(|d| {
        fs::metadata(d)
            .ok()
            .filter(|m| m.mode() & 0o005 != 0o005 || d == dir)
            .map(|m| (d.to_path_buf(), m.uid()))
    });
    match owned {
        Some((d, uid)) => format!(
            "{} belongs to {}: it is their workspace, not yours (yours: `pilote -w DIR`)",
            d.display(),
            crate::identity::user_name(uid).unwrap_or_else(|| format!("uid {uid}"))
        ),
        None => "ask its owner".into(),
    }
}

/// A team's workspace, loaded by its service account, is read only if every file of it is
/// the admins' (see [`admin_owned`]): the account runs what the config says, and each team
/// member can become the account.
fn verify_team_files(
    dir: &Path,
    team: &Team,
    catalog: &[SourceFile],
    ssh_config: Option<&Path>,
) -> Result<(), LoadError> {
    if crate::identity::account(&team.service_account).map(|a| a.uid)
        != Some(crate::identity::euid())
    {
        return Ok(());
    }
    let mut paths = vec![
        dir.to_path_buf(),
        dir.join(SETTINGS_FILE),
        dir.join(INVENTORY_FILE),
        dir.join(LIFECYCLES_FILE),
    ];
    if dir.join(AUTOMATIONS_DIR).exists() {
        paths.push(dir.join(AUTOMATIONS_DIR));
    }
    paths.extend(catalog.iter().map(|f| f.path.clone()));
    paths.extend(ssh_config.map(Path::to_path_buf));
    for p in paths {
        admin_owned(&p).map_err(|why| {
            LoadError::Environment(format!(
                "refusing the team workspace at {}: {why}; a team's config is written by its admins only",
                dir.display()
            ))
        })?;
    }
    Ok(())
}

/// `data_dir` checked: `~` is not expanded, and an empty path means nothing.
fn check_data_dir(s: &files::SettingsFile, path: &Path, src: &str, diags: &mut Diagnostics) {
    let Some(d) = &s.data_dir else { return };
    let text = d.get_ref().to_string_lossy();
    let problem = if text.is_empty() {
        "`data_dir` is empty"
    } else if text.starts_with('~') {
        "`data_dir` starts with `~`, which is not expanded"
    } else {
        return;
    };
    diags.push(
        at_line(Diagnostic::at(path, src, d.span(), problem))
            .expected("an absolute path, or a path relative to the config dir"),
    );
}

/// `[ssh]` checked: a config path an ssh config can name; durations in whole seconds (what
/// ssh takes), at least one.
fn ssh_settings(
    dir: &Path,
    s: &files::SshSection,
    path: &Path,
    src: &str,
    diags: &mut Diagnostics,
) -> Ssh {
    let config = s.config.as_ref().map(|c| {
        let full = dir.join(c.get_ref());
        if let Err(why) = quote_ssh_config(&full) {
            diags.push(at_line(Diagnostic::at(path, src, c.span(), why)).expected(
                "a path without `\"` or control characters (ssh's config quotes with `\"` \
                     and has no escape for it)",
            ));
        }
        full
    });
    let mut seconds = |v: &Option<toml::Spanned<String>>, default: u64| {
        let Some(v) = v else {
            return std::time::Duration::from_secs(default);
        };
        crate::core::duration::parse(v.get_ref())
            .ok()
            .filter(|d| d.as_secs() >= 1 && d.subsec_nanos() == 0)
            .unwrap_or_else(|| {
                diags.push(
                    at_line(Diagnostic::at(
                        path,
                        src,
                        v.span(),
                        format!("`{}` is not a whole number of seconds", v.get_ref()),
                    ))
                    .expected("a duration of at least one second, like \"10s\" or \"1m\""),
                );
                std::time::Duration::from_secs(default)
            })
    };
    Ssh {
        config,
        connect_timeout: seconds(&s.connect_timeout, 10),
        keepalive_interval: seconds(&s.keepalive_interval, 5),
        keepalive_count: s.keepalive_count.unwrap_or(3).max(1),
        host_key_checking: s.host_key_checking,
    }
}

/// `path` double-quoted for an ssh config file (quotes keep spaces in one argument). ssh
/// has no escape for a `"` inside quotes, and a newline would start a line of the
/// attacker's choosing: such a path is refused, never written changed (`config check`
/// refuses it first).
pub fn quote_ssh_config(path: &Path) -> Result<String, String> {
    let text = path.to_str().ok_or_else(|| {
        format!(
            "the ssh config path {} is not UTF-8, which ssh's config cannot name",
            path.display()
        )
    })?;
    if let Some(c) = text.chars().find(|c| *c == '"' || c.is_control()) {
        return Err(format!(
            "the ssh config path {text:?} holds {c:?}, which an ssh config cannot hold in a path"
        ));
    }
    Ok(format!("\"{text}\""))
}

/// `[alertmanager]` checked: URLs an HTTP client can reach, matchers Alertmanager accepts
/// with placeholders the run can fill, envs the inventory has. Every problem at once.
fn alertmanager_settings(
    a: &files::AlertmanagerSection,
    inventory: &Inventory,
    path: &Path,
    src: &str,
    diags: &mut Diagnostics,
) -> Alertmanager {
    let at = |span: std::ops::Range<usize>, message: String, expected: &str| {
        let mut d = Diagnostic::at(path, src, span, message).expected(expected);
        d.line = d.line.max(1);
        d
    };
    let url = |v: &toml::Spanned<String>, diags: &mut Diagnostics| {
        let text = v.get_ref().trim_end_matches('/');
        match reqwest::Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => diags.push(at(
                v.span(),
                format!("`{}` is not an http(s) URL", v.get_ref()),
                "the Alertmanager's base URL, like \"http://127.0.0.1:9093\"",
            )),
        }
        text.to_string()
    };
    let matchers = |list: &toml::Spanned<Vec<toml::Spanned<String>>>, diags: &mut Diagnostics| {
        if list.get_ref().is_empty() {
            diags.push(at(
                list.span(),
                "a silence needs at least one matcher".into(),
                "matchers like 'instance=~\"(${hosts})(:[0-9]+)?\"'",
            ));
        }
        let mut out = Vec::new();
        for m in list.get_ref() {
            let parsed = silence::parse_matcher(m.get_ref()).and_then(|parsed| {
                match crate::core::value::placeholders(&parsed.value) {
                    Err((_, why)) => Err(why),
                    Ok(found) => match found
                        .iter()
                        .find(|(n, _)| !silence::PLACEHOLDERS.contains(&n.as_str()))
                    {
                        Some((n, _)) => Err(format!("unknown placeholder `${{{n}}}`")),
                        None => Ok(parsed),
                    },
                }
            });
            match parsed {
                Ok(p) => out.push(p),
                Err(why) => diags.push(at(
                    m.span(),
                    format!("bad matcher: {why}"),
                    &format!(
                        "label=value, label!=value, label=~regex or label!~regex, with {}",
                        silence::PLACEHOLDERS
                            .iter()
                            .map(|p| format!("${{{p}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )),
            }
        }
        out
    };
    let default = Watch {
        url: url(&a.url, diags),
        matchers: match &a.matchers {
            Some(list) => matchers(list, diags),
            None => silence::DEFAULT_MATCHERS
                .iter()
                .filter_map(|m| silence::parse_matcher(m).ok())
                .collect(),
        },
    };
    let mut envs = indexmap::IndexMap::new();
    for (name, e) in &a.envs {
        if inventory.env(name.get_ref()).is_none() {
            diags.push(at(
                name.span(),
                format!(
                    "`{}` is not an environment of the inventory",
                    name.get_ref()
                ),
                &format!(
                    "one of {}",
                    inventory
                        .envs
                        .iter()
                        .map(|e| format!("`{}`", e.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let watch = Watch {
            url: e
                .url
                .as_ref()
                .map_or_else(|| default.url.clone(), |u| url(u, diags)),
            matchers: e
                .matchers
                .as_ref()
                .map_or_else(|| default.matchers.clone(), |m| matchers(m, diags)),
        };
        envs.insert(name.get_ref().clone(), watch);
    }
    Alertmanager { default, envs }
}

/// A `silence` step with no Alertmanager to talk to silences nothing: worth a warning where
/// the automation is defined, not an error (a workspace may be set up before its monitoring).
fn warn_unsilenced(catalog: &Catalog, diags: &mut Diagnostics) {
    for a in &catalog.automations {
        if !a.steps.iter().any(|s| s.action.kind() == StepKind::Silence) {
            continue;
        }
        diags.push(
            automation_warning(
                a,
                format!(
                    "automation `{}` has a `silence` step, but pilote.toml has no [alertmanager]: it will silence nothing",
                    a.name
                ),
            )
            .expected("an [alertmanager] section with the url of your Alertmanager"),
        );
    }
}

/// A warning at the line where automation `a` is defined.
fn automation_warning(a: &automation::Automation, message: String) -> Diagnostic {
    let (file, line) = a
        .defined_at
        .rsplit_once(':')
        .unwrap_or((&a.defined_at, "0"));
    let mut d = Diagnostic::file_error(Path::new(file), message).warning();
    d.line = line.parse().unwrap_or(0);
    d.col = 1;
    d
}

/// `[console]` as written, its words checked by the console.
fn console_settings(
    s: &files::ConsoleSection,
    path: &Path,
    src: &str,
    diags: &mut Diagnostics,
) -> Console {
    vocabulary::check_console_keys(&s.keys, path, src, diags);
    let keys = s
        .keys
        .iter()
        .flat_map(|(context, actions)| {
            actions.iter().map(|(action, list)| KeyBinding {
                context: context.get_ref().clone(),
                action: action.get_ref().clone(),
                keys: list.get_ref().words(),
            })
        })
        .collect();
    Console {
        theme: s.theme,
        keys,
    }
}

/// `[dashboard] widgets` as written, checked by the console.
fn dashboard_settings(
    s: &files::DashboardSection,
    path: &Path,
    src: &str,
    diags: &mut Diagnostics,
) -> Vec<String> {
    vocabulary::check_dashboard(&s.widgets, path, src, diags);
    s.widgets.iter().map(|w| w.get_ref().clone()).collect()
}

fn catalog_digest(files: &[SourceFile]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for f in files {
        let name = f
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        h.update(format!("{name}\n{}\n", f.text.len()));
        h.update(f.text.as_bytes());
    }
    hex::encode(h.finalize())
}

/// Reads the catalog's `automations/*.toml`, in name order so diagnostics are stable.
fn read_catalog(dir: &Path, diags: &mut Diagnostics) -> Vec<SourceFile> {
    let cat = dir.join(AUTOMATIONS_DIR);
    let mut paths: Vec<PathBuf> = match fs::read_dir(&cat) {
        Ok(entries) => entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => {
            diags.push(Diagnostic::file_error(
                &cat,
                format!("cannot read the automation catalog: {e}"),
            ));
            Vec::new()
        }
    };
    paths.sort();
    paths
        .into_iter()
        .filter_map(|p| read_path(&p, diags).map(|text| SourceFile::new(p, text)))
        .collect()
}
