//! Opening a workspace and its store, for both faces. A sound config is recorded in the
//! store (so that it can be fallen back on); a config with errors still opens, on the last
//! sound config recorded, for the emergency path: looking at runs, stopping them, rolling
//! back. What would act on the config (deploys, approvals, edits) refuses a broken one.

use std::time::Duration;

use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::settings::{self, LoadError, Located, Overrides, Workspace};
use crate::store::Store;

/// Opens the store of a sound workspace, recording its inventory and config if they changed.
pub fn open_sound(ws: &Workspace) -> Result<Store> {
    let mut store = open_store(ws)?;
    store.sync_inventory(&ws.inventory, &Actor::current())?;
    store.record_config(&ws.snapshot)?;
    Ok(store)
}

/// Loads the workspace even if its config has errors, and opens its store. A broken one
/// (`ws.broken`) carries the last sound config the store recorded, or none.
pub fn open_tolerant(located: &Located, overrides: &Overrides) -> Result<(Workspace, Store)> {
    let ws = settings::load_tolerant(located, overrides)?;
    let Some(broken) = &ws.broken else {
        let store = open_sound(&ws)?;
        return Ok((ws, store));
    };
    // A config broken before anything was stored has nothing to fall back on: say what is
    // wrong with it rather than create an empty store.
    if !ws.data_dir.join(crate::store::DB_FILE).exists() {
        return Err(Error::Load(LoadError::Invalid(broken.errors.clone())));
    }
    let store = open_store(&ws)?;
    let ws = with_last_sound(ws, &store)?;
    Ok((ws, store))
}

/// The workspace as its config is now, for a console's next action: [`open_tolerant`]
/// with the store already open.
pub fn reload(located: &Located, overrides: &Overrides, store: &mut Store) -> Result<Workspace> {
    let ws = settings::load_tolerant(located, overrides)?;
    if ws.broken.is_none() {
        store.sync_inventory(&ws.inventory, &Actor::current())?;
        store.record_config(&ws.snapshot)?;
        return Ok(ws);
    }
    with_last_sound(ws, store)
}

/// A broken workspace given the last sound config the store recorded, when there is one.
fn with_last_sound(ws: Workspace, store: &Store) -> Result<Workspace> {
    Ok(match store.last_config()? {
        Some(snapshot) => match snapshot.resolve(&ws.config_dir) {
            Ok(recorded) => ws.with_recorded(snapshot, recorded),
            Err(_) => ws,
        },
        None => ws,
    })
}

fn open_store(ws: &Workspace) -> Result<Store> {
    Ok(Store::open(
        &ws.data_dir,
        &ws.config_dir,
        Duration::from_millis(ws.settings.busy_timeout_ms),
    )?)
}
