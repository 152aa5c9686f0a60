//! After a state change: whether a deliverer must start, and starting it; the deliverer's
//! lease; notifications armed or not as the config says.

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;

use crate::settings::Workspace;
use crate::spool::{self, spawn_detached};
use crate::store::{Store, StoreError};

/// Takes the deliverer's lease; `None` if another deliverer has it. A kick checking
/// liveness holds the lock for an instant: that is retried for a moment.
pub(super) fn take_lease(ws: &Workspace) -> std::io::Result<Option<File>> {
    std::fs::create_dir_all(spool::dir(ws))?;
    spool::take(
        &spool::deliverer_lease(ws),
        std::time::Duration::from_millis(500),
    )
}

/// Notifications on or off in the store, as the config says: with webhooks, the trail is
/// read from now on (never from before they were configured); without, the cursor goes,
/// so turning them on again later does not post what happened meanwhile.
pub fn arm(ws: &Workspace, store: &mut Store) -> Result<(), StoreError> {
    if ws.settings.webhooks.is_empty() {
        store.notify_disarm()
    } else {
        store.notify_arm()
    }
}

/// What this process can post to: the URL of each webhook it can read, and why it cannot
/// read the others (a `url_env` variable missing from its environment, or not a URL).
/// The deliverer reads its URLs from its own environment, inherited from whoever kicked it.
pub(crate) struct Reach {
    pub(crate) urls: HashMap<String, String>,
    /// (webhook, why), in config order.
    pub(crate) unreachable: Vec<(String, String)>,
}

impl Reach {
    pub(crate) fn here(ws: &Workspace) -> Self {
        let mut reach = Self {
            urls: HashMap::new(),
            unreachable: Vec::new(),
        };
        for hook in &ws.settings.webhooks {
            match hook.target.resolve() {
                Ok(url) => {
                    reach.urls.insert(hook.name.clone(), url);
                }
                Err(why) => reach.unreachable.push((hook.name.clone(), why)),
            }
        }
        reach
    }

    /// The webhooks it can post to, in no order.
    pub(crate) fn names(&self) -> Vec<&str> {
        self.urls.keys().map(String::as_str).collect()
    }
}

/// A deliverer to start, once the store's lock is let go: starting is a fork and an exec.
pub struct Kick {
    config_dir: PathBuf,
    stderr: PathBuf,
}

impl Kick {
    /// Whether a deliverer started by this process would have something to post: a webhook
    /// it can read the URL of, and events or deliveries waiting. A webhook it cannot post
    /// to is logged: its deliveries wait for a process that can (see [`Reach`]).
    pub fn needed(ws: &Workspace, store: &Store) -> Option<Self> {
        if ws.settings.webhooks.is_empty() || spool::held(&spool::deliverer_lease(ws)) {
            return None;
        }
        let reach = Reach::here(ws);
        for (webhook, why) in &reach.unreachable {
            tracing::warn!(%webhook, %why, "this process cannot post to the webhook: its deliveries wait for a pilote command run with its URL set");
        }
        if reach.urls.is_empty() {
            return None;
        }
        match store.notify_backlog(&reach.names()) {
            Ok(true) => Some(Self {
                config_dir: ws.config_dir.clone(),
                stderr: spool::deliverer_stderr(ws),
            }),
            Ok(false) => None,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the notification outbox");
                None
            }
        }
    }

    /// Starts `pilote __notify` detached, as a runner is (see `spawn_detached`). Never
    /// fails the caller: the change is done; a message that waits is logged.
    pub fn start(self) {
        let child = spawn_detached(
            &self.config_dir,
            "notification deliverer",
            ["__notify"],
            &self.stderr,
        );
        match child {
            // A console or a runner lives long and kicks often: a thread reaps each
            // deliverer so no zombie piles up. A short command exits first, and init reaps
            // it then.
            Ok(mut child) => drop(std::thread::spawn(move || child.wait())),
            Err(e) => {
                tracing::warn!(error = %e, "notifications wait for the next state change");
            }
        }
    }
}

/// After a state change committed: makes sure a deliverer will post what it means. Never
/// fails the caller. A caller holding a lock others wait for uses [`Kick`] to let go first.
pub fn kick(ws: &Workspace, store: &Store) {
    if let Some(k) = Kick::needed(ws, store) {
        k.start();
    }
}
