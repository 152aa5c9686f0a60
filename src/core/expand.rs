//! Expansion: a checked plan on one environment becomes the concrete list of steps on concrete
//! hosts, with every parameter resolved (secrets shown by reference), so a person sees exactly
//! what will run before it runs.

use indexmap::IndexMap;
use serde::Serialize;

use super::automation::{Automation, Step, StepAction, StepKind};
use super::duration;
use super::plan::{Context, Plan};
use super::value::{self, ParamType, Value};

/// A problem found while expanding, attached to an action by index.
#[derive(Debug, Clone)]
pub struct ExpandError {
    pub action: usize,
    pub message: String,
    pub expected: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Expanded {
    pub app: String,
    pub env: String,
    pub batches: Vec<ExpandedBatch>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpandedBatch {
    pub phase: Option<String>,
    pub parallel: bool,
    pub actions: Vec<ExpandedAction>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpandedAction {
    pub id: String,
    pub title: String,
    pub automation: String,
    pub domain: Option<String>,
    /// The domain's hosts in the env (what `silence` and `ansible` steps target as a whole);
    /// empty for an automation without a domain.
    pub hosts: Vec<String>,
    pub params: Vec<ResolvedParam>,
    pub steps: Vec<ExpandedStep>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ResolvedParam {
    pub name: String,
    /// The environment variable scripts read it from.
    pub env_var: String,
    #[serde(rename = "type")]
    pub ty: ParamType,
    pub value: Value,
    /// Where the value came from: `with`, `plan`, `env`, `workspace` or `default`.
    pub source: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct ExpandedStep {
    pub name: String,
    pub kind: StepKind,
    /// Target hosts; empty for a step that runs once on the jump host (as `silence` and
    /// `ansible` steps do, over their action's `hosts`).
    pub hosts: Vec<String>,
    /// One line saying what the step does, placeholders resolved where known before the run.
    pub detail: String,
    #[serde(skip)]
    pub step: Step,
}

impl Expanded {
    pub fn action_count(&self) -> usize {
        self.batches.iter().map(|b| b.actions.len()).sum()
    }
}

/// Expands `plan` on `env`. Every problem is returned, not only the first.
pub fn expand(plan: &Plan, ctx: &Context<'_>, env: &str) -> Result<Expanded, Vec<ExpandError>> {
    let mut errors = Vec::new();
    let Some(env_def) = ctx.inventory.env(env) else {
        return Err(vec![ExpandError {
            action: 0,
            message: format!("unknown environment `{env}`"),
            expected: None,
        }]);
    };
    let mut batches = Vec::new();
    for batch in &plan.batches {
        let mut actions = Vec::new();
        for &i in &batch.actions {
            let action = &plan.actions[i];
            let Some(automation) = ctx.catalog.get(&action.uses) else {
                errors.push(ExpandError {
                    action: i,
                    message: format!("unknown automation `{}`", action.uses),
                    expected: None,
                });
                continue;
            };
            let vars = Vars {
                plan: &plan.vars,
                env: &env_def.vars,
                workspace: ctx.workspace_vars,
                app: &plan.app,
                env_name: env,
            };
            let params = match resolve_params(automation, &action.with, &vars) {
                Ok(p) => p,
                Err(es) => {
                    errors.extend(es.into_iter().map(|(message, expected)| ExpandError {
                        action: i,
                        message,
                        expected,
                    }));
                    continue;
                }
            };
            let hosts: Vec<String> = match &automation.domain {
                Some(domain) => {
                    let hosts = ctx.inventory.hosts_of(&plan.app, env, domain);
                    if hosts.is_empty() {
                        errors.push(ExpandError {
                            action: i,
                            message: format!(
                                "environment `{env}` has no host for domain `{domain}` of app `{}`",
                                plan.app
                            ),
                            expected: Some(format!(
                                "hosts under `[envs.{env}.apps.{}]` in the inventory",
                                plan.app
                            )),
                        });
                        continue;
                    }
                    hosts.to_vec()
                }
                None => Vec::new(),
            };
            let steps = automation
                .steps
                .iter()
                .map(|step| ExpandedStep {
                    name: step.name.clone(),
                    kind: step.action.kind(),
                    hosts: if step.action.kind().per_host() {
                        hosts.clone()
                    } else {
                        Vec::new()
                    },
                    detail: detail(
                        step,
                        &params,
                        &plan.app,
                        env,
                        automation.domain.as_deref(),
                        &plan.vars,
                    ),
                    step: step.clone(),
                })
                .collect();
            actions.push(ExpandedAction {
                id: action.id.clone(),
                title: action.title.clone(),
                automation: automation.name.clone(),
                domain: automation.domain.clone(),
                hosts,
                params,
                steps,
            });
        }
        batches.push(ExpandedBatch {
            phase: batch.phase.clone(),
            parallel: batch.parallel,
            actions,
        });
    }
    if errors.is_empty() {
        Ok(Expanded {
            app: plan.app.clone(),
            env: env.to_string(),
            batches,
        })
    } else {
        Err(errors)
    }
}

/// The places a parameter value is looked up after the action's own `with`.
struct Vars<'a> {
    plan: &'a IndexMap<String, toml::Value>,
    env: &'a IndexMap<String, toml::Value>,
    workspace: &'a IndexMap<String, toml::Value>,
    app: &'a str,
    env_name: &'a str,
}

impl Vars<'_> {
    fn find(&self, name: &str) -> Option<(&toml::Value, &'static str)> {
        self.plan
            .get(name)
            .map(|v| (v, "plan"))
            .or_else(|| self.env.get(name).map(|v| (v, "env")))
            .or_else(|| self.workspace.get(name).map(|v| (v, "workspace")))
    }

    /// The text a `${name}` in a parameter value stands for.
    fn text(&self, name: &str) -> Option<String> {
        match name {
            "app" => Some(self.app.to_string()),
            "env" => Some(self.env_name.to_string()),
            _ => match self.find(name)?.0 {
                toml::Value::String(s) => Some(s.clone()),
                toml::Value::Integer(n) => Some(n.to_string()),
                toml::Value::Boolean(b) => Some(b.to_string()),
                _ => None,
            },
        }
    }
}

type Problems = Vec<(String, Option<String>)>;

fn resolve_params(
    automation: &Automation,
    with: &IndexMap<String, toml::Value>,
    vars: &Vars<'_>,
) -> Result<Vec<ResolvedParam>, Problems> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for p in &automation.params {
        let raw = with
            .get(&p.name)
            .map(|v| (v, "with"))
            .or_else(|| vars.find(&p.name));
        let value = match raw {
            Some((v, source)) => match typed_value(p.ty, v, vars) {
                Ok(value) => Ok((value, source)),
                Err((m, x)) => Err((
                    format!("parameter `{}` of `{}`: {m}", p.name, automation.name),
                    x,
                )),
            },
            None => match &p.default {
                Some(d) => Ok((d.clone(), "default")),
                None => Err((
                    format!(
                        "missing parameter `{}` of automation `{}`",
                        p.name, automation.name
                    ),
                    Some(format!(
                        "`with = {{ {} = ... }}` on the action, or `{}` in the plan's, environment's or workspace's `[vars]`",
                        p.name, p.name
                    )),
                )),
            },
        };
        match value {
            Ok((value, source)) => out.push(ResolvedParam {
                name: p.name.clone(),
                env_var: p.env_name(),
                ty: p.ty,
                value,
                source,
            }),
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

fn typed_value(
    ty: ParamType,
    v: &toml::Value,
    vars: &Vars<'_>,
) -> Result<Value, (String, Option<String>)> {
    match v {
        toml::Value::String(s) if value::has_placeholder(s) => {
            let text = value::interpolate(s, |n| vars.text(n)).map_err(|name| {
                (
                    format!("`${{{name}}}` names no variable"),
                    Some("`app`, `env`, or a name from the plan's, environment's or workspace's `[vars]`".to_string()),
                )
            })?;
            value::retype(ty, &text).map_err(|m| (m.message, Some(m.expected)))
        }
        _ => value::typed(ty, v).map_err(|m| (m.message, Some(m.expected))),
    }
}

/// A one-line description of a step with the placeholders known before the run filled in;
/// `${host}`, `${address}`, `${run}` and `${data_dir}` stay, the runner fills them per host.
fn detail(
    step: &Step,
    params: &[ResolvedParam],
    app: &str,
    env: &str,
    domain: Option<&str>,
    plan_vars: &IndexMap<String, toml::Value>,
) -> String {
    let fill = |text: &str| {
        value::interpolate(text, |name| match name {
            "app" => Some(app.to_string()),
            "env" => Some(env.to_string()),
            "domain" => domain.map(str::to_string),
            "version" => plan_vars
                .get("version")
                .and_then(|v| v.as_str().map(str::to_string))
                .or_else(|| Some("${version}".into())),
            _ => params
                .iter()
                .find(|p| p.name == name)
                .map(|p| p.value.to_string())
                .or_else(|| Some(format!("${{{name}}}"))),
        })
        .unwrap_or_else(|_| text.to_string())
    };
    match &step.action {
        StepAction::Shell { script } | StepAction::Ssh { script } => {
            // The first line that does something: comments and the usual `cd` say little.
            let lines: Vec<&str> = script
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("cd "))
                .collect();
            match lines.len() {
                0 => "(empty script)".into(),
                1 => lines[0].to_string(),
                2 => format!("{} (+1 line)", lines[0]),
                n => format!("{} (+{} lines)", lines[0], n - 1),
            }
        }
        StepAction::Copy {
            artifact,
            dest,
            mode,
        } => {
            let what = params
                .iter()
                .find(|p| &p.name == artifact)
                .map_or_else(|| artifact.clone(), |p| p.value.to_string());
            if *mode == crate::core::automation::DEFAULT_COPY_MODE {
                format!("{what} -> {}", fill(dest))
            } else {
                format!("{what} -> {} (mode {mode:04o})", fill(dest))
            }
        }
        StepAction::Http {
            method,
            url,
            expect_status,
            max_latency,
            probes,
            ..
        } => {
            let url = crate::core::url::mask_credentials(&fill(url));
            let mut d = format!("{method} {url} expects {expect_status}");
            if let Some(l) = max_latency {
                d.push_str(&format!(" within {}", duration::format(*l)));
            }
            if *probes > 1 {
                d.push_str(&format!(", {probes} probes"));
            }
            d
        }
        StepAction::Wait { duration: d } => format!("wait {}", duration::format(*d)),
        StepAction::Gate { prompt } => format!("confirm: {}", fill(prompt)),
        StepAction::Silence {
            duration: d,
            comment,
        } => {
            format!(
                "silence alerts for {}: {}",
                duration::format(*d),
                fill(comment)
            )
        }
        StepAction::Unsilence => "end the silence".into(),
        StepAction::Ansible { playbook, tags } => match tags {
            Some(t) => format!("ansible-playbook {} --tags {}", fill(playbook), fill(t)),
            None => format!("ansible-playbook {}", fill(playbook)),
        },
    }
}
