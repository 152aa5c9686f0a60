//! The console: four panes over the workspace's requests, plans, runs and dashboards.
//!
//! Shape (STYLE.md §4.2): a loop receives terminal events and worker answers on one channel,
//! turns them into state changes in [`app::App`] (no IO there), sends the effects that come
//! out to the store workers, and draws from memory when something changed, at most 60 times
//! a second.

mod action;
mod app;
mod config_watch;
mod data;
mod keymap;
mod palette;
mod pane;
mod panes;
mod popup;
pub mod terminal;
mod theme;
mod view;
mod worker;

#[cfg(test)]
mod tests;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event as TermEvent};

pub use action::{Action, Effect, LogPart, Msg};
pub use app::{App, Options};
pub use data::{Data, RequestLine, RunLine};
pub use keymap::{Context, Key, Keymap};
pub use panes::Pane;
pub use panes::widgets::DEFAULT as DASHBOARD_WIDGETS;
pub use theme::Theme;
pub use view::{draw, draw_at};

use crate::error::{Error, Result};
use crate::settings::Workspace;
use worker::Event;

/// At most one frame per this.
const FRAME: Duration = Duration::from_millis(16);

/// Opens the console on `ws` and returns when the operator quits. Runs started from it go
/// on: they belong to their runners, not to the console.
pub fn run(ws: Workspace, options: Options) -> Result<()> {
    if !options.read_only {
        // Packages placed in the drop directory reach the vault while the console is open.
        crate::vault::drop::sweep_periodically(ws.clone(), Duration::from_secs(30));
    }
    let open = || {
        crate::store::Store::open(
            &ws.data_dir,
            &ws.config_dir,
            Duration::from_millis(ws.settings.busy_timeout_ms),
        )
    };
    let (tx, rx) = mpsc::channel::<Event>();
    let (reads, reads_rx) = mpsc::channel::<Effect>();
    let (acts, acts_rx) = mpsc::channel::<Effect>();
    let mut workers = Vec::new();
    for (store, effects, reload, watch) in [
        // The reads follow whether the config has errors, for the header.
        (
            open()?,
            reads_rx,
            None,
            options.source.clone().map(config_watch::ConfigWatch::new),
        ),
        // Decisions are taken on the config as it is now, not as it was when the console
        // opened: a freeze or an approver group added since counts.
        (open()?, acts_rx, options.source.clone(), None),
    ] {
        let (ws, tx) = (ws.clone(), tx.clone());
        workers.push(std::thread::spawn(move || {
            worker::serve(ws, (reload, watch), store, effects, tx);
        }));
    }
    let mut app = App::new(ws, crate::identity::Actor::current(), options);
    let mut guard = terminal::Guard::enter()?;
    // The terminal is read on its own thread: the loop then waits on one channel.
    let closed = tx.clone();
    std::thread::spawn(move || {
        while let Ok(ev) = event::read() {
            if tx.send(Event::Term(ev)).is_err() {
                return;
            }
        }
        // The terminal is gone (hung up): nobody is looking, so the console ends. Runs go on.
        let _ = tx.send(Event::Closed);
    });
    // A hang-up (the SSH connection dropped) ends the console the same orderly way, rather
    // than killing it in the middle of an action.
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async {
            use tokio::signal::unix::{SignalKind, signal};
            if let Ok(mut hup) = signal(SignalKind::hangup()) {
                hup.recv().await;
                let _ = closed.send(Event::Closed);
            }
        });
    });
    let result = event_loop(&mut app, guard.terminal(), &rx, &reads, &acts);
    // An action under way (a deploy being created) finishes before the console is gone: a
    // run half created would hold its env's lock.
    drop((reads, acts));
    for w in workers {
        let _ = w.join();
    }
    result
}

fn event_loop(
    app: &mut App,
    terminal: &mut ratatui::Terminal<ratatui::backend::CrosstermBackend<std::io::Stdout>>,
    rx: &mpsc::Receiver<Event>,
    reads: &mpsc::Sender<Effect>,
    acts: &mpsc::Sender<Effect>,
) -> Result<()> {
    let send = |e: Effect| {
        let to = if e.is_read() { reads } else { acts };
        let _ = to.send(e);
    };
    let fail = |e| Error::io("terminal error")(e);
    let mut drawn_at = Instant::now() - FRAME;
    // A key or a resize is drawn at once; what the workers bring (a streaming log) waits for
    // the frame cap. The person's own action never waits behind the data.
    let mut urgent = false;
    loop {
        for e in app.tick(Instant::now()) {
            send(e);
        }
        if app.quit {
            return Ok(());
        }
        if app.dirty && (urgent || drawn_at.elapsed() >= FRAME) {
            terminal.draw(|f| view::draw(app, f)).map_err(fail)?;
            app.dirty = false;
            urgent = false;
            drawn_at = Instant::now();
        }
        let wait = if app.dirty {
            FRAME.saturating_sub(drawn_at.elapsed())
        } else {
            Duration::from_millis(50)
        };
        let first = match rx.recv_timeout(wait) {
            Ok(ev) => ev,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(()),
        };
        // Everything that queued up is applied before the next frame.
        for ev in std::iter::once(first).chain(rx.try_iter()) {
            urgent |= matches!(ev, Event::Term(_));
            let effects = match ev {
                Event::Term(TermEvent::Key(k)) => app.on_key(k),
                Event::Term(TermEvent::Mouse(m)) => app.on_mouse(m),
                Event::Term(TermEvent::Resize(..)) => {
                    app.dirty = true;
                    Vec::new()
                }
                Event::Term(_) => Vec::new(),
                Event::Closed => return Ok(()),
                Event::Msg(m) => app.on_msg(m),
            };
            for e in effects {
                send(e);
            }
        }
    }
}

/// The console's checks of its own sections, for `settings::vocabulary::install`.
pub fn vocabulary() -> crate::settings::vocabulary::Checks {
    crate::settings::vocabulary::Checks {
        console_keys: keymap::check_keys,
        dashboard: panes::widgets::check_widgets,
    }
}
