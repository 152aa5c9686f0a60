//! Who may make a decision that needs a person: never the workspace's own accounts, never
//! root without sudo's word for who is behind it.

use crate::error::{Error, Result};
use crate::identity::Actor;
use crate::settings::Workspace;
use crate::store::Store;

/// Refuses `what` (an action's name in the trail: `request.approval`, `deploy`, `gate`...)
/// on `subject` unless `me` is a person, and audits the refusal, so an attempt from a shared
/// account shows in the trail.
pub fn require_person(
    ws: &Workspace,
    store: &mut Store,
    me: &Actor,
    subject: &str,
    what: &str,
) -> Result<()> {
    let Some(why) = me.not_a_person(
        ws.settings
            .team
            .as_ref()
            .map(|t| t.service_account.as_str()),
        ws.settings.steps.run_as.as_deref(),
    ) else {
        return Ok(());
    };
    store.audit_refusal(subject, what, &why, me)?;
    Err(Error::BadInput(why))
}
