//! From the audit trail to notices: which audit events are which notification events, and
//! the facts each carries, read from the store.

use std::collections::HashMap;

use crate::core::notify::{
    ApprovalFacts, GateFacts, Notice, RequestFacts, RunFacts, TEST_EVENT, rfc3339,
};
use crate::settings::Workspace;
use crate::store::{AuditEvent, Store, StoreError};

/// What the deliverer last said each request waits for, as (env, approvals given).
/// `request.approval_needed` is computed from the request as it is now, not as the event
/// left it: events read together (a submit and its approval, an approval and the deploy
/// after it) would each say the same thing.
#[derive(Default)]
pub(super) struct Said(HashMap<i64, (String, u32)>);

impl Said {
    /// Whether `n` says something new of its request, remembering it if so.
    fn new_news(&mut self, id: i64, n: &Notice) -> bool {
        let Some(a) = &n.approval else { return true };
        let now = (a.env.clone(), a.given);
        if self.0.get(&id) == Some(&now) {
            return false;
        }
        self.0.insert(id, now);
        true
    }
}

/// The notices audit event `e` means (none for most events: imports, refusals...).
pub(super) fn notices(
    ws: &Workspace,
    store: &Store,
    e: &AuditEvent,
    said: &mut Said,
) -> Result<Vec<Notice>, StoreError> {
    // `pilote demo --history` writes a made-up past: nobody is to be told about it.
    if e.payload["seeded"] == true {
        return Ok(Vec::new());
    }
    if let Some(id) = id_of(&e.subject, "run:") {
        let state = e.payload["state"].as_str().unwrap_or_default();
        let event = match e.action.as_str() {
            "run.started" => "run.started",
            "run.waiting" => "run.waiting",
            "run.interrupted" => "run.interrupted",
            "run.finished" => match state {
                "succeeded" => "run.succeeded",
                "failed" => "run.failed",
                "cancelled" => "run.cancelled",
                "interrupted" => "run.interrupted",
                _ => return Ok(Vec::new()),
            },
            _ => return Ok(Vec::new()),
        };
        return Ok(run_notice(ws, store, e, id, event)?.into_iter().collect());
    }
    if let Some(id) = id_of(&e.subject, "request:")
        && matches!(
            e.action.as_str(),
            "request.submitted" | "request.approved" | "request.deployed" | "request.replanned"
        )
    {
        let Some(n) = approval_needed(ws, store, e, id)? else {
            // Not waiting any more: the next wait is news, even for the same env.
            said.0.remove(&id);
            return Ok(Vec::new());
        };
        return Ok(said.new_news(id, &n).then_some(n).into_iter().collect());
    }
    Ok(Vec::new())
}

fn id_of(subject: &str, prefix: &str) -> Option<i64> {
    subject.strip_prefix(prefix)?.parse().ok()
}

fn blank(ws: &Workspace, e: &AuditEvent, event: &str) -> Notice {
    Notice {
        event: event.to_string(),
        at: rfc3339(e.at),
        audit_seq: Some(e.seq),
        audit_hash: None,
        workspace: ws.settings.name.clone(),
        app: None,
        env: None,
        run: None,
        request: None,
        actor: e.actor.clone(),
        gate: None,
        approval: None,
        text: String::new(),
    }
}

fn request_facts(r: &crate::store::RequestRow) -> RequestFacts {
    RequestFacts {
        id: r.id,
        version: r.version.clone(),
        title: r.title.clone(),
        state: r.state.clone(),
        lifecycle: r.lifecycle.clone(),
    }
}

fn run_notice(
    ws: &Workspace,
    store: &Store,
    e: &AuditEvent,
    id: i64,
    event: &str,
) -> Result<Option<Notice>, StoreError> {
    let Some(row) = store.run(id)? else {
        return Ok(None);
    };
    // The run as the event left it: by the time it is read, it may have gone further.
    let (state, outcome) = match e.action.as_str() {
        "run.started" => ("running".to_string(), None),
        "run.waiting" => ("waiting".to_string(), None),
        // A runner that stopped its own run says why (a full disk); a console found it dead.
        "run.interrupted" => (
            "interrupted".to_string(),
            Some(
                e.payload["outcome"]
                    .as_str()
                    .unwrap_or("runner gone")
                    .to_string(),
            ),
        ),
        _ => (
            e.payload["state"]
                .as_str()
                .unwrap_or(&row.state)
                .to_string(),
            e.payload["outcome"].as_str().map(str::to_string),
        ),
    };
    // A rollback that succeeded is news of its own: the run it undid is named.
    let event = if event == "run.succeeded" && row.kind == "rollback" {
        "run.rolled_back"
    } else {
        event
    };
    let mut n = blank(ws, e, event);
    n.audit_hash = store.audit_hash(e.seq)?;
    // The runner records the end as the person who started the run; a cancel was asked
    // by someone, perhaps someone else, and that is who people want to know about.
    if event == "run.cancelled"
        && let Some(asked) = store
            .audit_of(&format!("run:{id}"), 20)?
            .into_iter()
            .find(|a| a.action == "run.cancel" && a.seq < e.seq)
    {
        n.actor = asked.actor;
    }
    n.app = Some(row.app.clone());
    n.env = Some(row.env.clone());
    if let Some(r) = store
        .run_request(id)?
        .and_then(|q| store.request(q).ok().flatten())
    {
        n.request = Some(request_facts(&r));
    }
    if event == "run.waiting" {
        n.gate = Some(GateFacts {
            prompt: e.payload["prompt"].as_str().unwrap_or_default().to_string(),
            confirm: format!("pilote gate {id} --confirm"),
            abort: format!("pilote gate {id} --abort"),
        });
    }
    n.run = Some(RunFacts {
        id,
        kind: row.kind,
        state,
        outcome,
        rollback_of: row.rollback_of,
        started_by: row.started_by,
        duration_ms: (e.action == "run.finished")
            .then(|| row.started_at.map(|s| e.at - s))
            .flatten(),
    });
    Ok(Some(n.with_text()))
}

/// `request.approval_needed` when the request's next stage waits for approvals. Read as
/// the request is now: two approvals given in a row make no stale "1 more" message (and
/// [`Said`] keeps the events read together from repeating it).
fn approval_needed(
    ws: &Workspace,
    store: &Store,
    e: &AuditEvent,
    id: i64,
) -> Result<Option<Notice>, StoreError> {
    let Some(r) = store.request(id)? else {
        return Ok(None);
    };
    if r.blocked.is_some()
        || !matches!(
            r.state.as_str(),
            "submitted" | "deployed" | "failed" | "rolled_back"
        )
    {
        return Ok(None);
    }
    let stages = store.stage_progress(&ws.inventory, &r)?;
    let Some(progress) = stages.iter().find(|s| !s.done()) else {
        return Ok(None);
    };
    let approvals = store.approvals(r.id, &r.approval_digest(&ws.catalog_digest))?;
    let given = crate::core::lifecycle::approvers(&ws.inventory, progress, &approvals).len() as u32;
    let stage = progress.stage;
    if given >= stage.approvals {
        return Ok(None);
    }
    let mut n = blank(ws, e, "request.approval_needed");
    n.audit_hash = store.audit_hash(e.seq)?;
    n.app = Some(r.app.clone());
    n.env = Some(stage.env.clone());
    n.request = Some(request_facts(&r));
    n.approval = Some(ApprovalFacts {
        env: stage.env.clone(),
        needed: stage.approvals,
        given,
        missing: stage.approvals - given,
        group: stage.approvers.clone(),
        members: stage
            .approvers
            .as_deref()
            .map(|g| {
                crate::core::lifecycle::members(&ws.inventory, g)
                    .into_iter()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
        command: format!("pilote request approve {} --env {}", r.id, stage.env),
    });
    Ok(Some(n.with_text()))
}

/// What `pilote notifications test` sends.
pub(super) fn test_notice(ws: &Workspace, actor: &str) -> Notice {
    Notice {
        event: TEST_EVENT.into(),
        at: rfc3339(crate::clock::now_ms()),
        audit_seq: None,
        audit_hash: None,
        workspace: ws.settings.name.clone(),
        app: None,
        env: None,
        run: None,
        request: None,
        actor: actor.to_string(),
        gate: None,
        approval: None,
        text: String::new(),
    }
    .with_text()
}
