//! How a command opens the workspace: strictly (its config must be sound) or for the
//! emergency path (a config with errors does not stop it), with the log file started.

use crate::error::Result;
use crate::logging;
use crate::settings::{self, Located, Overrides, Workspace};
use crate::store::Store;

/// Starts the log file at the workspace's level; without one, pilote goes on.
pub(super) fn start_log(ws: &Workspace) {
    if let Err(e) = logging::init(ws.settings.log_level) {
        errln!("warning: {e}; going on without a log file");
    }
}

/// Loads and checks the workspace's config, and starts the log file at its level.
pub(super) fn load(located: &Located, overrides: &Overrides) -> Result<Workspace> {
    let ws = settings::load(located, overrides)?;
    start_log(&ws);
    tracing::info!(workspace = %ws.settings.name, config = %ws.config_dir.display(), "workspace loaded");
    Ok(ws)
}

/// Loads the workspace and opens its store, recording the inventory if it changed.
pub(super) fn open(located: &Located, overrides: &Overrides) -> Result<(Workspace, Store)> {
    let ws = load(located, overrides)?;
    let mut store = crate::workflow::open_sound(&ws)?;
    crate::integrations::webhooks::arm(&ws, &mut store)?;
    Ok((ws, store))
}

/// Opens the workspace for the emergency path (looking at runs, stopping them, rolling
/// back): a config with errors does not stop it; one line says what is wrong.
pub(super) fn open_tolerant(
    located: &Located,
    overrides: &Overrides,
) -> Result<(Workspace, Store)> {
    let (ws, mut store) = crate::workflow::open_tolerant(located, overrides)?;
    start_log(&ws);
    match &ws.broken {
        None => crate::integrations::webhooks::arm(&ws, &mut store)?,
        Some(b) => errln!(
            "warning: the config has errors ({}); going on from the store and the last sound config; `pilote config check` lists them",
            b.headline()
        ),
    }
    Ok((ws, store))
}
