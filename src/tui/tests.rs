//! The console without a terminal: actions fed to an `App`, effects and state checked, and
//! each pane drawn on ratatui's `TestBackend` at 80x24 and 200x50 and snapshotted.

use std::time::{Duration, Instant};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::{Effect, LogPart, Msg, Problem};
use super::app::{App, Options};
use super::data::{Data, RequestLine, RunLine};
use super::panes::Pane;
use super::popup::Popup;
use crate::identity::Actor;
use crate::settings::{Located, Origin, Overrides, load};
use crate::store::{LogAnchor, LogLine, RunProgress, RunRow, StepRunRow, Summary};

/// The frame's clock: ages are computed from it, so snapshots do not move.
const NOW: i64 = 1_795_000_000_000;

fn app_with(options: Options) -> App {
    let ws = load(
        &Located {
            dir: std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/demo/config"),
            origin: Origin::Flag,
        },
        &Overrides::default(),
    )
    .expect("demo config");
    App::new(
        ws,
        Actor {
            uid: 1000,
            name: "ops".into(),
            uncertain: false,
        },
        Options {
            theme: Some(super::Theme::plain()),
            ..options
        },
    )
}

fn app() -> App {
    app_with(Options::default())
}

fn request(id: i64, state: &str, done: usize) -> RequestLine {
    RequestLine {
        id,
        app: "pets".into(),
        version: format!("1.{id}.0"),
        title: format!("pets 1.{id}.0"),
        state: state.into(),
        stages: ["uat", "preprod", "prod"]
            .iter()
            .enumerate()
            .map(|(i, e)| ((*e).to_string(), i < done))
            .collect(),
        by: "dev".into(),
        created_at: NOW - 3_600_000,
        updated_at: NOW - 60_000,
        lifecycle: "standard".into(),
        package_digest: "0e773d7fc10e02a69dc940924ca6f2c48d3a2b64b6d9c7e9d3f7e734871fa355".into(),
        digest: format!("digest-{id}"),
        plan_path: Some("plans/pets-1.4.0.toml".into()),
        blocked: None,
        approvals: if done > 0 {
            vec!["preprod: approved by alice (looks good)".into()]
        } else {
            Vec::new()
        },
        next: if done > 0 {
            "deploy to preprod".into()
        } else {
            "deploy to uat".into()
        },
    }
}

fn run(id: i64, kind: &str, state: &str) -> RunLine {
    let finished = crate::store::is_finished(state);
    RunLine {
        row: RunRow {
            id,
            kind: kind.into(),
            app: "pets".into(),
            env: "uat".into(),
            state: state.into(),
            started_by: "ops".into(),
            created_at: NOW - id * 60_000,
            started_at: Some(NOW - id * 60_000),
            finished_at: finished.then_some(NOW - id * 60_000 + 5_000),
            runner_pid: Some(42),
            rollback_of: (kind == "rollback").then_some(id - 1),
            outcome: None,
            last_seq: 1_000_000,
            runner_start: None,
            reason: None,
        },
        progress: RunProgress {
            steps: 14,
            done: if finished { 14 } else { 6 },
            failed: 0,
            hosts: 3,
            hosts_failed: 0,
            current: Some("deploy-war/copy the WAR on uat-jboss-1".into()),
            // Two minutes in, 59 s left: the widest ETA there is.
            typical_ms: (!finished).then_some(179_000),
        },
    }
}

fn steps() -> Vec<StepRunRow> {
    let step = |id, position, action: &str, name: &str, host: &str, state: &str| StepRunRow {
        id,
        position,
        action_id: action.into(),
        step_name: name.into(),
        host: host.into(),
        state: state.into(),
        started_at: Some(NOW),
        finished_at: None,
        exit_code: None,
        detail: None,
    };
    vec![
        step(
            1,
            0,
            "backup-war",
            "back up the WAR",
            "uat-jboss-1",
            "succeeded",
        ),
        step(
            2,
            0,
            "backup-war",
            "back up the WAR",
            "uat-jboss-2",
            "succeeded",
        ),
        step(
            3,
            1,
            "stop-jboss",
            "stop the instance",
            "uat-jboss-1",
            "running",
        ),
        step(
            4,
            1,
            "stop-jboss",
            "stop the instance",
            "uat-jboss-2",
            "pending",
        ),
    ]
}

fn lines(from: i64, n: i64) -> Vec<LogLine> {
    (from..from + n)
        .map(|seq| LogLine {
            seq,
            at: NOW,
            step_run_id: Some(1),
            stream: if seq % 7 == 0 { "stderr" } else { "stdout" }.into(),
            host: "uat-jboss-1".into(),
            line: format!("line {seq} of the deploy \u{1b}[31mred\u{1b}[0m"),
        })
        .collect()
}

fn data() -> Data {
    Data {
        requests: vec![request(4, "submitted", 0), request(3, "deployed", 1)],
        detail: None,
        runs: vec![run(2, "deploy", "running"), run(3, "rollback", "succeeded")],
        plans: vec!["plans/pets-1.4.0.toml".into()],
        steps: Some((2, steps())),
        summary: Summary {
            runs_active: 1,
            locks: 1,
            ..Summary::default()
        },
    }
}

/// An app that has read the store once.
fn loaded() -> App {
    loaded_with_log(Vec::new())
}

/// An app that has read the store once, and the picked run's log: `lines`.
fn loaded_with_log(lines: Vec<LogLine>) -> App {
    let mut app = app();
    let effects = app.on_msg(Msg::Data(Box::new(data())));
    answer(&mut app, &effects, lines);
    app
}

/// Answers the log page asked for in `effects`, as the store worker does.
fn answer(app: &mut App, effects: &[Effect], lines: Vec<LogLine>) {
    let Some(Effect::Log {
        run,
        part,
        generation,
        ..
    }) = effects.iter().find(|e| matches!(e, Effect::Log { .. }))
    else {
        panic!("no log page asked for: {effects:?}");
    };
    let upto = lines.last().map_or(0, |l| l.seq);
    app.on_msg(Msg::Log {
        run: *run,
        part: *part,
        generation: *generation,
        upto,
        lines,
    });
}

fn key(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.on_key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn chars(app: &mut App, text: &str) -> Vec<Effect> {
    text.chars()
        .flat_map(|c| key(app, KeyCode::Char(c)))
        .collect()
}

/// Lets the confirmation on top take Enter at once (it waits `ARMING` after appearing).
fn arm(app: &mut App) {
    if let Some(Popup::Confirm { armed_at, .. }) = app.popups.last_mut() {
        *armed_at = Instant::now();
    }
}

fn screen(app: &App, width: u16, height: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).expect("terminal");
    terminal
        .draw(|f| super::view::draw_at(app, f, Instant::now(), NOW))
        .expect("draw");
    let buf = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..height {
        let mut row = String::new();
        for x in 0..width {
            row.push_str(buf[(x, y)].symbol());
        }
        out.push_str(row.trim_end());
        out.push('\n');
    }
    out
}

/// Snapshots a screen with the local time of day hidden (the zone differs between machines).
macro_rules! snap {
    ($name:expr, $screen:expr) => {
        insta::with_settings!({filters => vec![
            (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "[DATETIME]"),
            (r"\d{2}:\d{2}:\d{2}", "[TIME]"),
        ]}, {
            insta::assert_snapshot!($name, $screen);
        });
    };
}

/// Indicators over a small history: two prod deploys, one rolled back; a failure.
fn indicators() -> crate::core::metrics::Indicators {
    use crate::core::metrics::{DeployRecord, History, Incident};
    let deploy = |run, env: &str, state: &str, end: i64, rolled: Option<i64>| DeployRecord {
        run,
        app: "pets".into(),
        env: env.into(),
        state: state.into(),
        started_at: end - 600_000,
        finished_at: end,
        rolled_back_at: rolled,
        passed_preprod: env == "prod",
    };
    let day = 86_400_000;
    let since = NOW - 30 * day;
    let history = History {
        deploys: vec![
            deploy(10, "uat", "succeeded", since + day, None),
            deploy(11, "preprod", "succeeded", since + 2 * day, None),
            deploy(
                12,
                "prod",
                "succeeded",
                since + 3 * day,
                Some(since + 3 * day + 3_600_000),
            ),
            deploy(13, "prod", "failed", since + 20 * day, None),
            deploy(14, "prod", "succeeded", since + 21 * day, None),
        ],
        incidents: vec![
            Incident {
                run: 13,
                app: "pets".into(),
                env: "prod".into(),
                at: since + 20 * day,
                restored_at: Some(since + 21 * day),
                reason: None,
            },
            Incident {
                run: 12,
                app: "pets".into(),
                env: "prod".into(),
                at: since + 3 * day,
                restored_at: Some(since + 3 * day + 3_600_000),
                reason: Some("INC-7 checkout answers 500".into()),
            },
        ],
        lead_times: vec![(since + 5 * day, 2 * day), (since + 22 * day, 3 * day)],
        approval_waits: vec![4 * 3_600_000],
        per_domain: vec![("pets/war".into(), 2)],
    };
    let envs: Vec<String> = ["uat", "preprod", "prod"].map(String::from).to_vec();
    crate::core::metrics::compute(&history, since, NOW, "prod", &envs)
}

#[test]
fn every_pane_at_80x24_and_200x50() {
    let mut app = loaded_with_log(lines(999_951, 50));
    app.dashboard.metrics = Some(indicators());
    app.on_msg(Msg::PlanOpened {
        path: "plans/pets-1.4.0.toml".into(),
        text: "app = \"pets\"\n\n[[actions]]\nid = \"stop\"\nuses = \"jboss-stpo\"\n".into(),
        request: None,
    });
    app.on_msg(Msg::PlanChecked {
        version: 1,
        problems: vec![Problem {
            line: 5,
            col: 8,
            error: true,
            message: "unknown automation `jboss-stpo`; expected one of jboss-stop, jboss-start"
                .into(),
        }],
        side: String::new(),
    });
    for (pane, name) in [
        (Pane::Requests, "requests"),
        (Pane::Plan, "plan"),
        (Pane::Runs, "runs"),
        (Pane::Dashboard, "dashboard"),
    ] {
        app.pane = pane;
        snap!(format!("{name}_80x24"), screen(&app, 80, 24));
        snap!(format!("{name}_200x50"), screen(&app, 200, 50));
    }
}

#[test]
fn number_keys_tab_and_clicks_switch_panes() {
    let mut app = loaded();
    key(&mut app, KeyCode::Char('4'));
    assert_eq!(app.pane, Pane::Dashboard);
    key(&mut app, KeyCode::Tab);
    assert_eq!(app.pane, Pane::Requests, "tab wraps around");
    key(&mut app, KeyCode::BackTab);
    assert_eq!(app.pane, Pane::Dashboard);
    app.on_mouse(ratatui::crossterm::event::MouseEvent {
        kind: ratatui::crossterm::event::MouseEventKind::Down(
            ratatui::crossterm::event::MouseButton::Left,
        ),
        column: 15,
        row: 1,
        modifiers: KeyModifiers::NONE,
    });
    assert_eq!(app.pane, Pane::Plan, "second tab clicked");
}

#[test]
fn help_lists_the_pane_keys_and_swallows_the_next_key() {
    let mut app = loaded();
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Char('?'));
    let text = screen(&app, 80, 40);
    assert!(text.contains("ROLLBACK"), "{text}");
    assert!(text.contains("cancel run"), "{text}");
    key(&mut app, KeyCode::Char('q'));
    assert!(app.popups.is_empty());
    assert!(!app.quit, "the key that closes help does not also quit");
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn deploy_asks_the_worker_then_confirms_with_plan_and_rollback() {
    let mut app = loaded();
    let effects = key(&mut app, KeyCode::Char('d'));
    assert!(
        matches!(&effects[..], [Effect::PrepareDeploy { id: 4, env, override_freeze: None }] if env == "uat"),
        "{effects:?}"
    );
    // The next request's next env is preprod.
    key(&mut app, KeyCode::Char('j'));
    let effects = key(&mut app, KeyCode::Char('d'));
    assert!(
        matches!(&effects[..], [Effect::PrepareDeploy { id: 3, env, .. }] if env == "preprod"),
        "{effects:?}"
    );
}

#[test]
fn rollback_is_r_then_enter_and_the_rollback_run_opens_followed() {
    let mut app = loaded();
    key(&mut app, KeyCode::Char('3'));
    let effects = key(&mut app, KeyCode::Char('R'));
    assert!(
        matches!(&effects[..], [Effect::PrepareRollback { app, env }] if app == "pets" && env == "uat"),
        "{effects:?}"
    );
    let preview = crate::workflow::RollbackPreview {
        of: run(2, "deploy", "failed").row,
        app: "pets".into(),
        env: "uat".into(),
        text: "Rollback of run #2 (deploy, failed) of pets on uat\n\nRollback plan: 1 action, 1 step\n  1. Start the JBoss instances  [undo-stop-jboss]\n".into(),
        actions: 1,
        config: crate::settings::ConfigSnapshot::default(),
    };
    app.on_msg(Msg::RollbackPreview(Box::new(preview)));
    snap!("rollback_modal_80x24", screen(&app, 80, 24));
    // Esc cancels; R again and Enter starts.
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert!(app.popups.is_empty());
    key(&mut app, KeyCode::Char('R'));
    let preview = crate::workflow::RollbackPreview {
        of: run(2, "deploy", "failed").row,
        app: "pets".into(),
        env: "uat".into(),
        text: String::new(),
        actions: 1,
        config: crate::settings::ConfigSnapshot::default(),
    };
    app.on_msg(Msg::RollbackPreview(Box::new(preview)));
    assert!(
        key(&mut app, KeyCode::Enter).is_empty(),
        "an Enter just after the modal appeared (meant for something else) does not start it"
    );
    arm(&mut app);
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::StartRollback { preview, reason: None }] if preview.of.id == 2),
        "R then Enter starts it, with no reason: {effects:?}"
    );
    let effects = app.on_msg(Msg::Started {
        run: 9,
        what: "rollback of pets on uat".into(),
    });
    assert_eq!(app.pane, Pane::Runs);
    assert_eq!(app.runs.picked, Some(9));
    assert!(app.runs.focus_log && app.runs.log.follow);
    assert!(
        matches!(
            &effects[..],
            [Effect::Log {
                run: 9,
                anchor: LogAnchor::Tail,
                part: LogPart::Tail,
                ..
            }]
        ),
        "{effects:?}"
    );
}

/// A rollback preview of run #2 on uat, as the worker answers `R`.
fn rollback_preview() -> Box<crate::workflow::RollbackPreview> {
    Box::new(crate::workflow::RollbackPreview {
        of: run(2, "deploy", "failed").row,
        app: "pets".into(),
        env: "uat".into(),
        text: "Rollback plan: 1 action, 1 step\n".into(),
        actions: 1,
        config: crate::settings::ConfigSnapshot::default(),
    })
}

#[test]
fn a_reason_typed_in_the_rollback_confirmation_goes_with_it() {
    let mut app = loaded();
    key(&mut app, KeyCode::Char('3'));
    app.on_msg(Msg::RollbackPreview(rollback_preview()));
    arm(&mut app);
    let s = screen(&app, 80, 24);
    assert!(s.contains("Reason (optional, Enter skips):"), "{s}");
    // Letters are the reason's, not the scroll's or the close's: `q` and `n` are typed.
    assert!(chars(&mut app, "INC-42 q n Gg").is_empty());
    assert_eq!(app.popups.len(), 1, "typing closes nothing");
    let s = screen(&app, 80, 24);
    assert!(s.contains("INC-42 q n Gg"), "{s}");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::StartRollback { reason: Some(r), .. }] if r == "INC-42 q n Gg"),
        "{effects:?}"
    );
    // Esc still closes, whatever was typed.
    app.on_msg(Msg::RollbackPreview(rollback_preview()));
    chars(&mut app, "oops");
    assert!(key(&mut app, KeyCode::Esc).is_empty());
    assert!(app.popups.is_empty());
}

#[test]
fn a_deploy_to_a_protected_env_starts_only_once_its_name_is_typed() {
    let mut app = loaded();
    let preview = |env: &str| crate::workflow::DeployPreview {
        request: crate::store::RequestRow {
            id: 3,
            app: "pets".into(),
            version: "1.3.0".into(),
            package_digest: "abc".into(),
            lifecycle: "standard".into(),
            title: "pets 1.3.0".into(),
            state: "approved".into(),
            created_by: "dev".into(),
            created_at: NOW,
            updated_at: NOW,
            plan_digest: "def".into(),
            plan_path: None,
            blocked: None,
            plan_by: "dev".into(),
            plan_body: String::new(),
        },
        env: env.into(),
        package: crate::store::PackageRow {
            digest: "abc".into(),
            app: "pets".into(),
            version: "1.3.0".into(),
            artifacts: Vec::new(),
            size_bytes: 0,
            imported_at: NOW,
            imported_by: "dev".into(),
        },
        text: "Deploy plan: 1 action\n".into(),
        freeze: None,
    };
    app.on_msg(Msg::DeployPreview {
        preview: Box::new(preview("prod")),
        override_freeze: None,
    });
    arm(&mut app);
    let s = screen(&app, 80, 24);
    assert!(s.contains("Type prod to confirm:"), "{s}");
    assert!(
        key(&mut app, KeyCode::Enter).is_empty(),
        "Enter alone does not deploy to prod"
    );
    chars(&mut app, "preprod");
    assert!(
        key(&mut app, KeyCode::Enter).is_empty(),
        "another env's name is not prod's"
    );
    let s = screen(&app, 80, 24);
    assert!(s.contains("Not `prod`: type prod to confirm:"), "{s}");
    for _ in 0..7 {
        key(&mut app, KeyCode::Backspace);
    }
    chars(&mut app, "prod");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::StartDeploy { preview, .. }] if preview.env == "prod"),
        "{effects:?}"
    );
    // uat is not protected: Enter is the whole of it, and j/k scroll as before.
    app.on_msg(Msg::DeployPreview {
        preview: Box::new(preview("uat")),
        override_freeze: None,
    });
    arm(&mut app);
    assert!(!screen(&app, 80, 24).contains("to confirm:"));
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::StartDeploy { preview, .. }] if preview.env == "uat"),
        "{effects:?}"
    );
}

#[test]
fn read_only_hides_and_refuses_every_action() {
    let mut app = app_with(Options {
        read_only: true,
        ..Options::default()
    });
    app.on_msg(Msg::Data(Box::new(data())));
    for c in ['d', 'a', 'x', 's'] {
        assert!(key(&mut app, KeyCode::Char(c)).is_empty(), "{c}");
        assert!(
            matches!(app.popups.pop(), Some(Popup::Message { .. })),
            "{c} explains"
        );
    }
    key(&mut app, KeyCode::Char('3'));
    assert!(key(&mut app, KeyCode::Char('R')).is_empty());
    app.popups.clear();
    let text = screen(&app, 200, 50);
    assert!(text.contains("READ-ONLY"), "{text}");
    assert!(!text.contains("ROLLBACK"), "{text}");
    assert!(!text.contains("cancel run"), "{text}");
}

#[test]
fn approve_asks_for_a_comment_for_the_next_env() {
    let mut app = loaded();
    key(&mut app, KeyCode::Char('a'));
    chars(&mut app, "ok for uat");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::Decide { id: 4, env, decision: "approved", comment, shown }]
            if env == "uat" && comment == "ok for uat" && shown == "digest-4"),
        "{effects:?}"
    );
    // A refusal comes back as a message that says why.
    app.on_msg(Msg::Failed(
        "you (ops) filed request #4: someone else must approve it (four eyes)".into(),
    ));
    let text = screen(&app, 80, 24);
    assert!(text.contains("four eyes"), "{text}");
}

#[test]
fn the_filter_narrows_the_list_while_typing_and_esc_clears_it() {
    let mut app = loaded();
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "deployed");
    assert_eq!(app.requests.shown().len(), 1);
    assert_eq!(app.requests.selected().map(|r| r.id), Some(3));
    key(&mut app, KeyCode::Esc);
    assert_eq!(app.requests.shown().len(), 2);
}

#[test]
fn the_log_pages_back_through_the_store_and_returns_to_the_tail() {
    let mut app = loaded_with_log(lines(999_001, 1000));
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Enter);
    app.runs.log.height.set(20);
    assert!(app.runs.log.follow);
    // Scrolling up a page at a time: near the window's top, the page before it is read.
    let mut asked = Vec::new();
    for _ in 0..60 {
        asked = key(&mut app, KeyCode::PageUp);
        if !asked.is_empty() {
            break;
        }
    }
    assert!(!app.runs.log.follow, "scrolling up stops following");
    assert!(
        matches!(
            &asked[..],
            [Effect::Log {
                run: 2,
                anchor: LogAnchor::Before(999_001),
                part: LogPart::Older,
                ..
            }]
        ),
        "{asked:?}"
    );
    let top_seq = app.runs.log.lines[app.runs.log.top].seq;
    answer(&mut app, &asked, lines(998_001, 1000));
    assert_eq!(
        app.runs.log.lines[app.runs.log.top].seq, top_seq,
        "the screen does not jump when a page arrives"
    );
    // G goes back to the tail and follows.
    let effects = key(&mut app, KeyCode::Char('G'));
    assert!(app.runs.log.follow);
    assert!(
        matches!(
            &effects[..],
            [Effect::Log {
                anchor: LogAnchor::Tail,
                ..
            }]
        ),
        "{effects:?}"
    );
    answer(&mut app, &effects, lines(999_001, 1000));
    // Memory stays bounded however far back one scrolls, a page read at a time.
    app.runs.log.height.set(500);
    for _ in 0..300 {
        let asked = key(&mut app, KeyCode::PageUp);
        if let Some(Effect::Log {
            anchor: LogAnchor::Before(seq),
            ..
        }) = asked.first()
        {
            let seq = *seq;
            answer(&mut app, &asked, lines(seq - 1000, 1000));
        }
    }
    assert!(
        app.runs.log.lines.len() <= 3000,
        "{}",
        app.runs.log.lines.len()
    );
    assert!(app.runs.log.lines[0].seq < 900_000, "it did page back");
    let seqs: Vec<i64> = app.runs.log.lines.iter().map(|l| l.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "the window is contiguous"
    );
}
#[test]
fn the_log_searches_in_the_store_and_jumps_to_the_hit() {
    let mut app = loaded();
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Enter);
    key(&mut app, KeyCode::Char('/'));
    chars(&mut app, "ERROR");
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::Find { run: 2, needle, backward: false, .. }] if needle == "ERROR"),
        "{effects:?}"
    );
    let effects = app.on_msg(Msg::Found {
        run: 2,
        needle: "ERROR".into(),
        seq: Some(12),
    });
    assert!(
        matches!(
            &effects[..],
            [Effect::Log {
                anchor: LogAnchor::From(12),
                part: LogPart::Jump,
                ..
            }]
        ),
        "{effects:?}"
    );
    assert_eq!(app.runs.log.hit, Some(12));
    let effects = key(&mut app, KeyCode::Char('N'));
    assert!(
        matches!(
            &effects[..],
            [Effect::Find {
                from: 12,
                backward: true,
                ..
            }]
        ),
        "{effects:?}"
    );
}

#[test]
fn escape_sequences_in_output_are_shown_not_obeyed() {
    let mut app = loaded_with_log(lines(1, 3));
    key(&mut app, KeyCode::Char('3'));
    let text = screen(&app, 120, 30);
    assert!(
        text.contains("line 1 of the deploy \\e[31mred\\e[0m"),
        "{text}"
    );
}

/// A title sequence and a bell, as a person or a CMDB could put them in any name.
const HOSTILE: &str = "x\u{1b}]0;pwned\u{7}\u{1b}[2J\u{9b}1m\u{202e}y";

/// Every cell of `text` is one a terminal shows, never obeys.
fn assert_defused(text: &str, what: &str) {
    if let Some(c) = text.chars().find(|c| c.is_control() && *c != '\n') {
        panic!("{what}: {c:?} reaches the terminal:\n{text}");
    }
    assert!(
        !text.contains('\u{202e}'),
        "{what}: a bidi override:\n{text}"
    );
}

#[test]
fn hostile_names_in_every_pane_and_popup_reach_no_terminal_raw() {
    let mut d = data();
    d.requests[0].title = format!("title {HOSTILE}");
    d.requests[0].approvals = vec![format!("uat: approved by alice ({HOSTILE})")];
    d.runs[0].progress.current = Some(format!("step {HOSTILE}"));
    let mut steps = steps();
    steps[0].step_name = format!("print{HOSTILE}");
    steps[2].step_name = format!("solo{HOSTILE}");
    steps[2].host = String::new();
    steps[3].host = format!("host{HOSTILE}");
    d.steps = Some((2, steps));
    let mut app = app();
    let effects = app.on_msg(Msg::Data(Box::new(d)));
    answer(&mut app, &effects, lines(1, 3));
    let requests = screen(&app, 200, 50);
    assert_defused(&requests, "the Requests pane");
    assert!(requests.contains("title x␛]0;pwned␇␛[2J�1my"), "{requests}");
    key(&mut app, KeyCode::Char('3'));
    let runs = screen(&app, 200, 50);
    assert_defused(&runs, "the Runs pane");
    // The Steps tree, with one host and with several, and the CURRENT STEP column.
    for shown in [
        "printx␛]0;pwned␇",
        "solox␛]0;pwned␇",
        "hostx␛]0;pwned␇",
        "step x␛]0;",
    ] {
        assert!(runs.contains(shown), "no {shown:?} in\n{runs}");
    }
    // The log pane keeps its richer escapes.
    assert!(runs.contains("\\e[31mred"), "{runs}");
    key(&mut app, KeyCode::Char('4'));
    assert_defused(&screen(&app, 200, 50), "the Dashboard");
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Char('R'));
    app.on_msg(Msg::RollbackPreview(Box::new(
        crate::workflow::RollbackPreview {
            of: run(2, "deploy", "failed").row,
            app: "pets".into(),
            env: "uat".into(),
            text: format!("Rollback plan: 1 action\n  1. undo {HOSTILE}  [undo-{HOSTILE}]\n"),
            actions: 1,
            config: crate::settings::ConfigSnapshot::default(),
        },
    )));
    let modal = screen(&app, 80, 24);
    assert_defused(&modal, "the rollback confirmation");
    assert!(modal.contains("1. undo x␛]0;pwned␇"), "{modal}");
}

#[test]
fn the_plan_is_checked_after_a_pause_in_typing_and_stale_checks_are_ignored() {
    let mut app = loaded();
    app.on_msg(Msg::PlanOpened {
        path: "plans/p.toml".into(),
        text: "app = \"pets\"\n".into(),
        request: None,
    });
    let now = Instant::now();
    let first = app.plan.poll(now);
    assert!(
        matches!(first, Some(Effect::CheckPlan { version: 1, .. })),
        "{first:?}"
    );
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Enter);
    assert!(app.plan.editing);
    chars(&mut app, "# 1234 q");
    assert!(
        !app.quit && app.pane == Pane::Plan,
        "typed keys go to the text"
    );
    assert!(app.plan.poll(Instant::now()).is_none(), "not during typing");
    let later = Instant::now() + Duration::from_millis(400);
    let Some(Effect::CheckPlan { version, text, .. }) = app.plan.poll(later) else {
        panic!("no check after the pause");
    };
    assert!(text.starts_with("# 1234 qapp"), "{text}");
    app.plan.checked(version - 1, vec![], "stale".into());
    assert!(
        app.plan.side.is_empty(),
        "a check of an older text is dropped"
    );
    // Quitting with unsaved edits asks twice.
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('q'));
    assert!(!app.quit);
    key(&mut app, KeyCode::Char('q'));
    assert!(app.quit);
}

#[test]
fn other_operators_changes_arrive_without_a_key_press() {
    let mut app = loaded();
    let first = app.tick(Instant::now());
    assert!(matches!(&first[..], [Effect::Refresh { .. }]), "{first:?}");
    assert!(app.tick(Instant::now()).is_empty(), "one refresh at a time");
    let mut d = data();
    d.requests[0].state = "blocked".into();
    app.on_msg(Msg::Data(Box::new(d)));
    assert!(
        app.tick(Instant::now() + Duration::from_millis(1100))
            .iter()
            .any(|e| matches!(e, Effect::Refresh { .. }))
    );
    assert!(screen(&app, 80, 24).contains("blocked"));
}

#[test]
fn only_the_answer_to_the_latest_question_is_used() {
    let mut app = loaded_with_log(lines(999_001, 1000));
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Enter);
    app.runs.log.height.set(38);
    // g, then PgUp before the head arrives: the older page asked for the old window must
    // not be glued onto the new one.
    let head = key(&mut app, KeyCode::Char('g'));
    let stale = key(&mut app, KeyCode::PageUp);
    answer(&mut app, &head, lines(1, 1000));
    if !stale.is_empty() {
        answer(&mut app, &stale, lines(998_001, 1000));
    }
    let seqs: Vec<i64> = app.runs.log.lines.iter().map(|l| l.seq).collect();
    assert_eq!(seqs.first(), Some(&1));
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "{:?}",
        &seqs[..5]
    );
    // Paging down to the window's end asks for the next page; G meanwhile supersedes it,
    // in whatever order the answers come.
    let mut newer = Vec::new();
    for _ in 0..40 {
        let e = key(&mut app, KeyCode::PageDown);
        if !e.is_empty() {
            newer = e;
        }
    }
    assert!(
        matches!(
            &newer[..],
            [Effect::Log {
                part: LogPart::Newer,
                ..
            }]
        ),
        "{newer:?}"
    );
    let tail = key(&mut app, KeyCode::Char('G'));
    answer(&mut app, &tail, lines(999_001, 1000));
    answer(&mut app, &newer, lines(1001, 1000));
    let text = screen(&app, 120, 50);
    assert!(text.contains("line 1000000 of"), "{text}");
    assert!(!text.contains("line 2000 of"), "{text}");
    // A failed read is said, and the next key asks again.
    let again = key(&mut app, KeyCode::Char('g'));
    let Some(Effect::Log { generation, .. }) = again.first() else {
        panic!("{again:?}");
    };
    app.on_msg(Msg::LogFailed {
        generation: *generation,
        error: "database is locked".into(),
    });
    assert!(!app.runs.log.pending);
    assert!(screen(&app, 120, 50).contains("cannot read the log: database is locked"));
}

#[test]
fn following_reads_only_what_is_new_unless_far_behind() {
    let mut app = loaded_with_log(lines(1, 10));
    key(&mut app, KeyCode::Char('3'));
    let poll = app.runs.log.poll();
    assert!(
        matches!(
            poll,
            Some(Effect::Log {
                anchor: LogAnchor::From(11),
                part: LogPart::Newer,
                ..
            })
        ),
        "{poll:?}"
    );
    let poll = poll.into_iter().collect::<Vec<_>>();
    // The page overlaps what is shown (the run's end was read before it): no line twice.
    answer(&mut app, &poll, lines(9, 1000));
    let seqs: Vec<i64> = app.runs.log.lines.iter().map(|l| l.seq).collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1));
    // That page was full: the tail is further on, so the next poll reads the tail.
    let poll = app.runs.log.poll();
    assert!(
        matches!(
            poll,
            Some(Effect::Log {
                anchor: LogAnchor::Tail,
                ..
            })
        ),
        "{poll:?}"
    );
}
#[test]
fn the_palette_finds_commands_fuzzily_and_takes_numbers_as_typed() {
    let mut app = loaded();
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "rollback pets preprod");
    snap!("palette_80x24", screen(&app, 80, 24));
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(&effects[..], [Effect::PrepareRollback { app, env }] if app == "pets" && env == "preprod"),
        "{effects:?}"
    );
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "run 3");
    let effects = key(&mut app, KeyCode::Enter);
    assert_eq!(app.pane, Pane::Runs);
    assert_eq!(app.runs.picked, Some(3));
    assert!(
        matches!(&effects[..], [Effect::Log { run: 3, .. }]),
        "{effects:?}"
    );
    // A run older than the list is not silently opened empty.
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "run 77");
    assert!(key(&mut app, KeyCode::Enter).is_empty());
    assert!(screen(&app, 80, 24).contains("run #77 is not among"));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char(':'));
    chars(&mut app, "req 3");
    key(&mut app, KeyCode::Enter);
    assert_eq!(app.pane, Pane::Requests);
    assert_eq!(app.requests.selected().map(|r| r.id), Some(3));
}

#[test]
fn a_waiting_gate_is_answered_from_the_runs_pane() {
    let mut app = loaded();
    let mut d = data();
    d.runs[0].row.state = "waiting".into();
    app.on_msg(Msg::Data(Box::new(d)));
    key(&mut app, KeyCode::Char('3'));
    assert!(screen(&app, 120, 30).contains("GATE: y confirm"));
    // Each answer names the gate and asks once more: a stray key answers nothing.
    assert!(key(&mut app, KeyCode::Char('y')).is_empty());
    assert!(screen(&app, 120, 30).contains("deploy-war/copy the WAR"));
    arm(&mut app);
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(
            &effects[..],
            [Effect::Command {
                run: 2,
                command: "confirm"
            }]
        ),
        "{effects:?}"
    );
    assert!(
        key(&mut app, KeyCode::Char('A')).is_empty(),
        "abort asks first"
    );
    arm(&mut app);
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(
            &effects[..],
            [Effect::Command {
                run: 2,
                command: "abort"
            }]
        ),
        "{effects:?}"
    );
    // Cancel asks too; resume is for interrupted runs only.
    key(&mut app, KeyCode::Char('c'));
    arm(&mut app);
    let effects = key(&mut app, KeyCode::Enter);
    assert!(
        matches!(
            &effects[..],
            [Effect::Command {
                run: 2,
                command: "cancel"
            }]
        ),
        "{effects:?}"
    );
    assert!(key(&mut app, KeyCode::Char('r')).is_empty());
    assert!(matches!(app.popups.pop(), Some(Popup::Message { .. })));
}

#[test]
fn host_stream_and_step_filters_cycle_and_reread_the_log() {
    let mut app = loaded();
    key(&mut app, KeyCode::Char('3'));
    key(&mut app, KeyCode::Enter);
    let filter_of = |effects: &[Effect]| match effects {
        [
            Effect::Log {
                filter,
                anchor: LogAnchor::Tail,
                ..
            },
        ] => filter.clone(),
        other => panic!("{other:?}"),
    };
    let f = filter_of(&key(&mut app, KeyCode::Char('f')));
    assert_eq!(f.step, Some(0));
    app.runs.log.pending = false;
    let f = filter_of(&key(&mut app, KeyCode::Char('f')));
    assert_eq!(f.step, Some(1), "the next step");
    app.runs.log.pending = false;
    let f = filter_of(&key(&mut app, KeyCode::Char('h')));
    assert_eq!((f.host.as_deref(), f.step), (Some("uat-jboss-1"), Some(1)));
    app.runs.log.pending = false;
    let f = filter_of(&key(&mut app, KeyCode::Char('s')));
    assert_eq!(f.stream.as_deref(), Some("stdout"));
    assert!(
        screen(&app, 120, 30)
            .contains("host uat-jboss-1 · stdout · step stop-jboss/stop the instance")
    );
    app.runs.log.pending = false;
    let f = filter_of(&key(&mut app, KeyCode::Char('f')));
    assert_eq!(f.step, None, "past the last step: every step again");
}

#[test]
fn a_long_confirmation_scrolls_to_its_last_line() {
    let mut app = loaded();
    let text: String = (1..=80)
        .map(|i| format!("line {i} {}\n", "word ".repeat(i % 30)))
        .collect();
    app.popups.push(Popup::confirm(
        "Long",
        text,
        Effect::Resume { run: 1 },
        false,
    ));
    screen(&app, 80, 24);
    key(&mut app, KeyCode::Char('G'));
    let s = screen(&app, 80, 24);
    assert!(s.contains("line 80 "), "{s}");
    assert!(!s.contains("line 1 "), "{s}");
}

#[test]
fn opening_another_plan_over_unsaved_edits_asks_first() {
    let mut app = loaded();
    app.on_msg(Msg::PlanOpened {
        path: "plans/a.toml".into(),
        text: "app = \"pets\"\n".into(),
        request: None,
    });
    key(&mut app, KeyCode::Char('2'));
    key(&mut app, KeyCode::Enter);
    chars(&mut app, "# edit");
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('1'));
    assert!(
        key(&mut app, KeyCode::Char('e')).is_empty(),
        "not over unsaved edits"
    );
    assert!(screen(&app, 80, 24).contains("unsaved changes"));
    key(&mut app, KeyCode::Esc);
    key(&mut app, KeyCode::Char('1'));
    let effects = key(&mut app, KeyCode::Char('e'));
    assert!(
        matches!(&effects[..], [Effect::OpenPlan { .. }]),
        "the second e opens: {effects:?}"
    );
}

#[test]
fn approving_ones_own_request_is_asked_at_once_without_a_comment() {
    let mut app = app();
    let mut d = data();
    d.requests[0].by = "ops".into();
    app.on_msg(Msg::Data(Box::new(d)));
    let effects = key(&mut app, KeyCode::Char('a'));
    assert!(
        matches!(
            &effects[..],
            [Effect::Decide {
                id: 4,
                decision: "approved",
                ..
            }]
        ),
        "the core refuses it and records the refusal: {effects:?}"
    );
    assert!(app.popups.is_empty(), "no comment to type first");
}

#[test]
fn the_log_tells_apart_hosts_whose_names_are_longer_than_its_host_column() {
    let fleet: Vec<LogLine> = lines(1, 10)
        .into_iter()
        .map(|mut l| {
            l.host = format!("preprod-jboss-{}", l.seq % 2 + 1);
            l
        })
        .collect();
    let mut app = loaded_with_log(fleet);
    app.pane = Pane::Runs;
    let text = screen(&app, 80, 24);
    assert!(!text.contains("preprod-jbos"), "{text}");
    for host in ["…jboss-1 ", "…jboss-2 "] {
        assert!(text.contains(host), "{text}");
    }
}

#[test]
fn the_eta_fits_at_80_columns_and_is_left_out_without_a_past_run_of_the_plan() {
    let mut app = loaded();
    app.pane = Pane::Runs;
    let row = |app: &App| {
        screen(app, 80, 24)
            .lines()
            .find(|l| l.contains("#2 "))
            .unwrap_or_default()
            .to_string()
    };
    // 59 s left: the whole figure shows, not `ETA 5`.
    assert!(
        row(&app).contains("[██████····] ETA 59s  "),
        "{}",
        row(&app)
    );
    // Whole seconds, rounded up: `ETA 21s750ms` was cut to `ETA 21s7`.
    app.runs.runs[0].progress.typical_ms = Some(120_000 + 21_750);
    assert!(row(&app).contains("] ETA 22s  "), "{}", row(&app));
    app.runs.runs[0].progress.typical_ms = Some(7 * 60_000);
    assert!(row(&app).contains("] ETA 5m  "), "{}", row(&app));
    // Running longer than it used to: no made-up `ETA 0s`.
    app.runs.runs[0].progress.typical_ms = Some(60_000);
    assert!(row(&app).contains("[█████████·] overdue"), "{}", row(&app));
    // This plan never succeeded on this env: counts, no estimate.
    app.runs.runs[0].progress.typical_ms = None;
    assert!(row(&app).contains("6 done, 0 failed"), "{}", row(&app));
    assert!(!row(&app).contains("ETA"), "{}", row(&app));
}

#[test]
fn the_step_tree_sums_up_a_fleet_and_names_the_hosts_that_failed() {
    let mut app = loaded();
    let mut d = data();
    let fleet = (0..20)
        .map(|i| StepRunRow {
            id: 100 + i,
            position: 0,
            action_id: "deploy-war".into(),
            step_name: "copy the WAR".into(),
            host: format!("web-{i:02}"),
            state: if i == 7 { "failed" } else { "succeeded" }.into(),
            started_at: Some(NOW),
            finished_at: Some(NOW),
            exit_code: Some(0),
            detail: None,
        })
        .collect();
    d.steps = Some((2, fleet));
    app.on_msg(Msg::Data(Box::new(d)));
    key(&mut app, KeyCode::Char('3'));
    let text = screen(&app, 200, 50);
    assert!(text.contains("✓ 19  ✗ 1  ▶ 0  · 0"), "{text}");
    assert!(text.contains("✗ web-07"), "{text}");
    assert!(!text.contains("✓ web-01"), "{text}");
}

#[test]
fn the_step_tree_shows_a_playbook_beside_its_hosts() {
    let mut app = loaded();
    let mut d = data();
    let row = |id: i64, host: &str, state: &str| StepRunRow {
        id,
        position: 0,
        action_id: "deploy-war".into(),
        step_name: "playbook".into(),
        host: host.into(),
        state: state.into(),
        started_at: Some(NOW),
        finished_at: None,
        exit_code: None,
        detail: None,
    };
    d.steps = Some((
        2,
        vec![
            row(100, "", "running"),
            row(101, "web-1", "running"),
            row(102, "web-2", "running"),
        ],
    ));
    app.on_msg(Msg::Data(Box::new(d)));
    key(&mut app, KeyCode::Char('3'));
    let text = screen(&app, 200, 50);
    assert!(text.contains("▶ (playbook)"), "{text}");
    assert!(text.contains("▶ web-2"), "{text}");
}

#[test]
fn the_dashboard_switches_window_and_scope_and_drills_down_to_a_run() {
    let mut app = loaded();
    key(&mut app, KeyCode::Char('4'));
    let now = Instant::now();
    let first = app.tick(now);
    let Some(Effect::Metrics { query, asked }) =
        first.iter().find(|e| matches!(e, Effect::Metrics { .. }))
    else {
        panic!("{first:?}");
    };
    assert_eq!(
        query.until - query.since,
        30 * 86_400_000,
        "30 days by default"
    );
    // A late answer to an older question is dropped.
    key(&mut app, KeyCode::Char('w'));
    let asked_before = *asked;
    let second = app.tick(now);
    let Some(Effect::Metrics { query, asked }) =
        second.iter().find(|e| matches!(e, Effect::Metrics { .. }))
    else {
        panic!("{second:?}");
    };
    assert_eq!(query.until - query.since, 90 * 86_400_000);
    app.on_msg(Msg::Metrics {
        asked: asked_before,
        indicators: Box::new(crate::core::metrics::Indicators::default()),
    });
    assert!(app.dashboard.metrics.is_none());
    app.on_msg(Msg::Metrics {
        asked: *asked,
        indicators: Box::new(indicators()),
    });
    assert!(app.dashboard.metrics.is_some());
    key(&mut app, KeyCode::Char('a'));
    assert_eq!(app.dashboard.app.as_deref(), Some("pets"));
    // A window of one's own.
    key(&mut app, KeyCode::Char('W'));
    chars(&mut app, "14d");
    key(&mut app, KeyCode::Enter);
    let custom = app.tick(Instant::now());
    assert!(
        custom.iter().any(|e| matches!(e, Effect::Metrics { query, .. }
            if query.until - query.since == 14 * 86_400_000 && query.app.as_deref() == Some("pets"))),
        "{custom:?}"
    );
    app.on_msg(Msg::Metrics {
        asked: match custom.iter().find_map(|e| match e {
            Effect::Metrics { asked, .. } => Some(*asked),
            _ => None,
        }) {
            Some(a) => a,
            None => panic!("no metrics asked"),
        },
        indicators: Box::new(indicators()),
    });
    // The second incident, then Enter: its run, followed, in the Runs pane.
    key(&mut app, KeyCode::Char('j'));
    let effects = key(&mut app, KeyCode::Enter);
    assert_eq!(app.pane, Pane::Runs);
    assert_eq!(app.runs.picked, Some(12));
    assert!(
        matches!(&effects[..], [Effect::Log { run: 12, .. }]),
        "{effects:?}"
    );
}
