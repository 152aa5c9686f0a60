//! Delivery metrics over the history: reads the records of a window and scope from the store,
//! then computes every indicator (`core::metrics`). The console's dashboard and
//! `pilote metrics` both call [`compute`].

use crate::core::metrics::{History, Indicators};
use crate::settings::Workspace;
use crate::store::{Scope, Store, StoreError};

/// What to measure: a window ending now (or at `until`), an app, an env.
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub since: i64,
    pub until: i64,
    pub app: Option<String>,
    /// The env the DORA keys are about; the inventory's last env by default.
    pub env: Option<String>,
}

/// Production: the env asked for, else the last env of the inventory (envs are listed in
/// the order a release goes through them). Pre-production is the env before it.
pub fn production(ws: &Workspace, env: Option<&str>) -> (String, Option<String>) {
    let envs: Vec<&str> = ws.inventory.envs.iter().map(|e| e.name.as_str()).collect();
    let prod = env
        .map(str::to_string)
        .or_else(|| envs.last().map(|e| (*e).to_string()))
        .unwrap_or_default();
    let before = envs
        .iter()
        .position(|e| *e == prod)
        .and_then(|i| i.checked_sub(1))
        .map(|i| envs[i].to_string());
    (prod, before)
}

pub fn compute(ws: &Workspace, store: &Store, q: &Query) -> Result<Indicators, StoreError> {
    let (prod, preprod) = production(ws, q.env.as_deref());
    let scope = Scope {
        since: q.since,
        until: q.until,
        app: q.app.as_deref(),
        env: q.env.as_deref(),
        production: &prod,
        preprod: preprod.as_deref(),
    };
    // Which domain each host serves, per app and env: the inventory knows, the runs do not.
    let mut domain_of = Vec::new();
    for app in &ws.inventory.apps {
        for env in &ws.inventory.envs {
            for d in &app.domains {
                for h in ws.inventory.hosts_of(&app.name, &env.name, &d.name) {
                    domain_of.push((
                        app.name.clone(),
                        env.name.clone(),
                        h.clone(),
                        format!("{}/{}", app.name, d.name),
                    ));
                }
            }
        }
    }
    let history = History {
        deploys: store.deploy_records(&scope)?,
        incidents: store.incidents(&scope)?,
        lead_times: store.lead_times(&scope)?,
        approval_waits: store.approval_waits(&scope)?,
        per_domain: store.deploys_per_domain(&scope, &domain_of)?,
    };
    let envs: Vec<String> = ws
        .inventory
        .envs
        .iter()
        .map(|e| e.name.clone())
        .filter(|e| q.env.as_ref().is_none_or(|x| x == e))
        .collect();
    Ok(crate::core::metrics::compute(
        &history, q.since, q.until, &prod, &envs,
    ))
}
