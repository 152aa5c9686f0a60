//! The console. This first version shows the workspace (inventory across environments) with
//! the pane tabs the console grows into; it owns the terminal through [`terminal::Guard`].

mod app;
mod data;
pub mod terminal;
mod view;

use crate::error::Result;
use crate::settings::Workspace;
use crate::store::Summary;

/// Opens the console on `ws` and returns when the operator quits.
pub fn run(ws: Workspace, summary: Summary) -> Result<()> {
    // Packages placed in the drop directory reach the vault while the console is open.
    crate::vault::drop::sweep_periodically(ws.clone(), std::time::Duration::from_secs(30));
    // The console's own connection, for reading lists a page at a time.
    let store = crate::store::Store::open(
        &ws.data_dir,
        &ws.config_dir,
        std::time::Duration::from_millis(ws.settings.busy_timeout_ms),
    )?;
    let mut app = app::App::new(ws, summary, crate::identity::Actor::current());
    app.store = Some(store);
    let mut guard = terminal::Guard::enter()?;
    app.run(guard.terminal())
}
