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

pub fn verify(store: &Store, anchors: &[String]) -> Result<()> {
    // Read the anchors first: a typo is the operator's mistake (exit 2), not a broken trail.
    let mut wanted = Vec::with_capacity(anchors.len());
    for a in anchors {
        let parsed = a.split_once(':').and_then(|(seq, hash)| {
            let hash = hash.trim().to_ascii_lowercase();
            let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
            Some((seq.trim().parse::<i64>().ok()?, hash)).filter(|_| hex)
        });
        let Some(p) = parsed else {
            return Err(Error::BadInput(format!(
                "--anchor {a}: expected SEQ:HASH, an event number and its 64 hex digit hash \
                 (as a run summary's audit_head gives them)"
            )));
        };
        wanted.push(p);
    }
    let check = store.verify_audit()?;
    if check.first_bad.is_none() {
        // The chain holds; a trail rewritten whole, every hash recomputed, holds too. Only a
        // head kept outside tells them apart.
        for (seq, hash) in &wanted {
            match store.audit_hash(*seq)? {
                Some(now) if now == *hash => {}
                Some(now) => {
                    return Err(Error::CheckFailed(format!(
                        "audit trail rewritten: event #{seq} hashes to {now} now, but {hash} was \
                         exported for it; the trail was rebuilt after that head was anchored"
                    )));
                }
                None => {
                    return Err(Error::CheckFailed(format!(
                        "audit trail rewritten: event #{seq} was exported with hash {hash}, and the \
                         trail now ends at event #{}: truncated and rebuilt",
                        check.events
                    )));
                }
            }
        }
    }
    match check.first_bad {
        None => {
            outln!(
                "audit trail intact: {} event(s), each chained to the one before{}",
                check.events,
                match wanted.len() {
                    0 => String::new(),
                    n => format!(", through the {n} anchored head(s)"),
                }
            );
            Ok(())
        }
        Some((seq, why)) => Err(Error::CheckFailed(format!(
            "audit trail broken at event #{seq}: {why}; the {} event(s) before it are intact",
            check.events
        ))),
    }
}
