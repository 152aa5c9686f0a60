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
    let mut failed = Vec::new();
    let check = store.verify_audit()?;
    match check.first_bad {
        None => match rewritten(store, &wanted, check.events)? {
            Some(why) => failed.push(why),
            None => outln!(
                "audit trail intact: {} event(s), each chained to the one before{}",
                check.events,
                match wanted.len() {
                    0 => String::new(),
                    n => format!(", through the {n} anchored head(s)"),
                }
            ),
        },
        Some((seq, why)) => failed.push(format!(
            "audit trail broken at event #{seq}: {why}; the {} event(s) before it are intact",
            check.events
        )),
    }
    // SQLite's own verdict on the file: a damaged page can hide rows from every check below.
    let integrity = store.integrity_check()?;
    if integrity.len() == 1 && integrity[0] == "ok" {
        outln!("database integrity_check: ok");
    } else {
        for line in &integrity {
            outln!("database integrity_check: {line}");
        }
        failed.push(format!(
            "the database file is damaged ({} problem(s) listed above)",
            integrity.len()
        ));
    }
    // What the rules count, against the trail, both ways.
    let d = store.verify_decisions()?;
    if d.problems.is_empty() {
        outln!(
            "decisions in the chain: {} approval(s) or rejection(s), {} void(s), {} block(s) or \
             unblock(s), {} gate answer(s) or cancel(s), {} step(s) marked done; each row has its \
             audit event and each event its row",
            d.approvals,
            d.voids,
            d.blocks,
            d.commands,
            d.marked_done
        );
    } else {
        for p in &d.problems {
            outln!("{p}");
        }
        failed.push(format!(
            "{} decision(s) and the audit trail disagree (listed above)",
            d.problems.len()
        ));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(Error::CheckFailed(failed.join("; ")))
    }
}

/// Why the trail is not the one the anchors were exported from, if it is not. The chain
/// holds; a trail rewritten whole, every hash recomputed, holds too. Only a head kept outside
/// tells them apart.
fn rewritten(store: &Store, wanted: &[(i64, String)], events: i64) -> Result<Option<String>> {
    for (seq, hash) in wanted {
        match store.audit_hash(*seq)? {
            Some(now) if now == *hash => {}
            Some(now) => {
                return Ok(Some(format!(
                    "audit trail rewritten: event #{seq} hashes to {now} now, but {hash} was \
                     exported for it; the trail was rebuilt after that head was anchored"
                )));
            }
            None => {
                return Ok(Some(format!(
                    "audit trail rewritten: event #{seq} was exported with hash {hash}, and the \
                     trail now ends at event #{events}: truncated and rebuilt"
                )));
            }
        }
    }
    Ok(None)
}
