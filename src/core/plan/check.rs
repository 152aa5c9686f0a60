//! A plan file checked against the catalog and the inventory: every problem at once, with
//! file:line:col, and its rollback validated with it.

use indexmap::IndexMap;
use toml::Spanned;

use super::file::{ActionDef, PhaseDef, PlanFile, UndoTable};
use super::model::{Action, Context, MAX_PLAN_BYTES, Phase, Plan, Undo};
use super::order::{find_cycle, order};
use crate::core::automation::is_name;
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::expand;
use crate::core::inventory::Inventory;
use crate::core::rollback;
use crate::core::source::SourceFile;
use crate::core::value;

/// Parses and checks a plan. `envs` are the environments to check host lists and parameter
/// resolution for; `None` means every environment of the plan's lifecycle.
///
/// Returns the plan when there is no error (warnings allowed), and every diagnostic found.
pub fn check(
    file: &SourceFile,
    ctx: &Context<'_>,
    envs: Option<&[String]>,
) -> (Option<Plan>, Diagnostics) {
    let mut diags = Diagnostics::default();
    if file.text.len() > MAX_PLAN_BYTES {
        diags.push(Diagnostic::file_error(
            file.path(),
            format!(
                "plan is {} bytes, more than the {MAX_PLAN_BYTES} a plan may have",
                file.text.len()
            ),
        ));
        return (None, diags);
    }
    let def: PlanFile = match toml::from_str(&file.text) {
        Ok(d) => d,
        Err(e) => {
            diags.push(Diagnostic::from_toml(file.path(), &file.text, &e));
            return (None, diags);
        }
    };
    let plan = build(file, &def, ctx, &mut diags);
    let Some(plan) = plan else {
        return (None, diags);
    };
    // Resolve every action for every env in scope: missing parameters, empty host lists and
    // placeholders that do not resolve are found now, not at 3 a.m. in prod.
    let scope: Vec<String> = match envs {
        Some(e) => e.to_vec(),
        None => lifecycle_envs(&plan, ctx.inventory),
    };
    // The rollback plan is validated with the plan: an undo that cannot run is found now.
    // The same problem seen again (another env, or the undo of a failing action) is reported once.
    let rollback = rollback::derive(&plan, None);
    let mut seen: Vec<(usize, String)> = Vec::new();
    for env in &scope {
        for (p, prefix) in [(&plan, ""), (&rollback, "rollback: ")] {
            let Err(errors) = expand::expand(p, ctx, env) else {
                continue;
            };
            for e in errors {
                let span = p.actions.get(e.action).map_or(0..0, |a| a.span.clone());
                let repeated = seen
                    .iter()
                    .any(|(at, m)| *at == span.start && m == &e.message);
                if repeated {
                    continue;
                }
                seen.push((span.start, e.message.clone()));
                let mut d = file.at_span(span, format!("{prefix}{}", e.message));
                if let Some(x) = e.expected {
                    d = d.expected(x);
                }
                diags.push(d);
            }
        }
    }
    let ok = !diags.has_errors();
    (ok.then_some(plan), diags)
}

/// The envs a plan is meant for: its lifecycle's (or the app's default lifecycle's).
pub fn lifecycle_envs(plan: &Plan, inv: &Inventory) -> Vec<String> {
    let lc = plan.lifecycle.clone().or_else(|| {
        inv.app(&plan.app)
            .and_then(|a| a.lifecycles.first().cloned())
    });
    lc.and_then(|name| inv.lifecycles.iter().find(|l| l.name == name))
        .map(|l| l.stages.iter().map(|s| s.env.clone()).collect())
        .unwrap_or_default()
}

fn build(
    file: &SourceFile,
    def: &PlanFile,
    ctx: &Context<'_>,
    diags: &mut Diagnostics,
) -> Option<Plan> {
    let errors_before = diags.error_count();
    let inv = ctx.inventory;
    let app_name = def.app.get_ref();
    let app = inv.app(app_name);
    if app.is_none() {
        let known: Vec<String> = inv.apps.iter().map(|a| format!("`{}`", a.name)).collect();
        diags.push(
            file.at(&def.app, format!("unknown app `{app_name}`"))
                .expected(one_of(&known)),
        );
    }
    if let (Some(lc), Some(app)) = (&def.lifecycle, app)
        && !app.lifecycles.contains(lc.get_ref())
    {
        let known: Vec<String> = app.lifecycles.iter().map(|l| format!("`{l}`")).collect();
        diags.push(
            file.at(
                lc,
                format!("app `{app_name}` has no lifecycle `{}`", lc.get_ref()),
            )
            .expected(one_of(&known)),
        );
    }
    // Variables: names, and no secret written in clear.
    let mut vars = IndexMap::new();
    for (k, v) in &def.vars {
        check_literal_secret(file, k, v, diags);
        vars.insert(k.get_ref().clone(), v.get_ref().clone());
    }

    let phases = check_phases(file, &def.phases, diags);
    let mut actions = Vec::new();
    let mut ids: IndexMap<&str, usize> = IndexMap::new();
    if def.actions.get_ref().is_empty() {
        diags.push(file.at(&def.actions, "the plan has no action"));
    }
    for a in def.actions.get_ref() {
        let id = a.id.get_ref();
        if !is_name(id) {
            diags.push(
                file.at(&a.id, format!("invalid action id `{id}`"))
                    .expected("lowercase letters, digits, `-` or `_`"),
            );
        }
        if let Some(first) = ids.get(id.as_str()) {
            diags.push(file.at(
                &a.id,
                format!(
                    "action id `{id}` is used twice (first at line {})",
                    file.line_of(*first)
                ),
            ));
        } else {
            ids.insert(id, a.id.span().start);
        }
        if let Some(action) = check_action(file, a, &vars, app, &phases, ctx, diags) {
            actions.push(action);
        }
    }
    if !phases.is_empty() {
        for p in &def.phases {
            let named = |a: &ActionDef| {
                a.phase
                    .as_ref()
                    .is_some_and(|q| q.get_ref() == p.id.get_ref())
            };
            if !def.actions.get_ref().iter().any(named) {
                diags.push(
                    file.at(&p.id, format!("phase `{}` has no action", p.id.get_ref()))
                        .warning(),
                );
            }
        }
    }
    if diags.error_count() != errors_before {
        return None;
    }
    let batches = order(&phases, &actions);
    Some(Plan {
        app: app_name.clone(),
        lifecycle: def.lifecycle.as_ref().map(|l| l.get_ref().clone()),
        description: def.description.clone(),
        vars,
        phases,
        actions,
        batches,
    })
}

fn check_phases(file: &SourceFile, defs: &[PhaseDef], diags: &mut Diagnostics) -> Vec<Phase> {
    let mut phases: Vec<Phase> = Vec::new();
    for p in defs {
        if !is_name(p.id.get_ref()) {
            diags.push(file.at(&p.id, format!("invalid phase id `{}`", p.id.get_ref())));
        }
        if phases.iter().any(|q| &q.id == p.id.get_ref()) {
            diags.push(file.at(
                &p.id,
                format!("phase `{}` is defined twice", p.id.get_ref()),
            ));
        }
        phases.push(Phase {
            id: p.id.get_ref().clone(),
            title: p.title.clone(),
            after: Vec::new(),
            parallel: p.parallel,
        });
    }
    for (i, p) in defs.iter().enumerate() {
        for dep in &p.after {
            match phases.iter().position(|q| &q.id == dep.get_ref()) {
                Some(j) if j == i => {
                    diags.push(file.at(dep, format!("phase `{}` runs after itself", dep.get_ref())))
                }
                Some(j) => phases[i].after.push(j),
                None => {
                    let known: Vec<String> = phases.iter().map(|q| format!("`{}`", q.id)).collect();
                    diags.push(
                        file.at(dep, format!("unknown phase `{}`", dep.get_ref()))
                            .expected(one_of(&known)),
                    );
                }
            }
        }
    }
    if let Some(cycle) = find_cycle(&phases) {
        let names: Vec<&str> = cycle.iter().map(|i| phases[*i].id.as_str()).collect();
        let first = &defs[cycle[0]];
        diags.push(file.at(
            &first.id,
            format!(
                "phases form a cycle: {} -> {}",
                names.join(" -> "),
                names[0]
            ),
        ));
    }
    phases
}

fn check_action(
    file: &SourceFile,
    a: &ActionDef,
    plan_vars: &IndexMap<String, toml::Value>,
    app: Option<&crate::core::inventory::App>,
    phases: &[Phase],
    ctx: &Context<'_>,
    diags: &mut Diagnostics,
) -> Option<Action> {
    let errors_before = diags.error_count();
    let phase = match (&a.phase, phases.is_empty()) {
        (Some(p), _) => match phases.iter().position(|q| &q.id == p.get_ref()) {
            Some(i) => Some(i),
            None => {
                let known: Vec<String> = phases.iter().map(|q| format!("`{}`", q.id)).collect();
                diags.push(
                    file.at(p, format!("unknown phase `{}`", p.get_ref()))
                        .expected(one_of(&known)),
                );
                None
            }
        },
        (None, false) => {
            diags.push(file.at(
                &a.id,
                format!(
                    "action `{}` names no phase, but the plan has phases",
                    a.id.get_ref()
                ),
            ));
            None
        }
        (None, true) => None,
    };
    let with = check_use(
        file,
        &a.uses,
        a.with.iter(),
        &a.id,
        plan_vars,
        app,
        ctx,
        diags,
    );

    let automation = ctx.catalog.get(a.uses.get_ref());
    let undo = match &a.undo {
        None => {
            if let Some(r) = &a.undo_reason {
                diags.push(file.at(
                    r,
                    "`undo_reason` explains `undo = \"none\"`, but there is no such undo",
                ));
            }
            if automation.is_some_and(|au| au.changes_state) {
                diags.push(
                    file.at(
                        &a.id,
                        format!(
                            "action `{}` changes state but declares no undo; its rollback would do nothing",
                            a.id.get_ref()
                        ),
                    )
                    .expected("`undo = \"automation-name\"`, or `undo = \"none\"` with `undo_reason = \"...\"`")
                    .warning(),
                );
            }
            Undo::Undeclared
        }
        Some(u) => match u.get_ref() {
            toml::Value::String(s) if s == "none" => Undo::Nothing {
                reason: a.undo_reason.as_ref().map(|r| r.get_ref().clone()),
            },
            toml::Value::String(s) => {
                check_undo_target(file, u, s, plan_vars, app, ctx, &IndexMap::new(), diags);
                Undo::Run {
                    uses: s.clone(),
                    title: undo_title(ctx, s, &a.title),
                    with: IndexMap::new(),
                }
            }
            toml::Value::Table(t) => match toml::Value::Table(t.clone()).try_into::<UndoTable>() {
                Ok(ut) => {
                    check_undo_target(file, u, &ut.uses, plan_vars, app, ctx, &ut.with, diags);
                    Undo::Run {
                        title: ut
                            .title
                            .unwrap_or_else(|| undo_title(ctx, &ut.uses, &a.title)),
                        uses: ut.uses,
                        with: ut.with,
                    }
                }
                Err(e) => {
                    diags.push(
                        file.at(u, format!("invalid undo: {}", e.message().trim()))
                            .expected("`undo = { uses = \"automation\", with = { ... } }`"),
                    );
                    Undo::Undeclared
                }
            },
            _ => {
                diags.push(
                    file.at(u, "invalid undo")
                        .expected("an automation name, `\"none\"`, or `{ uses = \"automation\", with = { ... } }`"),
                );
                Undo::Undeclared
            }
        },
    };
    if matches!(undo, Undo::Run { .. }) && a.undo_reason.is_some() {
        diags.push(
            file.at(
                a.undo_reason.as_ref()?,
                "`undo_reason` only goes with `undo = \"none\"`",
            )
            .warning(),
        );
    }
    (diags.error_count() == errors_before).then(|| Action {
        id: a.id.get_ref().clone(),
        title: a.title.clone(),
        uses: a.uses.get_ref().clone(),
        with,
        undo,
        phase,
        span: a.uses.span(),
    })
}

fn undo_title(ctx: &Context<'_>, uses: &str, action_title: &str) -> String {
    ctx.catalog
        .get(uses)
        .map(|a| a.description.clone())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| format!("Undo: {action_title}"))
}

/// Checks an undo's automation and parameters; spans point at the whole `undo` value.
#[expect(
    clippy::too_many_arguments,
    reason = "two call sites, each a distinct input"
)]
fn check_undo_target(
    file: &SourceFile,
    at: &Spanned<toml::Value>,
    uses: &str,
    plan_vars: &IndexMap<String, toml::Value>,
    app: Option<&crate::core::inventory::App>,
    ctx: &Context<'_>,
    with: &IndexMap<String, toml::Value>,
    diags: &mut Diagnostics,
) {
    let uses_spanned = Spanned::new(at.span(), uses.to_string());
    let spanned: Vec<(Spanned<String>, Spanned<toml::Value>)> = with
        .iter()
        .map(|(k, v)| {
            (
                Spanned::new(at.span(), k.clone()),
                Spanned::new(at.span(), v.clone()),
            )
        })
        .collect();
    check_use(
        file,
        &uses_spanned,
        spanned.iter().map(|(k, v)| (k, v)),
        at,
        plan_vars,
        app,
        ctx,
        diags,
    );
}

/// Checks that `uses` names an automation for the app's domains, that `with` gives it known,
/// well-typed parameters, and that every required parameter has a value somewhere (`with`,
/// the plan's, an environment's or the workspace's `[vars]`). Returns the parameters as given.
#[expect(
    clippy::too_many_arguments,
    reason = "two call sites, each a distinct input"
)]
fn check_use<'a, T>(
    file: &SourceFile,
    uses: &Spanned<String>,
    with: impl Iterator<Item = (&'a Spanned<String>, &'a Spanned<toml::Value>)>,
    owner: &Spanned<T>,
    plan_vars: &IndexMap<String, toml::Value>,
    app: Option<&crate::core::inventory::App>,
    ctx: &Context<'_>,
    diags: &mut Diagnostics,
) -> IndexMap<String, toml::Value> {
    let mut out = IndexMap::new();
    let Some(automation) = ctx.catalog.get(uses.get_ref()) else {
        let mut near: Vec<&str> = ctx
            .catalog
            .names()
            .filter(|n| similar(n, uses.get_ref()))
            .collect();
        if near.is_empty() {
            near = ctx.catalog.names().collect();
        }
        let known: Vec<String> = near.iter().map(|n| format!("`{n}`")).collect();
        diags.push(
            file.at(uses, format!("unknown automation `{}`", uses.get_ref()))
                .expected(one_of(&known)),
        );
        for (k, v) in with {
            out.insert(k.get_ref().clone(), v.get_ref().clone());
        }
        return out;
    };
    if let (Some(domain), Some(app)) = (&automation.domain, app)
        && !app.domains.iter().any(|d| &d.name == domain)
    {
        let known: Vec<String> = app
            .domains
            .iter()
            .map(|d| format!("`{}`", d.name))
            .collect();
        diags.push(
            file.at(
                uses,
                format!(
                    "automation `{}` targets domain `{domain}`, which app `{}` does not have",
                    automation.name, app.name
                ),
            )
            .expected(format!("an automation for {}", one_of(&known))),
        );
    }
    for (k, v) in with {
        out.insert(k.get_ref().clone(), v.get_ref().clone());
        let Some(param) = automation.params.iter().find(|p| &p.name == k.get_ref()) else {
            let known: Vec<String> = automation
                .params
                .iter()
                .map(|p| format!("`{}`", p.name))
                .collect();
            diags.push(
                file.at(
                    k,
                    format!(
                        "automation `{}` has no parameter `{}`",
                        automation.name,
                        k.get_ref()
                    ),
                )
                .expected(if known.is_empty() {
                    "no parameter at all".to_string()
                } else {
                    one_of(&known)
                }),
            );
            continue;
        };
        if let Err(m) = value::typed(param.ty, v.get_ref()) {
            diags.push(
                file.at(v, format!("parameter `{}`: {}", param.name, m.message))
                    .expected(m.expected),
            );
        }
    }
    for p in &automation.params {
        let given = out.contains_key(&p.name)
            || p.default.is_some()
            || plan_vars.contains_key(&p.name)
            || ctx.workspace_vars.contains_key(&p.name)
            || ctx
                .inventory
                .envs
                .iter()
                .any(|e| e.vars.contains_key(&p.name));
        if !given {
            diags.push(
                file.at(owner, format!("missing parameter `{}` of automation `{}`", p.name, automation.name))
                    .expected(format!(
                        "`with = {{ {} = ... }}`, or `{}` in the plan's, an environment's or the workspace's `[vars]`",
                        p.name, p.name
                    )),
            );
        }
    }
    out
}

/// A plan variable that looks like a secret and is written in clear is an error: secrets are
/// given by reference (`{ env = "..." }` / `{ file = "..." }`).
fn check_literal_secret(
    file: &SourceFile,
    k: &Spanned<String>,
    v: &Spanned<toml::Value>,
    diags: &mut Diagnostics,
) {
    let key = k.get_ref().to_ascii_lowercase();
    let secretish = [
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "private_key",
    ]
    .iter()
    .any(|w| key.contains(w));
    if secretish && matches!(v.get_ref(), toml::Value::String(s) if !value::has_placeholder(s)) {
        diags.push(
            file.at(
                v,
                format!("`{}` looks like a secret written in clear", k.get_ref()),
            )
            .expected("a reference: `{ env = \"VAR_NAME\" }` or `{ file = \"/path/to/secret\" }`"),
        );
    }
}

/// Close enough to be a typo: same prefix of 3, or one contains the other.
fn similar(a: &str, b: &str) -> bool {
    let prefix = |s: &str| s.chars().take(3).collect::<String>();
    a.contains(b) || b.contains(a) || (a.chars().count() >= 3 && prefix(a) == prefix(b))
}

fn one_of(known: &[String]) -> String {
    match known.len() {
        0 => "a defined name (none is defined)".into(),
        1 => known[0].clone(),
        _ => format!("one of {}", known.join(", ")),
    }
}
