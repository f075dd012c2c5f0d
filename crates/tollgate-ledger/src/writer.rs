//! The group-commit writer: one task per [`crate::Ledger`] that takes queued events in batches
//! (up to `group_commit_max`, waiting at most `group_commit_wait` after the first when there is
//! concurrency — the previous batch had several events or more are queued), appends each
//! batch in one transaction, and answers every caller with its own result. When the database
//! fails it answers `Unavailable` (fail-closed) or appends the batch to the spool file with one
//! fsync (fail-open). Replays of the spool run here too, so spool writes and reads never race.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use crate::db::{BatchError, Db, Outcome, Pending};
use crate::model::*;

/// Work for the writer.
pub(crate) enum Job {
    Append {
        ev: Box<UsageEvent>,
        kind: EntryKind,
        reply: oneshot::Sender<Result<Receipt, ChargeError>>,
    },
    Replay {
        reply: oneshot::Sender<Result<u64, LedgerError>>,
    },
}

/// One line of the spool file.
#[derive(Serialize, Deserialize)]
struct SpoolLine {
    kind: EntryKind,
    event: UsageEvent,
}

type Reply = oneshot::Sender<Result<Receipt, ChargeError>>;

type Batch = Vec<(UsageEvent, EntryKind, Reply)>;
type Replays = Vec<oneshot::Sender<Result<u64, LedgerError>>>;

fn take(job: Job, batch: &mut Batch, replays: &mut Replays) {
    match job {
        Job::Append { ev, kind, reply } => batch.push((*ev, kind, reply)),
        Job::Replay { reply } => replays.push(reply),
    }
}

pub(crate) async fn run(db: Db, opts: LedgerOptions, mut rx: mpsc::Receiver<Job>) {
    let max = opts.group_commit_max.max(1);
    let mut concurrent = false;
    while let Some(first) = rx.recv().await {
        let mut batch = Batch::new();
        let mut replays = Replays::new();
        take(first, &mut batch, &mut replays);
        // Wait for company only under concurrency (the last batch had several events, or more
        // are queued now): a lone sequential caller then pays one commit, not commit + wait.
        let wait = if concurrent || !rx.is_empty() {
            opts.group_commit_wait
        } else {
            std::time::Duration::ZERO
        };
        let deadline = Instant::now() + wait;
        while batch.len() < max {
            match rx.try_recv() {
                Ok(job) => take(job, &mut batch, &mut replays),
                Err(mpsc::error::TryRecvError::Empty) if !wait.is_zero() => {
                    match tokio::time::timeout_at(deadline, rx.recv()).await {
                        Ok(Some(job)) => take(job, &mut batch, &mut replays),
                        _ => break,
                    }
                }
                Err(_) => break,
            }
        }
        concurrent = batch.len() > 1;
        commit(&db, &opts, batch).await;
        for reply in replays {
            let _ = reply.send(replay(&db, &opts).await);
        }
    }
}

async fn commit(db: &Db, opts: &LedgerOptions, batch: Batch) {
    if batch.is_empty() {
        return;
    }
    metrics::histogram!("tollgate_ledger_commit_batch_size").record(batch.len() as f64);
    let pending: Vec<Pending<'_>> = batch
        .iter()
        .map(|(ev, kind, _)| Pending {
            ev,
            kind: *kind,
            unpaid_fallback: false,
            dedup: false,
        })
        .collect();
    let result = match db.append_batch(&pending).await {
        Ok(outcomes) => Ok(outcomes),
        Err(BatchError::Before(e)) => Err(e),
        Err(BatchError::AtCommit(e, outcomes)) => {
            if committed_anyway(db, &outcomes).await {
                tracing::warn!(error = %e, "ledger COMMIT reported an error but the batch is stored");
                Ok(outcomes)
            } else {
                Err(e)
            }
        }
    };
    drop(pending);
    match result {
        Ok(outcomes) => {
            metrics::gauge!("tollgate_ledger_available").set(1.0);
            for ((_, _, reply), outcome) in batch.into_iter().zip(outcomes) {
                let _ = reply.send(match outcome {
                    Outcome::Appended(r, kind) => {
                        metrics::counter!("tollgate_ledger_entries_total", "kind" => kind.as_str())
                            .increment(1);
                        Ok(r)
                    }
                    Outcome::Refused(e) => Err(e),
                    Outcome::Duplicate => Err(ChargeError::Invalid("duplicate".into())),
                });
            }
        }
        Err(e) => {
            metrics::gauge!("tollgate_ledger_available").set(0.0);
            metrics::counter!("tollgate_ledger_unavailable_total").increment(batch.len() as u64);
            let why = e.to_string();
            tracing::warn!(error = %why, events = batch.len(), "ledger database unavailable");
            match &opts.on_unavailable {
                Unavailable::FailClosed => {
                    for (_, _, reply) in batch {
                        let _ = reply.send(Err(ChargeError::Unavailable(why.clone())));
                    }
                }
                Unavailable::FailOpen { spool } => spool_batch(spool, batch, &why),
            }
        }
    }
}

/// After an ambiguous COMMIT error: is the batch's last planned entry stored with its planned
/// hash (then the whole batch is)? `false` when that cannot be established — the caller then
/// treats the batch as not stored (fail-open: spooled, and replay skips what is already there).
async fn committed_anyway(db: &Db, outcomes: &[Outcome]) -> bool {
    let last = outcomes.iter().rev().find_map(|o| match o {
        Outcome::Appended(r, _) => Some((r.entry_id, r.hash.as_str())),
        _ => None,
    });
    match last {
        // Nothing to store: the refusals stand either way.
        None => true,
        Some((id, hash)) => matches!(db.stored_hash(id).await, Ok(Some(h)) if h == hash),
    }
}

/// Appends the batch to the spool (one line each, one fsync) and answers with spooled receipts.
fn spool_batch(spool: &Path, batch: Batch, db_error: &str) {
    let mut lines = Vec::with_capacity(batch.len());
    for (ev, kind, _) in &batch {
        let line = serde_json::to_string(&SpoolLine {
            kind: *kind,
            event: ev.clone(),
        })
        .unwrap_or_default();
        lines.push(line);
    }
    let written = (|| -> std::io::Result<()> {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(spool)?;
        let mut buf = String::new();
        for l in &lines {
            buf.push_str(l);
            buf.push('\n');
        }
        f.write_all(buf.as_bytes())?;
        f.sync_data()
    })();
    match written {
        Ok(()) => {
            metrics::counter!("tollgate_ledger_spooled_total").increment(batch.len() as u64);
            for ((_, _, reply), line) in batch.into_iter().zip(lines) {
                let _ = reply.send(Ok(Receipt {
                    entry_id: 0,
                    hash: hex::encode(Sha256::digest(line.as_bytes())),
                    spooled: true,
                }));
            }
        }
        Err(e) => {
            let why = format!("{db_error}; spool {}: {e}", spool.display());
            tracing::error!(error = %why, "ledger spool failed");
            for (_, _, reply) in batch {
                let _ = reply.send(Err(ChargeError::Unavailable(why.clone())));
            }
        }
    }
}

fn replaying_path(spool: &Path) -> PathBuf {
    let mut name = spool.as_os_str().to_owned();
    name.push(".replaying");
    PathBuf::from(name)
}

/// Moves the spool into the chain: renames it to `<spool>.replaying` (a replay interrupted
/// earlier is finished first), appends its events in batches, then deletes it.
async fn replay(db: &Db, opts: &LedgerOptions) -> Result<u64, LedgerError> {
    let Unavailable::FailOpen { spool } = &opts.on_unavailable else {
        return Ok(0);
    };
    let work = replaying_path(spool);
    let spool_err = |e: std::io::Error| LedgerError::Spool {
        path: spool.clone(),
        reason: e.to_string(),
    };
    let mut total = 0;
    loop {
        if !work.exists() {
            if !spool.exists() {
                break;
            }
            std::fs::rename(spool, &work).map_err(spool_err)?;
        }
        total += replay_file(db, opts, &work).await?;
        std::fs::remove_file(&work).map_err(spool_err)?;
    }
    metrics::counter!("tollgate_ledger_replayed_total").increment(total);
    Ok(total)
}

async fn replay_file(db: &Db, opts: &LedgerOptions, path: &Path) -> Result<u64, LedgerError> {
    let err = |reason: String| LedgerError::Spool {
        path: path.to_path_buf(),
        reason,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut events = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| err(format!("line {}: {e}", n + 1)))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<SpoolLine>(&line) {
            Ok(l) => events.push(l),
            // A line torn by a crash mid-write belongs to a call that never returned.
            Err(e) => tracing::warn!(line = n + 1, error = %e, "skipping malformed spool line"),
        }
    }
    let mut appended = 0;
    for chunk in events.chunks(opts.group_commit_max.max(1)) {
        let pending: Vec<Pending<'_>> = chunk
            .iter()
            .map(|l| Pending {
                ev: &l.event,
                kind: l.kind,
                unpaid_fallback: true,
                dedup: true,
            })
            .collect();
        let outcomes = db.append_batch(&pending).await?;
        for (o, l) in outcomes.iter().zip(chunk) {
            match o {
                Outcome::Appended(..) => appended += 1,
                Outcome::Duplicate => {}
                Outcome::Refused(e) => tracing::warn!(
                    request_id = %l.event.request_id, error = %e, "spooled event not replayable"
                ),
            }
        }
    }
    Ok(appended)
}
