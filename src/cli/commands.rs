//! The headless commands. Each one is a few calls into settings, store and setup.

use std::io::IsTerminal;

use clap::CommandFactory;
use serde_json::json;

use super::args::{Cli, Command, ConfigCommand};
use super::open::{load, open, open_tolerant, start_log};
use super::plan;
use super::runs;
use crate::error::{Error, Result};
use crate::settings::{self, Connection, Located, Overrides, Workspace};
use crate::store::{Store, Summary};
use crate::table;
use crate::{demo, setup};

pub fn run(cli: Cli, located: Located) -> Result<()> {
    let overrides = Overrides::from_env();
    match cli.command {
        None => console(&located, &overrides, cli.read_only),
        Some(Command::Init { dir, name }) => init(&dir, name.as_deref()),
        Some(Command::Demo {
            reset,
            force,
            no_open,
            history,
        }) => demo_cmd(
            &located,
            &overrides,
            &DemoOptions {
                reset,
                force,
                no_open,
                history,
            },
            cli.read_only,
        ),
        Some(Command::Status { json }) => {
            let (ws, store) = open_tolerant(&located, &overrides)?;
            print_summary(&ws, &summary(&ws, &store)?, json);
            Ok(())
        }
        Some(Command::Config {
            command: ConfigCommand::Check { json },
        }) => config_check(&located, &overrides, json),
        Some(Command::Plan { command }) => plan::plan(&load(&located, &overrides)?, command),
        Some(Command::Automation { command }) => {
            plan::automation(&load(&located, &overrides)?, command)
        }
        Some(Command::Run {
            file,
            env,
            package,
            release,
            override_freeze,
            follow,
        }) => {
            let (ws, store) = open(&located, &overrides)?;
            runs::run(
                ws,
                store,
                &file,
                &env,
                &runs::RunSource {
                    package: package.as_deref(),
                    release: release.as_deref(),
                    override_freeze: override_freeze.as_deref(),
                },
                follow,
            )
        }
        Some(Command::Rollback {
            app,
            env,
            yes,
            reason,
            follow,
        }) => {
            let (ws, store) = open_tolerant(&located, &overrides)?;
            runs::rollback(ws, store, &app, &env, yes, reason.as_deref(), follow)
        }
        Some(Command::Request { command }) => {
            use super::RequestCommand as R;
            let (ws, mut store) = open(&located, &overrides)?;
            match command {
                R::New {
                    app,
                    version,
                    plan,
                    kind,
                    lifecycle,
                    title,
                } => super::requests::new(
                    &ws,
                    &mut store,
                    &super::requests::Filing {
                        app: &app,
                        version: &version,
                        plan: &plan,
                        kind: &kind,
                        lifecycle: lifecycle.as_deref(),
                        title: title.as_deref(),
                    },
                ),
                R::List { json } => super::requests::list(&ws, &store, json),
                R::Show { id, json } => super::requests::show(&ws, &store, id, json),
                R::Submit { id } => super::requests::transition(&ws, &mut store, id, "submitted"),
                R::Cancel { id } => super::requests::transition(&ws, &mut store, id, "cancelled"),
                R::Approve { id, env, comment } => {
                    super::requests::decide(&ws, &mut store, id, &env, "approved", &comment)
                }
                R::Reject { id, env, comment } => {
                    super::requests::decide(&ws, &mut store, id, &env, "rejected", &comment)
                }
                R::Schedule { id, env, at } => {
                    super::requests::schedule(&ws, &mut store, id, &env, &at)
                }
                R::Block { id, reason } => {
                    super::requests::block(&ws, &mut store, id, Some(&reason))
                }
                R::Unblock { id } => super::requests::block(&ws, &mut store, id, None),
                R::Replan { id, plan } => super::requests::replan(&ws, &mut store, id, &plan),
            }
        }
        Some(Command::Deploy {
            request,
            env,
            override_freeze,
            yes,
            confirm_env,
            follow,
        }) => {
            let (ws, store) = open(&located, &overrides)?;
            super::requests::deploy(
                ws,
                store,
                &super::requests::Deploy {
                    id: request,
                    env: &env,
                    override_freeze: override_freeze.as_deref(),
                    yes,
                    confirm_env: confirm_env.as_deref(),
                },
                follow,
            )
        }
        Some(Command::Audit {
            command,
            limit,
            json,
        }) => {
            let (_, store) = open_tolerant(&located, &overrides)?;
            match command {
                Some(super::AuditCommand::Verify { anchor }) => {
                    super::audit::verify(&store, &anchor)
                }
                None => super::audit::list(&store, limit, json),
            }
        }
        Some(Command::Vault { command }) => {
            let (ws, store) = open(&located, &overrides)?;
            super::vault::vault(&ws, store, command)
        }
        Some(Command::Metrics {
            since,
            app,
            env,
            format,
            explain,
        }) => {
            if explain {
                outln!("{}", crate::core::metrics::EXPLAIN.trim_end());
                return Ok(());
            }
            let (ws, store) = open_tolerant(&located, &overrides)?;
            super::metrics::metrics(&ws, &store, &since, app, env, format)
        }
        Some(Command::Silences { run, json }) => {
            let (_, store) = open_tolerant(&located, &overrides)?;
            runs::silences(&store, run, json)
        }
        Some(Command::Runs {
            app,
            env,
            limit,
            json,
        }) => {
            let (ws, store) = open_tolerant(&located, &overrides)?;
            runs::list(&ws, &store, app.as_deref(), env.as_deref(), limit, json)
        }
        Some(Command::Logs { run, follow, host }) => {
            let (ws, store) = open_tolerant(&located, &overrides)?;
            runs::logs(&ws, store, run, follow, host.as_deref())
        }
        Some(Command::Cancel { run }) => {
            let (ws, store) = open_tolerant(&located, &overrides)?;
            runs::command(&ws, store, run, "cancel")
        }
        Some(Command::Gate { run, confirm, .. }) => {
            let (ws, store) = open_tolerant(&located, &overrides)?;
            runs::command(&ws, store, run, if confirm { "confirm" } else { "abort" })
        }
        Some(Command::Resume { run, follow }) => {
            let (ws, store) = open_tolerant(&located, &overrides)?;
            runs::resume(ws, store, run, follow)
        }
        Some(Command::MarkDone { run, step }) => {
            let (ws, store) = open_tolerant(&located, &overrides)?;
            runs::mark_done(&ws, store, run, step)
        }
        Some(Command::Runner { run }) => {
            // The runner works from the config recorded with its run: a config broken since
            // it was started (or since the run it rolls back) does not stop it.
            let ws = settings::load_tolerant(&located, &overrides)?;
            start_log(&ws);
            runs::runner(ws, run)
        }
        Some(Command::Notifications {
            command,
            limit,
            json,
        }) => {
            let (ws, mut store) = open(&located, &overrides)?;
            match command {
                Some(super::NotificationsCommand::Test { name }) => {
                    super::notifications::test(&ws, &mut store, &name)
                }
                None => super::notifications::list(&ws, &store, limit, json),
            }
        }
        Some(Command::Notify) => {
            // Events of a rollback during an incident are delivered with a broken config too.
            let (ws, mut store) = crate::workflow::open_tolerant(&located, &overrides)?;
            crate::integrations::webhooks::serve(&ws, &mut store)?;
            Ok(())
        }
        Some(Command::Inventory { command, json }) => match command {
            None => {
                let ws = load(&located, &overrides)?;
                print_inventory(&ws, json);
                Ok(())
            }
            Some(super::InventoryCommand::Import { from, yes, json }) => {
                super::inventory::import(&located, &overrides, &from, yes, json)
            }
            Some(super::InventoryCommand::Check { env, timeout, json }) => {
                let ws = load(&located, &overrides)?;
                super::inventory::check(&ws, env.as_deref(), &timeout, json)
            }
        },
        Some(Command::Man { dir }) => man(&dir),
        Some(Command::SetupTeam(options)) => {
            crate::setup::team::setup(&options, &mut |line| outln!("{line}"))
        }
        Some(Command::Executor) => crate::engine::executor::serve().map_err(Error::BadInput),
        Some(Command::Copy { dest, mode, sha256 }) => {
            crate::engine::local_copy::receive(&dest, &mode, &sha256).map_err(Error::BadInput)
        }
        Some(Command::Completions { shell }) => {
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "pilote", &mut script);
            super::output::write_stdout(&String::from_utf8_lossy(&script));
            Ok(())
        }
    }
}

/// `pilote man DIR`: one page for pilote and one per command (`pilote-request-approve.1`).
fn man(dir: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(Error::io(format!("cannot create {}", dir.display())))?;
    let cmd = Cli::command();
    clap_mangen::generate_to(cmd, dir).map_err(Error::io(format!(
        "cannot write the manual pages in {}",
        dir.display()
    )))?;
    outln!("wrote the manual pages in {}", dir.display());
    Ok(())
}

fn console(located: &Located, overrides: &Overrides, read_only: bool) -> Result<()> {
    let (ws, store) = open_tolerant(located, overrides)?;
    let summary = summary(&ws, &store)?;
    if std::io::stdout().is_terminal() && std::io::stdin().is_terminal() {
        drop(store);
        let options = crate::tui::Options::of(&ws, (located.clone(), overrides.clone()), read_only);
        crate::tui::run(ws, options)
    } else {
        print_summary(&ws, &summary, false);
        Ok(())
    }
}

fn init(dir: &std::path::Path, name: Option<&str>) -> Result<()> {
    let name = setup::init_workspace(dir, name)?;
    outln!("created workspace `{name}` in {}", dir.display());
    outln!(
        "next: edit inventory.toml and lifecycles.toml, then run `pilote --workspace {} config check`",
        dir.display()
    );
    Ok(())
}

/// How `pilote demo` was asked to start.
struct DemoOptions {
    reset: bool,
    force: bool,
    no_open: bool,
    history: Option<u32>,
}

/// What a reset would lose, said before anything is deleted: a run still going (its store
/// and sandbox would vanish under it), and the requests and runs people made in the demo
/// (its made-up history is the demo's own, made again by `--history`). `--force` goes on,
/// stopping the runs first.
fn before_reset(ws: &Workspace, force: bool) -> Result<()> {
    if !ws.data_dir.join(crate::store::DB_FILE).exists() {
        return Ok(());
    }
    let mut store = Store::open(
        &ws.data_dir,
        &ws.config_dir,
        std::time::Duration::from_millis(ws.settings.busy_timeout_ms),
    )?;
    let live: Vec<_> = store
        .unfinished_runs()?
        .into_iter()
        .filter(|r| !crate::workflow::runner_gone(ws, r))
        .collect();
    let (requests, runs) = store.made_here()?;
    if !force {
        if let Some(r) = live.first() {
            return Err(Error::BadInput(format!(
                "run #{} ({} of {} on {}) is still running: a reset would delete the store and \
                 the sandbox under it. Wait for it, stop it (`pilote cancel {}`), or reset anyway \
                 with `pilote demo --reset --force`, which cancels it first",
                r.id, r.kind, r.app, r.env, r.id
            )));
        }
        let made: Vec<String> = [(requests, "request"), (runs, "run")]
            .into_iter()
            .filter(|(n, _)| *n > 0)
            .map(|(n, noun)| table::count(usize::try_from(n).unwrap_or(0), noun))
            .collect();
        if !made.is_empty() {
            return Err(Error::BadInput(format!(
                "the demo holds {} made in it (beyond its made-up history): a reset deletes \
                 all of it, logs and audit trail included. To reset anyway: \
                 `pilote demo --reset --force`",
                made.join(" and ")
            )));
        }
        return Ok(());
    }
    // Forced: the runs stop before their sandbox goes (TERM, then KILL after 5 s).
    for r in &live {
        crate::workflow::send_command(ws, &mut store, r.id, "cancel")?;
        errln!("cancelling run #{} before the reset", r.id);
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    for r in &live {
        loop {
            let now = store.run(r.id)?;
            if now.as_ref().is_none_or(|n| {
                crate::store::is_finished(&n.state) || crate::workflow::runner_gone(ws, n)
            }) {
                break;
            }
            if std::time::Instant::now() > deadline {
                return Err(Error::BadInput(format!(
                    "run #{} did not stop within 30 s; nothing was deleted",
                    r.id
                )));
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
    Ok(())
}

fn demo_cmd(
    located: &Located,
    overrides: &Overrides,
    options: &DemoOptions,
    read_only: bool,
) -> Result<()> {
    let DemoOptions {
        reset,
        force,
        no_open,
        history,
    } = *options;
    let dir = &located.dir;
    if !setup::is_demo(dir) && !setup::is_free(dir)? {
        return Err(Error::BadInput(format!(
            "{} ({}) holds a workspace that is not the demo; leaving it alone. Put the demo elsewhere: pilote --workspace DIR demo",
            dir.display(),
            located.origin
        )));
    }
    if reset && setup::is_demo(dir) {
        // Find the data dir through the config before deleting either; a broken demo config
        // just means there is no data dir to find.
        if let Ok(ws) = settings::load(located, overrides) {
            before_reset(&ws, force)?;
            setup::clear_demo_data(&ws)?;
        }
        std::fs::remove_dir_all(dir)
            .map_err(Error::io(format!("cannot delete {}", dir.display())))?;
    }
    let created = !setup::is_demo(dir);
    if created {
        // Away from the default place, the demo keeps its data inside its own dir, so two
        // demos never claim the same data dir.
        setup::write_demo_config(dir, located.origin != settings::Origin::Default)?;
    }
    let (ws, mut store) = open(located, overrides)?;
    demo::prepare(&ws)?;
    if let Some(months) = history {
        if store.has_seeded_history()? {
            errln!("the demo already has its made-up history; `pilote demo --reset` starts afresh");
        } else if !store.runs(None, None, 1)?.is_empty() {
            // Past runs written after real ones would get newer ids and pass for the latest.
            return Err(Error::BadInput(
                "the demo has runs of its own already: the made-up history goes into a fresh \
                 demo (`pilote demo --reset --history N`)"
                    .into(),
            ));
        } else {
            let (requests, runs) = demo::seed_history(&ws, &mut store, months)?;
            errln!("wrote {months} month(s) of made-up history: {requests} requests, {runs} runs");
        }
    }
    let verb = if created { "created" } else { "reusing" };
    errln!(
        "{verb} the pets demo in {} (data in {})",
        dir.display(),
        ws.data_dir.display()
    );
    if no_open || !(std::io::stdout().is_terminal() && std::io::stdin().is_terminal()) {
        print_summary(&ws, &summary(&ws, &store)?, false);
        return Ok(());
    }
    drop(store);
    let options = crate::tui::Options::of(&ws, (located.clone(), overrides.clone()), read_only);
    crate::tui::run(ws, options)
}

fn config_check(located: &Located, overrides: &Overrides, json: bool) -> Result<()> {
    let mut ws = load(located, overrides)?;
    // Not part of every load: it reads files, and only a check need look at secrets now.
    let secrets = crate::settings::check_secret_files(&ws);
    if secrets.has_errors() {
        let mut all = secrets;
        all.0.extend(ws.warnings.0);
        return Err(Error::Invalid(all));
    }
    ws.warnings.0.extend(secrets.0);
    if json {
        let body = json!({
            "ok": true,
            "workspace": ws.settings.name,
            "config_dir": ws.config_dir,
            "data_dir": ws.data_dir,
            "diagnostics": ws.warnings,
        });
        outln!("{body:#}");
    } else {
        if !ws.warnings.is_empty() {
            errln!("{}", ws.warnings);
        }
        let inv = &ws.inventory;
        outln!(
            "{}: ok ({} app{}, {} environment{}, {} host{}, {} lifecycle{})",
            ws.config_dir.display(),
            inv.apps.len(),
            s(inv.apps.len()),
            inv.envs.len(),
            s(inv.envs.len()),
            inv.hosts.len(),
            s(inv.hosts.len()),
            inv.lifecycles.len(),
            s(inv.lifecycles.len()),
        );
    }
    Ok(())
}

fn s(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn print_inventory(ws: &Workspace, json: bool) {
    let inv = &ws.inventory;
    if json {
        let body = json!({
            "workspace": ws.settings.name,
            "config_dir": ws.config_dir,
            "apps": inv.apps,
            "envs": inv.envs,
            "hosts": inv.hosts,
            "lifecycles": inv.lifecycles,
        });
        outln!("{body:#}");
        return;
    }
    let mut rows = Vec::new();
    for app in &inv.apps {
        for domain in &app.domains {
            for env in &inv.envs {
                let hosts = inv.hosts_of(&app.name, &env.name, &domain.name);
                let env_label = if env.protected {
                    format!("{} (protected)", env.name)
                } else {
                    env.name.clone()
                };
                rows.push(vec![
                    app.name.clone(),
                    domain.name.clone(),
                    env_label,
                    if hosts.is_empty() {
                        "-".to_string()
                    } else {
                        hosts.join(", ")
                    },
                ]);
            }
        }
    }
    outln!(
        "{}",
        table::render(&["APP", "DOMAIN", "ENV", "HOSTS"], &rows).trim_end()
    );
}

/// The store's counts, open requests as the lifecycles see them (the store knows states, not
/// which stages a request still has to pass).
fn summary(ws: &Workspace, store: &Store) -> Result<Summary> {
    Ok(Summary {
        requests_open: crate::workflow::open_requests(ws, store)?,
        ..store.summary()?
    })
}

fn print_summary(ws: &Workspace, summary: &Summary, json: bool) {
    let inv = &ws.inventory;
    if json {
        let body = json!({
            "workspace": ws.settings.name,
            "config_dir": ws.config_dir,
            "data_dir": ws.data_dir,
            "apps": inv.apps.iter().map(|a| &a.name).collect::<Vec<_>>(),
            "envs": inv.envs.iter().map(|e| &e.name).collect::<Vec<_>>(),
            "hosts": inv.hosts.len(),
            "store": summary,
        });
        outln!("{body:#}");
        return;
    }
    let apps: Vec<String> = inv
        .apps
        .iter()
        .map(|a| {
            let domains: Vec<&str> = a.domains.iter().map(|d| d.name.as_str()).collect();
            format!("{} ({})", a.name, domains.join(", "))
        })
        .collect();
    let envs: Vec<String> = inv
        .envs
        .iter()
        .map(|e| {
            if e.protected {
                format!("{} (protected)", e.name)
            } else {
                e.name.clone()
            }
        })
        .collect();
    let local = inv
        .hosts
        .iter()
        .filter(|h| h.connection == Connection::Local)
        .count();
    let rows = vec![
        vec!["workspace".into(), ws.settings.name.clone()],
        vec!["config".into(), ws.config_dir.display().to_string()],
        vec!["data".into(), ws.data_dir.display().to_string()],
        vec!["apps".into(), apps.join("; ")],
        vec!["envs".into(), envs.join(" -> ")],
        vec![
            "hosts".into(),
            format!(
                "{} ({local} local, {} ssh)",
                inv.hosts.len(),
                inv.hosts.len() - local
            ),
        ],
        vec![
            "activity".into(),
            format!(
                "{} open request{}, {} active run{}, {} lock{}",
                summary.requests_open,
                s(summary.requests_open as usize),
                summary.runs_active,
                s(summary.runs_active as usize),
                summary.locks,
                s(summary.locks as usize)
            ),
        ],
    ];
    let text = table::render(&["", ""], &rows);
    // The header row of an untitled table is blank: skip it.
    outln!(
        "{}",
        text.split_once('\n')
            .map_or("", |(_, rest)| rest)
            .trim_end()
    );
}
