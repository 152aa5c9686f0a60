//! The inventory and lifecycles files checked: `resolve` turns the file shapes into the
//! plain model of `core::inventory`, reporting every cross-reference
//! problem (unknown app, domain, env, host or lifecycle; a host listed twice) as a diagnostic.

use std::collections::HashMap;
use std::path::Path;

use toml::Spanned;

use super::files::{InventoryFile, LifecyclesFile};
use crate::core::diagnostic::{Diagnostic, Diagnostics};
use crate::core::inventory::{
    App, Domain, DomainHosts, Env, EnvApp, Freeze, Group, HOST_NAME_RULE, Host, Inventory,
    Lifecycle, Stage, is_host_name,
};

/// A local date or date-time as UTC ms: a date means its start, or with `end`, the start of
/// the next day (so `to = "2027-01-04"` includes that day).
fn local_ms(text: &str, end: bool) -> Option<i64> {
    crate::clock::parse_local_bound(text, end)
}

/// One source file and its text, for locating spans.
pub struct Source<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

impl Source<'_> {
    fn at<T>(&self, item: &Spanned<T>, message: impl Into<String>) -> Diagnostic {
        Diagnostic::at(self.path, self.text, item.span(), message)
    }
}

/// Checks names and cross-references and builds the plain inventory.
///
/// Returns `None` only when the diagnostics hold errors; every problem found is reported.
pub fn resolve(
    inv: &InventoryFile,
    inv_src: &Source<'_>,
    lcs: &LifecyclesFile,
    lc_src: &Source<'_>,
    diags: &mut Diagnostics,
) -> Option<Inventory> {
    let errors_before = diags.error_count();

    let apps = resolve_apps(inv, inv_src, lcs, diags);
    let hosts = resolve_hosts(inv, inv_src, diags);
    let envs = resolve_envs(inv, inv_src, diags);
    let lifecycles = resolve_lifecycles(inv, lcs, lc_src, diags);
    let groups = lcs
        .groups
        .iter()
        .map(|(name, members)| {
            check_name(name, "group", lc_src, diags);
            Group {
                name: name.get_ref().clone(),
                members: members.iter().map(|m| m.get_ref().clone()).collect(),
            }
        })
        .collect();

    (diags.error_count() == errors_before).then_some(Inventory {
        apps,
        envs,
        hosts,
        lifecycles,
        groups,
    })
}

fn resolve_apps(
    inv: &InventoryFile,
    src: &Source<'_>,
    lcs: &LifecyclesFile,
    diags: &mut Diagnostics,
) -> Vec<App> {
    let mut apps = Vec::new();
    for (name, def) in &inv.apps {
        check_name(name, "app", src, diags);
        if def.domains.is_empty() {
            diags.push(
                src.at(name, format!("app `{}` has no domain", name.get_ref()))
                    .expected("at least one `[apps.NAME.domains.DOMAIN]` table"),
            );
        }
        for (domain, d) in &def.domains {
            check_name(domain, "domain", src, diags);
            if let Some(c) = d.check.as_ref().filter(|c| c.get_ref().trim().is_empty()) {
                diags.push(
                    src.at(
                        c,
                        format!("the check of domain `{}` is empty", domain.get_ref()),
                    )
                    .expected("a shell command, or no `check` key"),
                );
            }
        }
        if def.lifecycles.is_empty() {
            diags.push(
                src.at(name, format!("app `{}` lists no lifecycle", name.get_ref()))
                    .expected(format!(
                        "lifecycles = [{}]",
                        quoted_list(lcs.lifecycles.keys())
                    )),
            );
        }
        for lc in &def.lifecycles {
            if !lcs.lifecycles.contains_key(lc.get_ref().as_str()) {
                diags.push(
                    src.at(lc, format!("unknown lifecycle `{}`", lc.get_ref()))
                        .expected(one_of(lcs.lifecycles.keys())),
                );
            }
        }
        apps.push(App {
            name: name.get_ref().clone(),
            description: def.description.clone(),
            domains: def
                .domains
                .iter()
                .map(|(d, def)| Domain {
                    name: d.get_ref().clone(),
                    description: def.description.clone(),
                    check: def.check.as_ref().map(|c| c.get_ref().clone()),
                })
                .collect(),
            lifecycles: def.lifecycles.iter().map(|l| l.get_ref().clone()).collect(),
        });
    }
    apps
}

fn resolve_hosts(inv: &InventoryFile, src: &Source<'_>, diags: &mut Diagnostics) -> Vec<Host> {
    inv.hosts
        .iter()
        .map(|(name, def)| {
            if !is_host_name(name.get_ref()) {
                diags.push(
                    src.at(name, format!("invalid host name `{}`", name.get_ref()))
                        .expected(HOST_NAME_RULE),
                );
            }
            for var in def.vars.keys() {
                // `HOST_<NAME>` in every step's environment: `A=B`, a NUL or a `;` there
                // would set another variable, cut the list short or reach a shell.
                if !crate::core::value::is_identifier(var.get_ref()) {
                    diags.push(
                        src.at(
                            var,
                            format!("invalid host variable name `{}`", var.get_ref()),
                        )
                        .expected(
                            "letters, digits and `_`, not starting with a digit \
                                 ([A-Za-z_][A-Za-z0-9_]*): it becomes an environment variable",
                        ),
                    );
                }
            }
            Host {
                name: name.get_ref().clone(),
                connection: def.connection,
                address: def
                    .address
                    .clone()
                    .unwrap_or_else(|| name.get_ref().clone()),
                user: def.user.clone(),
                port: def.port,
                shared: def.shared,
                vars: def
                    .vars
                    .iter()
                    .map(|(k, v)| (k.get_ref().clone(), v.clone()))
                    .collect(),
            }
        })
        .collect()
}

fn resolve_envs(inv: &InventoryFile, src: &Source<'_>, diags: &mut Diagnostics) -> Vec<Env> {
    // Which env first claimed each host: one host in two envs would let a uat run touch prod.
    let mut host_env: HashMap<&str, &str> = HashMap::new();
    let mut envs = Vec::new();
    for (env_name, env) in &inv.envs {
        check_name(env_name, "environment", src, diags);
        let mut apps = Vec::new();
        for (app_name, domains) in &env.apps {
            let Some(app) = inv.apps.get(app_name.get_ref().as_str()) else {
                diags.push(
                    src.at(
                        app_name,
                        format!(
                            "environment `{}` names unknown app `{}`",
                            env_name.get_ref(),
                            app_name.get_ref()
                        ),
                    )
                    .expected(one_of(inv.apps.keys())),
                );
                continue;
            };
            let mut resolved = Vec::new();
            for (domain, hosts) in domains {
                if !app.domains.contains_key(domain.get_ref().as_str()) {
                    diags.push(
                        src.at(
                            domain,
                            format!(
                                "environment `{}` names domain `{}`, which app `{}` does not define",
                                env_name.get_ref(),
                                domain.get_ref(),
                                app_name.get_ref()
                            ),
                        )
                        .expected(one_of(app.domains.keys())),
                    );
                }
                let mut seen: Vec<&str> = Vec::new();
                for host in hosts {
                    let h = host.get_ref().as_str();
                    if seen.contains(&h) {
                        diags.push(src.at(
                            host,
                            format!(
                                "host `{h}` is listed twice for domain `{}` of app `{}` in environment `{}`",
                                domain.get_ref(),
                                app_name.get_ref(),
                                env_name.get_ref()
                            ),
                        ));
                        continue;
                    }
                    seen.push(h);
                    if !inv.hosts.contains_key(h) {
                        diags.push(
                            src.at(host, format!("unknown host `{h}`"))
                                .expected(format!("a `[hosts.{h}]` table in the inventory")),
                        );
                    }
                    let shared = inv.hosts.get(h).is_some_and(|d| d.shared);
                    match host_env.get(h) {
                        Some(other) if *other != env_name.get_ref().as_str() && !shared => {
                            diags.push(src.at(
                                host,
                                format!(
                                    "host `{h}` is listed in environment `{other}` and again in `{}`; an environment must not share hosts with another",
                                    env_name.get_ref()
                                ),
                            ).expected(format!("another host, or `shared = true` in `[hosts.{h}]` if both environments really use it")));
                        }
                        _ => {
                            host_env.insert(h, env_name.get_ref());
                        }
                    }
                }
                resolved.push(DomainHosts {
                    domain: domain.get_ref().clone(),
                    hosts: seen.iter().map(|h| h.to_string()).collect(),
                });
            }
            apps.push(EnvApp {
                app: app_name.get_ref().clone(),
                domains: resolved,
            });
        }
        let mut freezes = Vec::new();
        for f in &env.freeze {
            let bad = |v: &Spanned<String>, diags: &mut Diagnostics| {
                diags.push(
                    src.at(v, format!("`{}` is not a date", v.get_ref()))
                        .expected(
                            "a local date \"YYYY-MM-DD\" or date and time \"YYYY-MM-DD HH:MM\"",
                        ),
                );
            };
            match (
                local_ms(f.from.get_ref(), false),
                local_ms(f.to.get_ref(), true),
            ) {
                (Some(from), Some(to)) if from < to => freezes.push(Freeze {
                    from,
                    to,
                    label: format!(
                        "{} → {}{}",
                        f.from.get_ref(),
                        f.to.get_ref(),
                        if f.reason.is_empty() {
                            String::new()
                        } else {
                            format!(" ({})", f.reason)
                        }
                    ),
                }),
                (Some(_), Some(_)) => diags.push(
                    src.at(&f.to, "this freeze ends before it starts")
                        .expected("`to` after `from`"),
                ),
                (from, to) => {
                    if from.is_none() {
                        bad(&f.from, diags);
                    }
                    if to.is_none() {
                        bad(&f.to, diags);
                    }
                }
            }
        }
        envs.push(Env {
            name: env_name.get_ref().clone(),
            description: env.description.clone(),
            protected: env.protected,
            vars: env.vars.clone(),
            apps,
            freezes,
        });
    }
    envs
}

fn resolve_lifecycles(
    inv: &InventoryFile,
    lcs: &LifecyclesFile,
    src: &Source<'_>,
    diags: &mut Diagnostics,
) -> Vec<Lifecycle> {
    let mut out = Vec::new();
    for (name, def) in &lcs.lifecycles {
        check_name(name, "lifecycle", src, diags);
        if def.stages.is_empty() {
            diags.push(
                src.at(name, format!("lifecycle `{}` has no stage", name.get_ref()))
                    .expected("at least one `[[lifecycles.NAME.stages]]` with `env = \"...\"`"),
            );
        }
        let mut seen: Vec<&str> = Vec::new();
        for stage in &def.stages {
            let env = stage.env.get_ref().as_str();
            if !inv.envs.contains_key(env) {
                diags.push(
                    src.at(&stage.env, format!("unknown environment `{env}`"))
                        .expected(one_of(inv.envs.keys())),
                );
            }
            if seen.contains(&env) {
                diags.push(src.at(
                    &stage.env,
                    format!(
                        "environment `{env}` appears twice in lifecycle `{}`",
                        name.get_ref()
                    ),
                ));
            }
            seen.push(env);
            if let Some(g) = &stage.approvers {
                match lcs.groups.iter().find(|(n, _)| n.get_ref() == g.get_ref()) {
                    None => diags.push(
                        src.at(g, format!("unknown group `{}`", g.get_ref()))
                            .expected(one_of(lcs.groups.keys())),
                    ),
                    Some((_, members)) if (members.len() as u32) < stage.approvals => diags.push(
                        src.at(
                            g,
                            format!(
                                "group `{}` has {} member(s): the {} approvals of {env} can never be given",
                                g.get_ref(),
                                members.len(),
                                stage.approvals
                            ),
                        )
                        .expected("at least as many members as approvals"),
                    ),
                    Some(_) => {}
                }
            }
        }
        out.push(Lifecycle {
            name: name.get_ref().clone(),
            description: def.description.clone(),
            kinds: def.kinds.iter().map(|k| k.get_ref().clone()).collect(),
            stages: def
                .stages
                .iter()
                .map(|s| Stage {
                    env: s.env.get_ref().clone(),
                    approvals: s.approvals,
                    require_previous_success: s.require_previous_success,
                    reapprove_after_failure: s.reapprove_after_failure,
                    approvers: s.approvers.as_ref().map(|g| g.get_ref().clone()),
                })
                .collect(),
        });
    }
    out
}

/// Names end up in file paths, SQL rows, env var values and command lines: keep them plain.
fn check_name(name: &Spanned<String>, what: &str, src: &Source<'_>, diags: &mut Diagnostics) {
    let n = name.get_ref();
    let ok = n.len() <= 64
        && n.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && n.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if !ok {
        diags.push(src.at(name, format!("invalid {what} name `{n}`")).expected(
            "lowercase letters, digits, `-` or `_`, at most 64, starting with a letter or digit",
        ));
    }
}

fn quoted_list<'a>(names: impl Iterator<Item = &'a Spanned<String>>) -> String {
    names
        .map(|n| format!("\"{}\"", n.get_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn one_of<'a>(names: impl Iterator<Item = &'a Spanned<String>>) -> String {
    let names: Vec<String> = names.map(|n| format!("`{}`", n.get_ref())).collect();
    match names.len() {
        0 => "a defined name (none is defined)".to_string(),
        1 => names[0].clone(),
        _ => format!("one of {}", names.join(", ")),
    }
}
