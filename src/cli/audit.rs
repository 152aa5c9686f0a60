//! `pilote audit`: the trail, and its verification.

use serde_json::json;

use crate::error::{Error, Result};
use crate::store::Store;
use crate::table;

pub fn list(store: &Store, limit: i64, json: bool) -> Result<()> {
    let events = store.audit_events(limit)?;
    if json {
        outln!("{:#}", json!({ "events": events }));
        return Ok(());
    }
    let rows: Vec<Vec<String>> = events
        .iter()
        .map(|e| {
            vec![
                e.event.seq.to_string(),
                crate::clock::format_ms(e.event.at),
                e.event.actor.clone(),
                e.event.action.clone(),
                e.event.subject.clone(),
                e.event.payload.to_string(),
            ]
        })
        .collect();
    outln!(
        "{}",
        table::render(&["SEQ", "AT", "WHO", "ACTION", "SUBJECT", "DETAIL"], &rows).trim_end()
    );
    Ok(())
}

pub fn verify(store: &Store) -> Result<()> {
    let check = store.verify_audit()?;
    match check.first_bad {
        None => {
            outln!(
                "audit trail intact: {} event(s), each chained to the one before",
                check.events
            );
            Ok(())
        }
        Some((seq, why)) => Err(Error::CheckFailed(format!(
            "audit trail broken at event #{seq}: {why}; the {} event(s) before it are intact",
            check.events
        ))),
    }
}
