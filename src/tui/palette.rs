//! The `:` command palette: every command, app/env rollback, request and run as one list,
//! narrowed by fuzzy matching as the person types (`:rollback pets prod`, `:run 42`).

use super::data::{RequestLine, RunLine};
use super::pane::Pane;
use crate::settings::Workspace;

/// What a palette entry does once picked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Show(Pane),
    /// Picks the run in the Runs pane and follows its log.
    OpenRun(i64),
    /// Picks the request in the Requests pane.
    OpenRequest(i64),
    /// Derives the rollback of the app on the env and asks to confirm it.
    Rollback {
        app: String,
        env: String,
    },
    /// Opens a plan file of the workspace in the Plan pane.
    OpenPlan(String),
    Help,
    Quit,
}

/// One line of the palette.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub label: String,
    pub command: Command,
}

/// Every entry, built when the palette opens: commands, rollbacks, requests, runs.
pub fn entries(
    ws: &Workspace,
    requests: &[RequestLine],
    runs: &[RunLine],
    plans: &[String],
) -> Vec<Entry> {
    let mut out = vec![
        entry("requests", Command::Show(Pane::Requests)),
        entry("plan", Command::Show(Pane::Plan)),
        entry("runs", Command::Show(Pane::Runs)),
        entry("dashboard", Command::Show(Pane::Dashboard)),
        entry("help", Command::Help),
        entry("quit", Command::Quit),
    ];
    for app in &ws.inventory.apps {
        for env in &ws.inventory.envs {
            out.push(entry(
                &format!("rollback {} {}", app.name, env.name),
                Command::Rollback {
                    app: app.name.clone(),
                    env: env.name.clone(),
                },
            ));
        }
    }
    for p in plans {
        out.push(entry(&format!("open {p}"), Command::OpenPlan(p.clone())));
    }
    for r in requests {
        out.push(entry(
            &format!("request {} {} {} {}", r.id, r.app, r.version, r.state),
            Command::OpenRequest(r.id),
        ));
    }
    for r in runs {
        out.push(entry(
            &format!(
                "run {} {} {} on {} {}",
                r.row.id, r.row.kind, r.row.app, r.row.env, r.row.state
            ),
            Command::OpenRun(r.row.id),
        ));
    }
    out
}

fn entry(label: &str, command: Command) -> Entry {
    Entry {
        label: label.to_string(),
        command,
    }
}

/// `run 42` and `request 42` name a run or request that may be older than the lists shown.
pub fn exact(query: &str) -> Option<Command> {
    let mut words = query.split_whitespace();
    let (verb, id) = (words.next()?, words.next()?.trim_start_matches('#'));
    let id: i64 = id.parse().ok()?;
    if words.next().is_some() {
        return None;
    }
    match verb {
        "run" => Some(Command::OpenRun(id)),
        "request" => Some(Command::OpenRequest(id)),
        _ => None,
    }
}

/// The entries matching `query`, best first (at most `limit`).
pub fn matches<'a>(entries: &'a [Entry], query: &str, limit: usize) -> Vec<&'a Entry> {
    let mut scored: Vec<(i64, usize, &Entry)> = entries
        .iter()
        .enumerate()
        .filter_map(|(i, e)| score(&e.label, query).map(|s| (s, i, e)))
        .collect();
    // Best score first; among equals, the order of the list (commands, then newest).
    scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    scored.into_iter().take(limit).map(|(_, _, e)| e).collect()
}

/// A fuzzy score: every character of the query, in order, case-insensitive; runs of
/// consecutive characters and matches at word starts count more. `None`: no match.
pub fn score(label: &str, query: &str) -> Option<i64> {
    let label: Vec<char> = label.to_lowercase().chars().collect();
    let mut score = 0;
    let mut at = 0;
    let mut last: Option<usize> = None;
    for q in query.to_lowercase().chars().filter(|c| !c.is_whitespace()) {
        let i = (at..label.len()).find(|&i| label[i] == q)?;
        score += 1;
        if last == Some(i.wrapping_sub(1)) {
            score += 5;
        }
        if i == 0 || label[i - 1] == ' ' {
            score += 3;
        }
        last = Some(i);
        at = i + 1;
    }
    // Shorter labels win ties: "run 4" before "run 42".
    Some(score * 100 - i64::try_from(label.len()).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(labels: &[&str]) -> Vec<Entry> {
        labels.iter().map(|l| entry(l, Command::Help)).collect()
    }

    #[test]
    fn fuzzy_matching_prefers_word_starts_and_runs() {
        let e = list(&[
            "rollback pets uat",
            "rollback pets prod",
            "run 42 deploy pets on prod succeeded",
            "requests",
        ]);
        let best = |q| matches(&e, q, 5).first().map(|e| e.label.clone());
        assert_eq!(
            best("rollback pets prod").as_deref(),
            Some("rollback pets prod")
        );
        assert_eq!(best("rbpp").as_deref(), Some("rollback pets prod"));
        assert_eq!(
            best("run 42").as_deref(),
            Some("run 42 deploy pets on prod succeeded")
        );
        assert_eq!(best("req").as_deref(), Some("requests"));
        assert!(matches(&e, "zzz", 5).is_empty());
    }

    #[test]
    fn run_and_request_numbers_are_taken_as_typed() {
        assert_eq!(exact("run 42"), Some(Command::OpenRun(42)));
        assert_eq!(exact("request #7"), Some(Command::OpenRequest(7)));
        assert_eq!(exact("run 42 now"), None);
        assert_eq!(exact("rollback pets"), None);
    }
}
