//! The derived rollback plan: the undo of each action that ran, in reverse order.
//!
//! With phases, the order is the reverse of the phase dependencies: a phase is undone once
//! every phase that ran after it (depends on it) has been undone; among phases ready at once,
//! the one written first goes first. Within a sequential phase undos run in reverse action
//! order; a parallel phase's undos run in parallel. For the whitepaper's pets plan this gives
//! its rollback exactly: stop JBoss, rollback SQL and backup WAR, start JBoss, DataStage backup.

use super::plan::{Action, Batch, Phase, Plan, Undo};

/// The rollback plan of `plan`. `started` says which actions ran (by index); `None` means all
/// of them, as shown before a run starts.
pub fn derive(plan: &Plan, started: Option<&[bool]>) -> Plan {
    let ran = |i: usize| started.is_none_or(|s| s.get(i).copied().unwrap_or(false));
    // An undo action keeps its forward action's phase and span (for diagnostics).
    let undo_of = |i: usize, a: &Action| -> Option<Action> {
        let Undo::Run { uses, title, with } = &a.undo else {
            return None;
        };
        ran(i).then(|| Action {
            id: format!("undo-{}", a.id),
            title: title.clone(),
            uses: uses.clone(),
            with: with.clone(),
            undo: Undo::Nothing {
                reason: Some(format!("rollback of `{}`", a.id)),
            },
            phase: a.phase,
            span: a.span.clone(),
        })
    };

    let mut actions = Vec::new();
    let mut batches = Vec::new();
    let mut phases = Vec::new();
    if plan.phases.is_empty() {
        for (i, a) in plan.actions.iter().enumerate().rev() {
            if let Some(u) = undo_of(i, a) {
                batches.push(Batch {
                    phase: None,
                    parallel: false,
                    actions: vec![actions.len()],
                });
                actions.push(u);
            }
        }
    } else {
        // Reverse the dependency edges: Q's undo runs after P's undo when P ran after Q.
        phases = plan
            .phases
            .iter()
            .enumerate()
            .map(|(i, p)| Phase {
                id: p.id.clone(),
                title: p.title.clone(),
                after: (0..plan.phases.len())
                    .filter(|&j| plan.phases[j].after.contains(&i))
                    .collect(),
                parallel: p.parallel,
            })
            .collect();
        let mut done = vec![false; phases.len()];
        while let Some(next) =
            (0..phases.len()).find(|&i| !done[i] && phases[i].after.iter().all(|&d| done[d]))
        {
            done[next] = true;
            let mut members: Vec<usize> = (0..plan.actions.len())
                .filter(|&a| plan.actions[a].phase == Some(next))
                .collect();
            if !phases[next].parallel {
                members.reverse();
            }
            let mut batch = Vec::new();
            for i in members {
                if let Some(u) = undo_of(i, &plan.actions[i]) {
                    batch.push(actions.len());
                    actions.push(u);
                }
            }
            if !batch.is_empty() {
                batches.push(Batch {
                    phase: Some(phases[next].id.clone()),
                    parallel: phases[next].parallel,
                    actions: batch,
                });
            }
        }
    }
    Plan {
        app: plan.app.clone(),
        lifecycle: plan.lifecycle.clone(),
        description: format!("Rollback of: {}", plan.description),
        vars: plan.vars.clone(),
        phases,
        actions,
        batches,
    }
}
