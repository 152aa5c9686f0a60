//! The order actions run in: phases in dependency order, actions within them.

use super::model::{Action, Batch, Phase, Plan};

/// Phases in dependency order; among phases ready at once, the one written first goes first.
/// Without phases, each action is its own sequential batch, in file order.
pub(super) fn order(phases: &[Phase], actions: &[Action]) -> Vec<Batch> {
    if phases.is_empty() {
        return (0..actions.len())
            .map(|i| Batch {
                phase: None,
                parallel: false,
                actions: vec![i],
            })
            .collect();
    }
    let mut done = vec![false; phases.len()];
    let mut batches = Vec::new();
    while let Some(next) =
        (0..phases.len()).find(|&i| !done[i] && phases[i].after.iter().all(|&d| done[d]))
    {
        done[next] = true;
        let members: Vec<usize> = (0..actions.len())
            .filter(|&a| actions[a].phase == Some(next))
            .collect();
        if !members.is_empty() {
            batches.push(Batch {
                phase: Some(phases[next].id.clone()),
                parallel: phases[next].parallel,
                actions: members,
            });
        }
    }
    batches
}

/// A cycle among phases' `after` links, as phase indexes, if there is one.
pub(super) fn find_cycle(phases: &[Phase]) -> Option<Vec<usize>> {
    // 0 = unvisited, 1 = on the current path, 2 = finished.
    fn visit(
        i: usize,
        phases: &[Phase],
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<usize>> {
        state[i] = 1;
        path.push(i);
        for &d in &phases[i].after {
            if state[d] == 1 {
                let start = path.iter().position(|&p| p == d).unwrap_or(0);
                return Some(path[start..].to_vec());
            }
            if state[d] == 0
                && let Some(c) = visit(d, phases, state, path)
            {
                return Some(c);
            }
        }
        path.pop();
        state[i] = 2;
        None
    }
    let mut state = vec![0u8; phases.len()];
    for i in 0..phases.len() {
        if state[i] == 0
            && let Some(mut c) = visit(i, phases, &mut state, &mut Vec::new())
        {
            // `after` points backwards in time: show the cycle in running order.
            c.reverse();
            return Some(c);
        }
    }
    None
}

/// Action ids in the order of `batches`.
pub fn run_order(plan: &Plan) -> Vec<usize> {
    plan.batches
        .iter()
        .flat_map(|b| b.actions.iter().copied())
        .collect()
}
