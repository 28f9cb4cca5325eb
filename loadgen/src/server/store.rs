//! The update path and durability.
//!
//! One thread owns the master policy states. It appends every decision,
//! reward and id reservation to the log, applies rewards in log order,
//! publishes new policy snapshots for `decide`, and writes state snapshots.
//! It takes messages in batches, so one write (and one fsync) covers every
//! request that arrived meanwhile (group commit).
//!
//! With a state directory:
//! - `snapshot.json` holds the master states, counters and pending decisions,
//!   and names the live log, `log-N.jsonl`. It is written to a temporary file,
//!   fsynced and renamed, then the directory is fsynced.
//! - A reward is acknowledged only after its log line is written (and fsynced
//!   under `fsync = "always"`), so every acknowledged reward is in the
//!   snapshot or in the log that follows it, which is replayed on start.
//! - Replay runs the same code as live updates ([`Master::apply`]), so the
//!   recovered state equals the state before the stop, bit for bit.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use umpire_sim::bandit::policy::{Policy, PolicyState};
use umpire_sim::serve::{Fsync, ServeConfig, UpdateEvery};

use super::bandit::{BanditRuntime, Pending, PendingState};

pub type Ack = oneshot::Sender<Result<(), String>>;

/// Milliseconds since the Unix epoch (wall clock: timestamps survive restarts).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Corrupt {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error(
        "{path}: this state directory is in use by another umpire server (or cannot be locked)"
    )]
    Locked { path: PathBuf },
    #[error(
        "{path}: the saved state does not match the config: {message}; use a fresh --state directory"
    )]
    Mismatch { path: PathBuf, message: String },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One line of the log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum LogRecord {
    Decision {
        b: u32,
        id: u64,
        arm: u32,
        ctx: u32,
        t: u64,
        unit: String,
    },
    Reward {
        b: u32,
        id: u64,
        arm: u32,
        ctx: u32,
        r: f64,
        /// When the decision was issued (kept for expiry after replay).
        issued: u64,
        t: u64,
    },
    /// Decision ids below `upto` may be handed out.
    Reserve { b: u32, upto: u64 },
    /// A time-based batch update was applied.
    Apply { b: u32 },
}

impl LogRecord {
    /// The index of the bandit the record belongs to.
    fn bandit(&self) -> usize {
        match *self {
            LogRecord::Decision { b, .. }
            | LogRecord::Reward { b, .. }
            | LogRecord::Reserve { b, .. }
            | LogRecord::Apply { b } => b as usize,
        }
    }
}

/// A request to the update thread.
pub enum Msg {
    Decision {
        bandit: u32,
        id: u64,
        arm: u32,
        ctx: u32,
        t: u64,
        unit: String,
        /// With a state dir: answered once the decision is written.
        ack: Option<Ack>,
    },
    Reward {
        bandit: u32,
        id: u64,
        arm: u32,
        ctx: u32,
        reward: f64,
        issued_ms: u64,
        t: u64,
        ack: Ack,
    },
    Reserve {
        bandit: u32,
        upto: u64,
        ack: Ack,
    },
    /// Finish what is queued, write a final snapshot and stop.
    Shutdown {
        done: std::sync::mpsc::Sender<Result<(), String>>,
    },
}

/// A bandit's authoritative state, owned by the update thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Master {
    pub name: String,
    pub arms: Vec<String>,
    pub contexts: Vec<String>,
    pub state: PolicyState,
    /// Rewards received and not yet applied: (context, arm, reward).
    pub buffer: Vec<(u32, u32, f64)>,
    pub decisions: Vec<u64>,
    pub rewards: Vec<u64>,
    pub reward_sums: Vec<f64>,
    /// Ids below this were reserved and may have been handed out.
    pub reserved: u64,
    /// One past the largest id decided.
    pub next_id: u64,
    pub version: u64,
    #[serde(skip)]
    update: Option<UpdateEvery>,
}

impl Master {
    fn apply_buffer(&mut self) {
        for &(c, a, r) in &self.buffer {
            self.state.update(c as usize, a as usize, r);
        }
        self.buffer.clear();
        self.version += 1;
    }

    /// The effect of one log record; the same code runs live and in replay.
    /// Returns true when the policy state changed.
    fn apply(&mut self, rec: &LogRecord) -> bool {
        match *rec {
            LogRecord::Decision { id, arm, .. } => {
                if let Some(n) = self.decisions.get_mut(arm as usize) {
                    *n += 1;
                }
                self.next_id = self.next_id.max(id + 1);
                false
            }
            LogRecord::Reward { ctx, arm, r, .. } => {
                let a = arm as usize;
                if a < self.rewards.len() {
                    self.rewards[a] += 1;
                    self.reward_sums[a] += r;
                }
                self.buffer.push((ctx, arm, r));
                match self.update {
                    Some(UpdateEvery::Rewards(n)) if self.buffer.len() as u64 >= n => {
                        self.apply_buffer();
                        true
                    }
                    _ => false,
                }
            }
            LogRecord::Reserve { upto, .. } => {
                self.reserved = self.reserved.max(upto);
                false
            }
            LogRecord::Apply { .. } => {
                self.apply_buffer();
                true
            }
        }
    }
}

#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    format: String,
    format_version: u32,
    /// The live log that follows this snapshot.
    next_log: u64,
    bandits: Vec<Master>,
    /// Per bandit, its pending decisions.
    pending: Vec<Vec<(u64, Pending)>>,
}

const SNAPSHOT_FORMAT: &str = "umpire.serve-state";

fn fresh_masters(config: &ServeConfig) -> Result<Vec<Master>, String> {
    config
        .bandits
        .iter()
        .map(|b| {
            let arms = b.arms.len();
            let state = PolicyState::new(&b.policy, arms, b.contexts.len().max(1))
                .map_err(|e| format!("bandit `{}`: {e}", b.name))?;
            Ok(Master {
                name: b.name.clone(),
                arms: b.arms.clone(),
                contexts: b.contexts.clone(),
                state,
                buffer: Vec::new(),
                decisions: vec![0; arms],
                rewards: vec![0; arms],
                reward_sums: vec![0.0; arms],
                reserved: 0,
                next_id: 0,
                version: 0,
                update: Some(b.update),
            })
        })
        .collect()
}

/// The live log file.
struct Log {
    dir: PathBuf,
    number: u64,
    file: File,
    /// Held for the server's life: a second server on the same directory
    /// would interleave logs.
    _lock: File,
}

fn log_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("log-{n}.jsonl"))
}

/// Everything recovered from a state directory (or fresh, without one).
pub struct Recovered {
    pub masters: Vec<Master>,
    log: Option<Log>,
    pending: Vec<Vec<(u64, Pending)>>,
}

/// Load the snapshot and replay the log after it. Without a directory,
/// fresh states.
pub fn recover(config: &ServeConfig, dir: Option<&Path>) -> Result<Recovered, StoreError> {
    let fresh = fresh_masters(config).map_err(|message| StoreError::Mismatch {
        path: dir.map_or_else(PathBuf::new, Path::to_owned),
        message,
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
    let snap_path = dir.join("snapshot.json");
    let (mut masters, next_log, mut pending) = match fs::read(&snap_path) {
        Ok(bytes) => {
            let snap: SnapshotFile =
                serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
                    path: snap_path.clone(),
                    line: e.line(),
                    message: e.to_string(),
                })?;
            if snap.format != SNAPSHOT_FORMAT {
                return Err(StoreError::Corrupt {
                    path: snap_path,
                    line: 1,
                    message: format!("not an umpire state snapshot ({})", snap.format),
                });
            }
            let mut masters = snap.bandits;
            check_matches(&snap_path, &masters, &fresh)?;
            for (m, f) in masters.iter_mut().zip(&fresh) {
                m.update = f.update;
            }
            let mut pending = snap.pending;
            pending.resize(masters.len(), Vec::new());
            (masters, snap.next_log, pending)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            (fresh, 0, vec![Vec::new(); config.bandits.len()])
        }
        Err(e) => return Err(io(&snap_path)(e)),
    };
    let path = log_path(dir, next_log);
    let good_len = replay(&path, &mut masters, &mut pending)?;
    // Older logs are covered by the snapshot; a newer one can only be an
    // empty log created just before a snapshot that never landed.
    for entry in fs::read_dir(dir).map_err(io(dir))?.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let stale_log = name
            .strip_prefix("log-")
            .and_then(|n| n.strip_suffix(".jsonl"))
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n != next_log);
        if stale_log || name.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
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
    file.seek(SeekFrom::End(0)).map_err(io(&path))?;
    Ok(Recovered {
        masters,
        log: Some(Log {
            dir: dir.to_owned(),
            number: next_log,
            file,
            _lock: lock,
        }),
        pending,
    })
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

/// Replay a log into the masters; returns the length of its well-formed
/// prefix. Only the last line may be torn; damage elsewhere is an error.
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
    let mut reader = BufReader::new(file);
    let mut good = 0u64;
    let mut line = String::new();
    let mut number = 0usize;
    // Pending decisions by id, per bandit, updated as records replay.
    let mut maps: Vec<std::collections::BTreeMap<u64, Pending>> = pending
        .iter()
        .map(|p| p.iter().copied().collect())
        .collect();
    loop {
        line.clear();
        let n = reader.read_line(&mut line).map_err(io(path))?;
        if n == 0 {
            break;
        }
        number += 1;
        let complete = line.ends_with('\n');
        let rec: LogRecord = match serde_json::from_str(line.trim_end()) {
            Ok(r) if complete => r,
            Ok(_) | Err(_) => {
                let mut rest = String::new();
                let more = reader.read_line(&mut rest).map_err(io(path))?;
                if more == 0 {
                    // A torn tail: the write that was cut off was never acknowledged.
                    break;
                }
                return Err(StoreError::Corrupt {
                    path: path.to_owned(),
                    line: number,
                    message: "unreadable log record before the end of the log".into(),
                });
            }
        };
        let b = rec.bandit();
        let Some(m) = masters.get_mut(b) else {
            return Err(StoreError::Corrupt {
                path: path.to_owned(),
                line: number,
                message: format!("record for bandit {b}, which the config does not have"),
            });
        };
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
        good += n as u64;
    }
    for (p, m) in pending.iter_mut().zip(maps) {
        *p = m.into_iter().collect();
    }
    Ok(good)
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

/// The update thread.
pub struct Writer {
    masters: Vec<Master>,
    runtimes: Vec<Arc<BanditRuntime>>,
    log: Option<Log>,
    fsync: Fsync,
    snapshot_every: u64,
    records_since_snapshot: u64,
    last_sync: Instant,
    unsynced: bool,
    /// Per bandit with time-based updates: when the buffer is next applied.
    apply_due: Vec<Option<(Duration, Instant)>>,
}

impl Writer {
    pub fn new(
        config: &ServeConfig,
        recovered: Recovered,
        runtimes: Vec<Arc<BanditRuntime>>,
    ) -> Self {
        let now = Instant::now();
        let apply_due = config
            .bandits
            .iter()
            .map(|b| match b.update {
                UpdateEvery::Seconds(s) => {
                    let d = Duration::from_secs_f64(s);
                    Some((d, now + d))
                }
                UpdateEvery::Rewards(_) => None,
            })
            .collect();
        Self {
            masters: recovered.masters,
            runtimes,
            log: recovered.log,
            fsync: config.server.fsync,
            snapshot_every: config.server.snapshot_every,
            records_since_snapshot: 0,
            last_sync: now,
            unsynced: false,
            apply_due,
        }
    }

    /// Run until a Shutdown message or until every sender is gone.
    pub fn run(mut self, rx: &Receiver<Msg>) {
        let mut batch: Vec<Msg> = Vec::new();
        loop {
            let wait = self.next_wakeup();
            match rx.recv_timeout(wait) {
                Ok(m) => {
                    batch.push(m);
                    while batch.len() < 4096 {
                        match rx.try_recv() {
                            Ok(m) => batch.push(m),
                            Err(_) => break,
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    let _ = self.snapshot();
                    return;
                }
            }
            let shutdown = self.process(&mut batch);
            if let Some(done) = shutdown {
                let r = self.sync().and_then(|()| self.snapshot());
                let _ = done.send(r);
                return;
            }
        }
    }

    fn next_wakeup(&self) -> Duration {
        let now = Instant::now();
        let mut wait = Duration::from_millis(200);
        for (_, due) in self.apply_due.iter().flatten() {
            wait = wait.min(due.saturating_duration_since(now));
        }
        if let Fsync::IntervalMs(ms) = self.fsync
            && self.unsynced
        {
            let due = self.last_sync + Duration::from_millis(ms);
            wait = wait.min(due.saturating_duration_since(now));
        }
        wait.max(Duration::from_micros(100))
    }

    /// Log, apply and acknowledge one batch; returns a pending shutdown.
    fn process(
        &mut self,
        batch: &mut Vec<Msg>,
    ) -> Option<std::sync::mpsc::Sender<Result<(), String>>> {
        let mut records: Vec<LogRecord> = Vec::with_capacity(batch.len() + 1);
        let mut shutdown = None;
        let mut acks: Vec<Ack> = Vec::new();
        for m in batch.drain(..) {
            match m {
                Msg::Decision {
                    bandit,
                    id,
                    arm,
                    ctx,
                    t,
                    unit,
                    ack,
                } => {
                    records.push(LogRecord::Decision {
                        b: bandit,
                        id,
                        arm,
                        ctx,
                        t,
                        unit,
                    });
                    acks.extend(ack);
                }
                Msg::Reward {
                    bandit,
                    id,
                    arm,
                    ctx,
                    reward,
                    issued_ms,
                    t,
                    ack,
                } => {
                    records.push(LogRecord::Reward {
                        b: bandit,
                        id,
                        arm,
                        ctx,
                        r: reward,
                        issued: issued_ms,
                        t,
                    });
                    acks.push(ack);
                }
                Msg::Reserve { bandit, upto, ack } => {
                    records.push(LogRecord::Reserve { b: bandit, upto });
                    acks.push(ack);
                }
                Msg::Shutdown { done } => shutdown = Some(done),
            }
        }
        let now = Instant::now();
        for (b, due) in self.apply_due.iter_mut().enumerate() {
            if let Some((every, at)) = due
                && now >= *at
            {
                *at = now + *every;
                if !self.masters[b].buffer.is_empty() {
                    records.push(LogRecord::Apply { b: b as u32 });
                }
            }
        }
        let written = self.write(&records);
        if let Err(e) = &written {
            for ack in acks {
                let _ = ack.send(Err(e.clone()));
            }
            return shutdown;
        }
        let mut changed = vec![false; self.masters.len()];
        for rec in &records {
            let b = rec.bandit();
            let (Some(m), Some(rt)) = (self.masters.get_mut(b), self.runtimes.get(b)) else {
                continue;
            };
            changed[b] |= m.apply(rec);
            match *rec {
                LogRecord::Reward {
                    id,
                    arm,
                    ctx,
                    r,
                    issued,
                    ..
                } => {
                    rt.mark_rewarded(id, arm, ctx, issued);
                    rt.count_reward(arm as usize, r);
                }
                LogRecord::Reserve { upto, .. } => {
                    rt.reserved.fetch_max(upto, Ordering::AcqRel);
                }
                _ => {}
            }
            rt.buffered.store(m.buffer.len() as u64, Ordering::Relaxed);
        }
        for (b, c) in changed.iter().enumerate() {
            if *c {
                let m = &self.masters[b];
                self.runtimes[b].publish(m.state.clone(), m.version);
            }
        }
        for ack in acks {
            let _ = ack.send(Ok(()));
        }
        self.records_since_snapshot += records.len() as u64;
        if self.log.is_some() && self.records_since_snapshot >= self.snapshot_every {
            // A failed snapshot leaves the log growing; it is retried later.
            let _ = self.snapshot();
        }
        shutdown
    }

    fn write(&mut self, records: &[LogRecord]) -> Result<(), String> {
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        if records.is_empty() {
            return self.sync_if_due();
        }
        let mut buf = Vec::with_capacity(records.len() * 96);
        for r in records {
            serde_json::to_writer(&mut buf, r).map_err(|e| e.to_string())?;
            buf.push(b'\n');
        }
        log.file
            .write_all(&buf)
            .map_err(|e| format!("writing the log: {e}"))?;
        self.unsynced = true;
        match self.fsync {
            Fsync::Always => self.sync(),
            _ => self.sync_if_due(),
        }
    }

    fn sync_if_due(&mut self) -> Result<(), String> {
        if let Fsync::IntervalMs(ms) = self.fsync
            && self.unsynced
            && self.last_sync.elapsed() >= Duration::from_millis(ms)
        {
            return self.sync();
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), String> {
        if let Some(log) = &self.log
            && self.unsynced
        {
            log.file
                .sync_data()
                .map_err(|e| format!("fsync of the log: {e}"))?;
            self.unsynced = false;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Write a snapshot and start a new log: create the new (empty) log,
    /// write the snapshot naming it atomically, then drop the old log.
    fn snapshot(&mut self) -> Result<(), String> {
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        let dir = log.dir.clone();
        let next = log.number + 1;
        let new_path = log_path(&dir, next);
        let new_file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&new_path)
            .map_err(|e| format!("{}: {e}", new_path.display()))?;
        let snap = SnapshotFile {
            format: SNAPSHOT_FORMAT.to_owned(),
            format_version: 1,
            next_log: next,
            bandits: self.masters.clone(),
            pending: self
                .runtimes
                .iter()
                .map(|rt| rt.pending_entries())
                .collect(),
        };
        let bytes = serde_json::to_vec(&snap).map_err(|e| e.to_string())?;
        let tmp = dir.join("snapshot.json.tmp");
        let target = dir.join("snapshot.json");
        let write = || -> std::io::Result<()> {
            let mut f = File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs::rename(&tmp, &target)?;
            File::open(&dir)?.sync_all()
        };
        write().map_err(|e| format!("{}: {e}", target.display()))?;
        let old = log_path(&dir, log.number);
        log.file = new_file;
        log.number = next;
        let _ = fs::remove_file(old);
        self.records_since_snapshot = 0;
        self.unsynced = false;
        Ok(())
    }
}
