//! The store workers: threads that own a store connection each and turn [`Effect`]s into
//! [`Msg`]s, so the loop never waits on SQLite, a file or a process.
//!
//! Two of them: reads (lists, log pages, searches) and actions (approve, deploy, rollback,
//! which re-hash a package and may take seconds). A slow action never freezes the log.
//! Threads rather than tokio tasks: rusqlite is synchronous and each connection has one
//! owner; a thread per connection says so plainly.

use std::sync::mpsc::{Receiver, Sender};

use super::action::{Effect, Msg, Problem, SavePlan};
use super::config_watch::ConfigWatch;
use super::data;
use crate::core::diagnostic::Severity;
use crate::error::Error;
use crate::settings::{Located, Overrides, Workspace};
use crate::store::Store;

/// What the loop receives: a key or mouse event from the terminal, or a worker's answer.
pub enum Event {
    Term(ratatui::crossterm::event::Event),
    /// The terminal cannot be read any more.
    Closed,
    Msg(Msg),
}

/// Serves effects until the loop goes away. With `reload`, the workspace config is read
/// again before each effect, so it acts on the config as it is now.
pub fn serve(
    ws: Workspace,
    (reload, mut watch): (Option<(Located, Overrides)>, Option<ConfigWatch>),
    mut store: Store,
    effects: Receiver<Effect>,
    out: Sender<Event>,
) {
    while let Ok(effect) = effects.recv() {
        if matches!(effect, Effect::Refresh { .. })
            && let Some(problem) = watch.as_mut().and_then(ConfigWatch::changed)
            && out.send(Event::Msg(Msg::Config(problem))).is_err()
        {
            return;
        }
        // A store deleted or replaced under the console (`pilote demo --reset` in another
        // terminal) would still answer, from a file no one else sees: neither shown nor acted on.
        let msg = if !store.still_at_path() {
            Msg::StoreGone(format!(
                "the store was replaced or deleted since this console opened it ({}): \
                 what it showed is gone; quit and open the console again",
                store.path().display()
            ))
        } else {
            match &reload {
                None => handle(&ws, &mut store, effect),
                // A config broken now still serves: cancel and rollback work from the store;
                // deploys, approvals and edits refuse it, saying why (`require_sound`).
                Some((located, overrides)) => {
                    match crate::workflow::reload(located, overrides, &mut store) {
                        Ok(now) => {
                            // Webhooks added (or removed) while the console is open count from now.
                            if now.broken.is_none()
                                && let Err(e) = crate::integrations::webhooks::arm(&now, &mut store)
                            {
                                tracing::warn!(error = %e, "cannot turn notifications on or off");
                            }
                            handle(&now, &mut store, effect)
                        }
                        Err(e) => Msg::Failed(format!(
                            "the workspace config has a problem now; fix it first (`pilote config check`):\n{e}"
                        )),
                    }
                }
            }
        };
        if out.send(Event::Msg(msg)).is_err() {
            return;
        }
    }
}

fn failed(e: Error) -> Msg {
    Msg::Failed(e.to_string())
}

fn handle(ws: &Workspace, store: &mut Store, effect: Effect) -> Msg {
    match effect {
        Effect::Refresh { request, run } => {
            let read = data::load(ws, store, request).map(Box::new);
            match (read, run) {
                (Err(e), _) => Msg::ReadFailed(format!("cannot read the store: {e}")),
                (Ok(d), None) => Msg::Data(d),
                (Ok(mut d), Some(run)) => {
                    d.steps = store.step_runs(run).ok().map(|s| (run, s));
                    Msg::Data(d)
                }
            }
        }
        Effect::Log {
            run,
            filter,
            anchor,
            part,
            generation,
        } => match store.log_last_seq(run).and_then(|upto| {
            // Read before the page: a line written in between comes twice, never not at all.
            Ok((
                upto,
                store.log_window(run, &filter, anchor, super::panes::runs::WINDOW)?,
            ))
        }) {
            Ok((upto, lines)) => Msg::Log {
                run,
                part,
                generation,
                upto,
                lines,
            },
            Err(e) => Msg::LogFailed {
                generation,
                error: e.to_string(),
            },
        },
        Effect::Find {
            run,
            filter,
            needle,
            from,
            backward,
        } => match store.log_find(run, &filter, &needle, from, backward) {
            Ok(seq) => Msg::Found { run, needle, seq },
            Err(e) => Msg::Failed(e.to_string()),
        },
        Effect::Transition { id, to } => match crate::workflow::transition(ws, store, id, to) {
            Ok(()) => Msg::Done(format!("request #{id} {to}")),
            Err(e) => failed(e),
        },
        Effect::Decide {
            id,
            env,
            decision,
            comment,
            shown,
        } => match crate::workflow::decide(ws, store, id, &env, decision, &comment, Some(&shown)) {
            Ok(()) => Msg::Done(format!("request #{id}: {decision} for {env}")),
            Err(e) => failed(e),
        },
        Effect::Schedule { id, env, at } => {
            match crate::workflow::schedule(ws, store, id, &env, &at) {
                Ok(when) => Msg::Done(format!(
                    "request #{id}: {env} planned for {}",
                    crate::clock::format_ms(when)
                )),
                Err(e) => failed(e),
            }
        }
        Effect::PrepareDeploy {
            id,
            env,
            override_freeze,
        } => match crate::workflow::prepare_deploy(ws, store, id, &env, override_freeze.as_deref())
        {
            Ok(p) => Msg::DeployPreview {
                preview: Box::new(p),
                override_freeze,
            },
            Err(e) => failed(e),
        },
        Effect::StartDeploy {
            preview,
            override_freeze,
        } => match crate::workflow::start_deploy(ws, store, &preview, override_freeze.as_deref()) {
            Ok(run) => Msg::Started {
                run,
                what: format!(
                    "deploy of request #{} to {}",
                    preview.request.id, preview.env
                ),
            },
            Err(e) => failed(e),
        },
        Effect::PrepareRollback { app, env } => {
            match crate::workflow::prepare_rollback(ws, store, &app, &env) {
                Ok(p) => Msg::RollbackPreview(Box::new(p)),
                Err(e) => failed(e),
            }
        }
        Effect::StartRollback { preview, reason } => {
            match crate::workflow::start_rollback(ws, store, &preview, reason.as_deref()) {
                Ok(run) => Msg::Started {
                    run,
                    what: format!("rollback of {} on {}", preview.app, preview.env),
                },
                Err(e) => failed(e),
            }
        }
        Effect::Command { run, command } => {
            match crate::workflow::send_command(ws, store, run, command) {
                Ok(()) => Msg::Done(match command {
                    "cancel" => format!("run #{run}: cancelling, its steps are being stopped"),
                    "confirm" => format!("run #{run}: gate confirmed"),
                    _ => format!("run #{run}: aborted at its gate"),
                }),
                Err(e) => failed(e),
            }
        }
        Effect::Resume { run } => match crate::workflow::resume(ws, store, run) {
            Ok(()) => Msg::Started {
                run,
                what: format!("resume of run #{run}"),
            },
            Err(e) => failed(e),
        },
        // A request's plan is the one it was filed with, as its approvals are bound to it:
        // the file of that name may have changed since, or be another (a team's plan of the
        // same name as a member's own file).
        Effect::OpenPlan {
            path,
            request: Some(id),
        } if let Ok(Some(r)) = store.request(id) => Msg::PlanOpened {
            path: r.plan_path.unwrap_or(path),
            text: r.plan_body,
            request: Some(id),
        },
        Effect::OpenPlan { path, request } => match crate::workflow::read_plan(ws, path.as_ref()) {
            Ok(source) => Msg::PlanOpened {
                path: source.path.display().to_string(),
                text: source.text,
                request,
            },
            Err(e) => failed(e),
        },
        Effect::CheckPlan {
            path,
            text,
            env,
            version,
        } => check_plan(ws, path, text, env, version),
        Effect::SavePlan(save) => save_plan(ws, store, save),
        Effect::Metrics { query, asked } => {
            match crate::workflow::metrics::compute(ws, store, &query) {
                Ok(m) => Msg::Metrics {
                    asked,
                    indicators: Box::new(m),
                },
                Err(e) => Msg::ReadFailed(format!("cannot read the metrics: {e}")),
            }
        }
    }
}

/// Validates the editor's text as the plans issue's validator does, and lists the plan's
/// expansion for `env` and its derived rollback.
fn check_plan(
    ws: &Workspace,
    path: String,
    text: String,
    env: Option<String>,
    version: u64,
) -> Msg {
    let source = crate::core::SourceFile::new(path, text);
    let (plan, diags) = crate::workflow::checked(ws, &source, env.as_deref());
    let problems = diags
        .0
        .iter()
        .map(|d| Problem {
            line: d.line.max(1),
            col: d.col.max(1),
            error: d.severity == Severity::Error,
            message: match &d.expected {
                Some(x) => format!("{}; expected {x}", d.message),
                None => d.message.clone(),
            },
        })
        .collect();
    let mut side = String::new();
    if let (Some(plan), Some(env)) = (plan, env) {
        let ctx = ws.plan_context();
        let back = crate::core::rollback::derive(&plan, None);
        match crate::core::expand::expand(&plan, &ctx, &env)
            .and_then(|x| crate::core::expand::expand(&back, &ctx, &env).map(|b| (x, b)))
        {
            Ok((x, b)) => {
                crate::workflow::render(&mut side, &format!("On {env}"), &x);
                crate::workflow::render(&mut side, "Derived rollback", &b);
            }
            Err(errors) => {
                for e in errors {
                    side.push_str(&format!("{}\n", e.message));
                }
            }
        }
    }
    Msg::PlanChecked {
        version,
        problems,
        side,
    }
}

/// Writes the plan file (a temporary file renamed over it: never half written), then
/// replaces the plan of the request it was opened from, if that request is live and the
/// plan valid. Asks first when that voids approvals, or when the file changed on disk since
/// it was opened (another console, an editor): nothing is lost without a yes.
fn save_plan(ws: &Workspace, store: &mut Store, save: Box<SavePlan>) -> Msg {
    let SavePlan {
        path,
        text,
        base,
        request,
        confirmed,
    } = save.as_ref();
    let on_disk = std::fs::read_to_string(path).unwrap_or_default();
    // A request being deployed keeps the plan its run was created with.
    let filed = match request.map(|id| store.request(id)).transpose() {
        Ok(r) => r.flatten().filter(|r| {
            r.plan_body != *text
                && !matches!(
                    r.state.as_str(),
                    "cancelled" | "closed" | "rejected" | "deploying"
                )
        }),
        Err(e) => return Msg::Failed(e.to_string()),
    };
    // A plan with errors is saved (work in progress), but no request takes it.
    let source = crate::core::SourceFile::new(path.clone(), text.clone());
    let errors = crate::workflow::checked(ws, &source, None).1.error_count();
    if !confirmed {
        let mut warnings = Vec::new();
        if on_disk != *base {
            warnings.push(format!(
                "{path} changed on disk since it was opened here (another console or an \
                 editor): saving overwrites those changes."
            ));
        }
        if let Some(r) = filed.as_ref().filter(|_| errors == 0) {
            let n = store
                .approvals(r.id, &r.approval_digest(&ws.catalog_digest))
                .map(|a| a.iter().filter(|a| a.current).count())
                .unwrap_or(0);
            if n > 0 {
                warnings.push(format!(
                    "Saving replaces the plan of request #{} and VOIDS its {n} approval(s): \
                     it must be approved again.",
                    r.id
                ));
            }
        }
        if !warnings.is_empty() {
            return Msg::SaveNeedsConfirm {
                save,
                warning: warnings.join("\n\n"),
            };
        }
    }
    let target = std::path::Path::new(path);
    // The file keeps its mode (pilote's own umask is 077: a plain write would make a plan
    // the team reads private to whoever saved it), and two consoles saving it at once each
    // write their own temporary file.
    if let Err(e) = crate::fsutil::write_atomic(target, text.as_bytes(), None) {
        return Msg::Failed(format!("cannot write {path}: {e}"));
    }
    let text = text.clone();
    let note = match filed {
        None if errors > 0 => format!("saved {path}, with {errors} error(s)"),
        None => format!("saved {path}"),
        Some(r) if errors > 0 => format!(
            "saved {path}, with {errors} error(s): request #{} keeps its plan until this one is valid",
            r.id
        ),
        Some(r) => match crate::workflow::replan(ws, store, r.id, target) {
            Ok(voided) => format!(
                "saved {path}; plan of request #{} replaced, {voided} approval(s) voided",
                r.id
            ),
            Err(e) => return Msg::Failed(format!("saved {path}, but request #{}: {e}", r.id)),
        },
    };
    Msg::Saved { text, note }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn workspace() -> (tempfile::TempDir, Workspace, Store) {
        let dir = tempfile::tempdir().expect("tmp");
        let ws = crate::settings::load(
            &Located {
                dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/config"),
                origin: crate::settings::Origin::Flag,
            },
            &Overrides {
                data_dir: Some(dir.path().join("data")),
                ..Overrides::default()
            },
        )
        .expect("demo config");
        let store = Store::open(
            &ws.data_dir,
            &ws.config_dir,
            std::time::Duration::from_secs(1),
        )
        .expect("store");
        (dir, ws, store)
    }

    fn save(path: &std::path::Path, text: &str, base: &str, confirmed: bool) -> Box<SavePlan> {
        Box::new(SavePlan {
            path: path.display().to_string(),
            text: text.into(),
            base: base.into(),
            request: None,
            confirmed,
        })
    }

    #[test]
    fn a_plan_changed_on_disk_since_it_was_opened_is_not_overwritten_without_a_yes() {
        let (dir, ws, mut store) = workspace();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "app = \"pets\"\n# theirs\n").expect("write");
        let msg = save_plan(
            &ws,
            &mut store,
            save(&path, "app = \"pets\"\n# mine\n", "app = \"pets\"\n", false),
        );
        let Msg::SaveNeedsConfirm {
            save: again,
            warning,
        } = msg
        else {
            panic!("{msg:?}");
        };
        assert!(warning.contains("changed on disk"), "{warning}");
        assert!(
            std::fs::read_to_string(&path)
                .expect("read")
                .contains("theirs"),
            "nothing written before the yes"
        );
        let msg = save_plan(
            &ws,
            &mut store,
            Box::new(SavePlan {
                confirmed: true,
                ..*again
            }),
        );
        assert!(matches!(msg, Msg::Saved { .. }), "{msg:?}");
        assert!(
            std::fs::read_to_string(&path)
                .expect("read")
                .contains("mine")
        );
        assert!(!path.with_extension("toml.pilote-part").exists());
    }

    #[test]
    fn a_plan_with_errors_is_saved_as_work_in_progress() {
        let (dir, ws, mut store) = workspace();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, "").expect("write");
        let msg = save_plan(&ws, &mut store, save(&path, "app = \n", "", false));
        let Msg::Saved { note, .. } = msg else {
            panic!("{msg:?}");
        };
        assert!(note.contains("with 1 error(s)"), "{note}");
    }
}
