//! Starting from a state directory: load the snapshot, check that it
//! accounts for every log, replay the live log with every record checked,
//! and hand the recovered state to the runtimes.
//!
//! The server refuses to start (and `umpire serve` exits 2), naming the file
//! and line, rather than start from a state that is missing acknowledged
//! rewards or that would make a later request panic:
//! - a log without `snapshot.json` (a state directory gets its snapshot
//!   before its first log, so the snapshot was lost);
//! - a non-empty log newer than the one the snapshot names (an older
//!   snapshot put back), or a non-empty older one when the named log is
//!   missing (the new log of a rotation lost);
//! - a damaged record: a failed checksum or unparseable JSON anywhere, the
//!   last line included when it ends with a newline. Only a last line
//!   without a newline is a write cut short by a crash; it was never
//!   acknowledged and is cut off;
//! - a record or snapshot naming a bandit, arm or context the config lacks,
//!   a decision id that was never reserved, or a reservation that is not a
//!   block boundary below [`MAX_RESERVED`] (a wrapped one);
//! - a snapshot with a failed checksum or another state format.
//!
//! Only logs the loaded state covers (older than the one the snapshot names)
//! and empty newer ones are deleted; with `keep_logs`, covered ones are moved
//! into `archive/` instead.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use umpire_sim::bandit::policy::PolicyState;
use umpire_sim::serve::ServeConfig;

use super::format::{
    SnapshotFailure, SnapshotState, decode_snapshot, read_log, write_snapshot_file,
};
use super::{
    ARCHIVE_DIR, LogRecord, Master, StoreError, fresh_masters, io, log_number, log_path, retire_log,
};
use crate::runtime::{BanditRuntime, ID_BLOCK, Pending, PendingState};

/// Reservations never go above 2⁶³: at a million decisions a second that is
/// 290,000 years of ids, so a larger mark is damage or forgery, and keeping
/// marks there keeps the id allocator's `u64` arithmetic far from wrapping
/// (a wrapped allocator would hand out ids from 0 again).
pub const MAX_RESERVED: u64 = 1 << 63;

/// The live log file.
pub(super) struct Log {
    pub dir: PathBuf,
    pub number: u64,
    pub file: File,
    /// Bytes of whole, written records: where the next write starts, and
    /// what a failed write is cut back to.
    pub len: u64,
    /// Held for the server's life: a second server on the same directory
    /// would interleave logs.
    _lock: File,
}

/// Everything recovered from a state directory (or fresh, without one).
pub struct Recovered {
    /// Per bandit, in config order, its recovered (or fresh) state.
    pub masters: Vec<Master>,
    pub(super) log: Option<Log>,
    pub(super) pending: Vec<Vec<(u64, Pending)>>,
}

/// Load the snapshot and replay the log after it. Without a directory,
/// fresh states.
pub fn recover(config: &ServeConfig, dir: Option<&Path>) -> Result<Recovered, StoreError> {
    let fresh = fresh_masters(config).map_err(|e| StoreError::Mismatch {
        path: dir.map_or_else(PathBuf::new, Path::to_owned),
        message: e.to_string(),
    })?;
    let Some(dir) = dir else {
        return Ok(Recovered {
            masters: fresh,
            log: None,
            pending: vec![Vec::new(); config.bandits.len()],
        });
    };
    fs::create_dir_all(dir).map_err(io(dir))?;
    let lock_path = dir.join("lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    if lock.try_lock().is_err() {
        return Err(StoreError::Locked {
            path: dir.to_owned(),
        });
    }
    let (logs, temporaries) = list_dir(dir)?;
    let snap_path = dir.join("snapshot.json");
    let loaded = match fs::read(&snap_path) {
        Ok(bytes) => Some(load_snapshot(&snap_path, &bytes, &fresh)?),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(io(&snap_path)(e)),
    };
    let new_dir = loaded.is_none();
    let (mut masters, next_log, mut pending) = match loaded {
        Some(s) => (s.bandits, s.next_log, s.pending),
        None => {
            if let Some((_, path)) = logs.first() {
                return Err(StoreError::Unaccounted {
                    path: path.clone(),
                    message: "this log has no snapshot.json beside it, so the state before it \
                              is lost (a state directory gets its snapshot before its first log; \
                              one written by an umpire older than state format 2 has none either)"
                        .into(),
                });
            }
            // An archive without its snapshot is an earlier state's
            // history: a fresh state would number its logs from 0 again and
            // mix with it.
            let archive = dir.join(ARCHIVE_DIR);
            if let Some(old) = fs::read_dir(&archive).ok().and_then(|entries| {
                entries
                    .flatten()
                    .find(|e| log_number(&e.file_name().to_string_lossy()).is_some())
            }) {
                return Err(StoreError::Unaccounted {
                    path: old.path(),
                    message: format!(
                        "{ARCHIVE_DIR}/ holds the logs of an earlier state whose snapshot.json \
                         is gone; move {ARCHIVE_DIR}/ away to start a new state here"
                    ),
                });
            }
            (fresh, 0, vec![Vec::new(); config.bandits.len()])
        }
    };
    check_accounted(&logs, next_log)?;
    let path = log_path(dir, next_log);
    let good_len = replay(&path, &mut masters, &mut pending)?;
    // Older logs are covered by the snapshot (archived with `keep_logs`); a
    // newer one is empty (checked above): created just before a snapshot
    // that never landed.
    for (n, old) in &logs {
        if *n < next_log {
            retire_log(old, config.server.keep_logs);
        } else if *n > next_log {
            let _ = fs::remove_file(old);
        }
    }
    for tmp in &temporaries {
        let _ = fs::remove_file(tmp);
    }
    if new_dir {
        // Before the first log exists, so that a log is never without a snapshot.
        let state = SnapshotState {
            next_log: 0,
            bandits: masters.clone(),
            pending: pending.clone(),
        };
        write_snapshot_file(dir, &state).map_err(SnapshotFailure::into_error)?;
    }
    let mut file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io(&path))?;
    // Cut a torn last line (a crash mid-write) before appending after it.
    file.set_len(good_len).map_err(io(&path))?;
    file.seek(SeekFrom::Start(good_len)).map_err(io(&path))?;
    Ok(Recovered {
        masters,
        log: Some(Log {
            dir: dir.to_owned(),
            number: next_log,
            file,
            len: good_len,
            _lock: lock,
        }),
        pending,
    })
}

/// Refuse logs that the snapshot naming `next_log` does not account for:
/// a newer one with records, or, when the named one is missing, an older
/// one with records.
fn check_accounted(logs: &[(u64, PathBuf)], next_log: u64) -> Result<(), StoreError> {
    for (n, path) in logs {
        let len = fs::metadata(path).map_err(io(path))?.len();
        if *n > next_log && len > 0 {
            return Err(StoreError::Unaccounted {
                path: path.clone(),
                message: format!(
                    "this log is newer than log-{next_log}.jsonl, which snapshot.json names, and \
                     holds records the snapshot does not cover (was an older snapshot.json put back?)"
                ),
            });
        }
    }
    if !logs.iter().any(|(n, _)| *n == next_log) {
        // A rotation creates the new log before the snapshot naming it, so
        // an older log with records and no named one means the named log
        // was lost: the older one may hold rewards acknowledged after the
        // snapshot, so it is not "covered".
        for (n, older) in logs {
            let len = fs::metadata(older).map_err(io(older))?.len();
            if *n < next_log && len > 0 {
                return Err(StoreError::Unaccounted {
                    path: older.clone(),
                    message: format!(
                        "snapshot.json names log-{next_log}.jsonl, which is missing, so this \
                         older log may hold records the snapshot does not cover"
                    ),
                });
            }
        }
    }
    Ok(())
}

impl Log {
    /// The live log's handle, as a writer swaps it on rotation.
    pub(super) fn rotate(&mut self, number: u64, file: File) {
        self.number = number;
        self.file = file;
        self.len = 0;
    }
}

type Listing = (Vec<(u64, PathBuf)>, Vec<PathBuf>);

/// The logs (by number) and temporary files in a state directory.
fn list_dir(dir: &Path) -> Result<Listing, StoreError> {
    let mut logs = Vec::new();
    let mut temporaries = Vec::new();
    for entry in fs::read_dir(dir).map_err(io(dir))? {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = log_number(&name) {
            logs.push((n, entry.path()));
        } else if name.ends_with(".tmp") {
            temporaries.push(entry.path());
        }
    }
    logs.sort();
    Ok((logs, temporaries))
}

fn load_snapshot(path: &Path, bytes: &[u8], fresh: &[Master]) -> Result<SnapshotState, StoreError> {
    let corrupt = |line: usize, message: String| StoreError::Corrupt {
        path: path.to_owned(),
        line,
        message,
    };
    let mut snap = decode_snapshot(bytes).map_err(|(line, m)| corrupt(line, m))?;
    check_matches(path, &snap.bandits, fresh)?;
    if snap.pending.len() != snap.bandits.len() {
        return Err(corrupt(
            1,
            format!(
                "pending decisions for {} bandits, the snapshot has {}",
                snap.pending.len(),
                snap.bandits.len()
            ),
        ));
    }
    for ((m, f), pending) in snap.bandits.iter_mut().zip(fresh).zip(&snap.pending) {
        check_master(m, f).map_err(|e| corrupt(1, format!("bandit `{}`: {e}", m.name)))?;
        for (id, p) in pending {
            check_indices(m, p.arm, p.ctx)
                .and_then(|()| check_id(m, *id))
                .map_err(|e| {
                    corrupt(
                        1,
                        format!("bandit `{}`, pending decision {id}: {e}", m.name),
                    )
                })?;
        }
        m.update = f.update;
    }
    Ok(snap)
}

fn check_matches(path: &Path, saved: &[Master], fresh: &[Master]) -> Result<(), StoreError> {
    let mismatch = |message: String| StoreError::Mismatch {
        path: path.to_owned(),
        message,
    };
    if saved.len() != fresh.len() {
        return Err(mismatch(format!(
            "it has {} bandits, the config {}",
            saved.len(),
            fresh.len()
        )));
    }
    for (s, f) in saved.iter().zip(fresh) {
        if s.name != f.name || s.arms != f.arms || s.contexts != f.contexts {
            return Err(mismatch(format!(
                "bandit `{}` with arms {:?} was saved where the config has `{}` with arms {:?}",
                s.name, s.arms, f.name, f.arms
            )));
        }
        if s.state.spec() != f.state.spec() {
            return Err(mismatch(format!(
                "bandit `{}` was saved with another policy",
                s.name
            )));
        }
    }
    Ok(())
}

/// The arm count a policy state was built for (not exposed by umpire-sim;
/// read from its serialised form, once per bandit at start).
fn policy_arms(s: &PolicyState) -> Option<u64> {
    serde_json::to_value(s).ok()?.get("arms")?.as_u64()
}

/// Why a snapshot or log record cannot have been written by a live server
/// with the state before it. Recovery refuses to start on any of these and
/// names the file and line (`StoreError::Corrupt`).
#[derive(Debug, thiserror::Error, PartialEq)]
pub(super) enum Inconsistency {
    /// The per-arm counters have another length than the arm list.
    #[error("its counters do not have one entry per arm ({0})")]
    Counters(usize),
    /// The policy state was built for other arms or contexts.
    #[error("its policy state has other dimensions than its arms and contexts")]
    PolicyShape,
    /// A sum of rewards is NaN or infinite.
    #[error("a reward sum is not finite")]
    RewardSum,
    /// A reward waiting in the update buffer is NaN or infinite.
    #[error("a buffered reward is not finite")]
    BufferedReward,
    /// A logged reward is NaN or infinite.
    #[error("the reward is not finite")]
    Reward,
    /// Ids up to `.0` were handed out, but only ids below `.1` reserved.
    #[error("decision ids up to {0} were used but only ids below {1} were reserved")]
    UsedPastReservation(u64, u64),
    /// An arm index past the bandit's arms (`.1`).
    #[error("arm index {0} is out of range (the bandit has {1} arms)")]
    Arm(u32, usize),
    /// A context index past the bandit's contexts (`.1`).
    #[error("context index {0} is out of range (the bandit has {1})")]
    Context(u32, usize),
    /// A decision id at or past the reservation (`.1`).
    #[error("decision id {0} was never reserved (ids below {1} were)")]
    Unreserved(u64, u64),
    /// A reservation of 0: the allocator wrapped.
    #[error("reservation of ids below 0 (a wrapped reservation)")]
    ZeroReservation,
    /// A reservation that is not a whole number of blocks up to 2^63.
    #[error(
        "reservation of ids below {0} is not a multiple of {ID_BLOCK} up to 2^63 \
         (a wrapped or forged reservation)"
    )]
    Reservation(u64),
}

/// A saved bandit whose counters and policy fit its arms and contexts.
fn check_master(m: &Master, fresh: &Master) -> Result<(), Inconsistency> {
    let arms = m.arms.len();
    if m.decisions.len() != arms || m.rewards.len() != arms || m.reward_sums.len() != arms {
        return Err(Inconsistency::Counters(arms));
    }
    if m.state.contexts() != fresh.state.contexts()
        || policy_arms(&m.state) != policy_arms(&fresh.state)
    {
        return Err(Inconsistency::PolicyShape);
    }
    if m.reward_sums.iter().any(|s| !s.is_finite()) {
        return Err(Inconsistency::RewardSum);
    }
    for &(ctx, arm, r) in &m.buffer {
        check_indices(m, arm, ctx)?;
        if !r.is_finite() {
            return Err(Inconsistency::BufferedReward);
        }
    }
    check_reservation(m.reserved)?;
    if m.next_id > m.reserved {
        return Err(Inconsistency::UsedPastReservation(m.next_id, m.reserved));
    }
    Ok(())
}

fn check_indices(m: &Master, arm: u32, ctx: u32) -> Result<(), Inconsistency> {
    if arm as usize >= m.arms.len() {
        return Err(Inconsistency::Arm(arm, m.arms.len()));
    }
    let contexts = m.contexts.len().max(1);
    if ctx as usize >= contexts {
        return Err(Inconsistency::Context(ctx, contexts));
    }
    Ok(())
}

/// Ids are handed out only below a logged reservation.
fn check_id(m: &Master, id: u64) -> Result<(), Inconsistency> {
    if id >= m.reserved {
        return Err(Inconsistency::Unreserved(id, m.reserved));
    }
    Ok(())
}

/// A reservation is a whole number of id blocks, at most [`MAX_RESERVED`].
fn check_reservation(upto: u64) -> Result<(), Inconsistency> {
    if !upto.is_multiple_of(ID_BLOCK) || upto > MAX_RESERVED {
        return Err(Inconsistency::Reservation(upto));
    }
    Ok(())
}

/// Whether a decision or reward fits its bandit: its arm and context in
/// range, a reward finite. (Recovery checks ids too; the decision history
/// of `umpire ope`, which reads logs the snapshot covers, checks this.)
pub(super) fn check_shape(m: &Master, rec: &LogRecord) -> Result<(), Inconsistency> {
    match *rec {
        LogRecord::Decision { arm, ctx, .. } => check_indices(m, arm, ctx),
        LogRecord::Reward { arm, ctx, r, .. } => {
            check_indices(m, arm, ctx)?;
            if r.is_finite() {
                Ok(())
            } else {
                Err(Inconsistency::Reward)
            }
        }
        LogRecord::Reserve { .. } | LogRecord::Apply { .. } => Ok(()),
    }
}

/// Whether a record can have been written by a live server with this state.
fn check_record(m: &Master, rec: &LogRecord) -> Result<(), Inconsistency> {
    match *rec {
        LogRecord::Decision { id, .. } | LogRecord::Reward { id, .. } => {
            check_shape(m, rec)?;
            check_id(m, id)
        }
        LogRecord::Reserve { upto, .. } => {
            if upto == 0 {
                return Err(Inconsistency::ZeroReservation);
            }
            check_reservation(upto)
        }
        LogRecord::Apply { .. } => Ok(()),
    }
}

/// Replay a log into the masters; returns the length of its well-formed
/// prefix. Only a last line without a newline (a torn write) is cut; any
/// other damage is an error naming the line.
fn replay(
    path: &Path,
    masters: &mut [Master],
    pending: &mut [Vec<(u64, Pending)>],
) -> Result<u64, StoreError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io(path)(e)),
    };
    // Pending decisions by id, per bandit, updated as records replay.
    let mut maps: Vec<BTreeMap<u64, Pending>> = pending
        .iter()
        .map(|p| p.iter().copied().collect())
        .collect();
    // A torn tail (the write that was cut off was never acknowledged) ends
    // the well-formed prefix.
    let read = read_log(file, path, |rec| {
        let b = rec.bandit();
        let Some(m) = masters.get_mut(b) else {
            return Err(format!(
                "record for bandit {b}, which the config does not have"
            ));
        };
        check_record(m, &rec).map_err(|e| format!("bandit `{}`: {e}", m.name))?;
        m.apply(&rec);
        match rec {
            LogRecord::Decision {
                id, arm, ctx, t, ..
            } => {
                maps[b].insert(
                    id,
                    Pending {
                        arm,
                        ctx,
                        issued_ms: t,
                        state: PendingState::Open,
                    },
                );
            }
            LogRecord::Reward {
                id,
                arm,
                ctx,
                issued,
                ..
            } => {
                maps[b]
                    .entry(id)
                    .and_modify(|p| p.state = PendingState::Rewarded)
                    .or_insert(Pending {
                        arm,
                        ctx,
                        issued_ms: issued,
                        state: PendingState::Rewarded,
                    });
            }
            _ => {}
        }
        Ok(())
    })?;
    for (p, m) in pending.iter_mut().zip(maps) {
        *p = m.into_iter().collect();
    }
    Ok(read.good)
}

/// Install recovered state into the runtimes (which were created publishing
/// the recovered policy states): counters, pending decisions, and the id
/// allocator, restarting at the reserved mark since ids below it may have
/// been handed out.
pub fn install(recovered: &Recovered, runtimes: &[Arc<BanditRuntime>]) {
    for ((m, rt), pending) in recovered
        .masters
        .iter()
        .zip(runtimes)
        .zip(&recovered.pending)
    {
        for (k, n) in m.decisions.iter().enumerate() {
            rt.decisions[k].store(*n, Ordering::Relaxed);
        }
        for (k, n) in m.rewards.iter().enumerate() {
            rt.rewards[k].store(*n, Ordering::Relaxed);
            rt.reward_sums[k].store(m.reward_sums[k].to_bits(), Ordering::Relaxed);
        }
        rt.buffered.store(m.buffer.len() as u64, Ordering::Relaxed);
        for &(id, mut p) in pending {
            if p.state == PendingState::Committing {
                p.state = PendingState::Open;
            }
            rt.put_pending(id, p);
        }
        if recovered.log.is_some() {
            let start = m.next_id.max(m.reserved);
            rt.next_id.store(start, Ordering::Relaxed);
            rt.reserved.store(m.reserved, Ordering::Release);
        }
    }
}
