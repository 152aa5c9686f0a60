//! Where a request stands in its lifecycle, as the CLI and the console both show it.

use crate::settings::Workspace;
use crate::store::{RequestRow, Store, StoreError};

/// `uat ✓  preprod ·  prod ·`: each stage of the request's lifecycle, ✓ once its package
/// succeeded there. Empty when the lifecycle is no longer in the config.
pub fn progress(ws: &Workspace, store: &Store, r: &RequestRow) -> Result<String, StoreError> {
    let Some(l) = ws
        .inventory
        .lifecycles
        .iter()
        .find(|l| l.name == r.lifecycle)
    else {
        return Ok(String::new());
    };
    let mut out = Vec::new();
    for s in &l.stages {
        let done = store.deployed_ok(&r.app, &s.env, &r.package_digest)?;
        out.push(format!("{} {}", s.env, if done { "✓" } else { "·" }));
    }
    Ok(out.join("  "))
}
