//! The update thread: log a batch, apply it, publish, acknowledge; and the
//! state snapshots that rotate the log.
//!
//! A failed write or fsync is never acknowledged. The bytes of the failed
//! batch are cut back off the log (a partial write would otherwise leave a
//! torn record in the middle of the log once later writes succeed, and lock
//! every later reward away at the next start), so the server goes on once
//! space returns. If the cut itself fails, or an fsync fails (the kernel may
//! then have dropped pages it had accepted), the log cannot be trusted:
//! every write is refused (503 `storage_unavailable`) until a snapshot of
//! the in-memory state, which holds exactly what was acknowledged, lands and
//! starts a clean log, or the server is restarted.

use std::fs::{self, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use umpire_sim::serve::{Fsync, ServeConfig, UpdateEvery};

use super::format::{SnapshotFailure, SnapshotState, encode_record, write_snapshot_file};
use super::recovery::{Log, Recovered};
use super::{Ack, LogRecord, Master, Msg, StoreError, log_path, retire_log};
use crate::runtime::BanditRuntime;

/// Bounds on the period of time-based updates, whatever the config says: a
/// period below a millisecond would spin the update thread, and one beyond
/// a century would overflow `Instant` arithmetic.
const MIN_APPLY_PERIOD: Duration = Duration::from_millis(1);
const MAX_APPLY_PERIOD: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The wait before retrying a failed snapshot, doubled after each failure
/// up to the maximum.
const SNAPSHOT_BACKOFF_MIN: Duration = Duration::from_millis(50);
const SNAPSHOT_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// The period of `update_every_seconds = s`, clamped (NaN to the minimum).
fn apply_period(s: f64) -> Duration {
    let d = Duration::try_from_secs_f64(s).unwrap_or(if s > 0.0 {
        Duration::MAX
    } else {
        Duration::ZERO
    });
    d.clamp(MIN_APPLY_PERIOD, MAX_APPLY_PERIOD)
}

/// The errors of the update thread: one failure answers every request of
/// its batch, and a broken log keeps its cause, so they are shared.
type Shared = Arc<StoreError>;

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
    /// Set when the log can no longer be trusted: why. Writes are refused
    /// until a snapshot starts a clean log.
    broken: Option<Shared>,
    /// Per bandit with time-based updates: when the buffer is next applied.
    apply_due: Vec<Option<(Duration, Instant)>>,
    /// Snapshots attempted (for the tests of the retry schedule).
    snapshots_tried: u64,
    /// After a failed snapshot: no other is tried before this instant.
    snapshot_retry_at: Instant,
    /// The wait after the next failure (zero while snapshots succeed).
    snapshot_backoff: Duration,
    /// Older logs kept after a snapshot whose directory fsync failed (a
    /// crash could bring the previous snapshot back, which names them);
    /// deleted after the next snapshot that is synced.
    superseded: Vec<std::path::PathBuf>,
    /// Archive superseded logs instead of deleting them.
    keep_logs: bool,
}

impl Writer {
    /// An update thread over the recovered state and live log, publishing to
    /// `runtimes` (one per bandit, in config order). [`Writer::run`] runs it.
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
                    let d = apply_period(s);
                    Some((d, now.checked_add(d).unwrap_or(now)))
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
            keep_logs: config.server.keep_logs,
            records_since_snapshot: 0,
            last_sync: now,
            unsynced: false,
            broken: None,
            apply_due,
            snapshots_tried: 0,
            snapshot_retry_at: now,
            snapshot_backoff: Duration::ZERO,
            superseded: Vec::new(),
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
    ) -> Option<std::sync::mpsc::Sender<Result<(), Shared>>> {
        let mut records: Vec<LogRecord> = Vec::with_capacity(batch.len() + 1);
        let mut shutdown = None;
        let mut acks: Vec<Ack> = Vec::new();
        for m in batch.drain(..) {
            match m {
                Msg::Record { rec, ack } => {
                    records.push(rec);
                    acks.extend(ack);
                }
                Msg::Shutdown { done } => shutdown = Some(done),
            }
        }
        self.due_applies(&mut records);
        if self.broken.is_some() && !records.is_empty() {
            // A snapshot holds everything acknowledged and starts a clean log.
            if self.snapshot_when_due().is_ok() {
                self.broken = None;
            }
        }
        if let Err(e) = self.write(&records) {
            self.undo(&records);
            for ack in acks {
                let _ = ack.send(Err(e.clone()));
            }
            return shutdown;
        }
        self.apply(&records);
        for ack in acks {
            let _ = ack.send(Ok(()));
        }
        self.records_since_snapshot += records.len() as u64;
        if self.log.is_some() && self.records_since_snapshot >= self.snapshot_every {
            // A failed snapshot leaves the log growing; it is retried later.
            let _ = self.snapshot_when_due();
        }
        shutdown
    }

    /// An `Apply` record for each bandit whose time-based update is due.
    fn due_applies(&mut self, records: &mut Vec<LogRecord>) {
        let now = Instant::now();
        for (b, due) in self.apply_due.iter_mut().enumerate() {
            if let Some((every, at)) = due
                && now >= *at
            {
                *at = now.checked_add(*every).unwrap_or(now);
                if !self.masters[b].buffer.is_empty() {
                    records.push(LogRecord::Apply { b: b as u32 });
                }
            }
        }
    }

    /// Undo what the request handlers prepared for records that were not
    /// written. Done here, not by the handlers: a handler dropped by a
    /// timeout or a disconnect would otherwise leave its reward
    /// `Committing` (refused as in progress until it expires) or its
    /// decision pending. Before the acks, so a retry that follows one finds
    /// the decision open again.
    fn undo(&self, records: &[LogRecord]) {
        for rec in records {
            match *rec {
                LogRecord::Reward { b, id, .. } => {
                    if let Some(rt) = self.runtimes.get(b as usize) {
                        rt.reopen(id);
                    }
                }
                LogRecord::Decision { b, id, .. } => {
                    if let Some(rt) = self.runtimes.get(b as usize) {
                        rt.remove_pending(id);
                    }
                }
                _ => {}
            }
        }
    }

    /// Apply written records to the masters and the live counters, and
    /// publish the policies that changed.
    fn apply(&mut self, records: &[LogRecord]) {
        let durable = self.log.is_some();
        let mut changed = vec![false; self.masters.len()];
        for rec in records {
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
                // Counted here, with the master's count, even if the handler
                // is gone; without a state dir nothing is awaited and the
                // handler counts it.
                LogRecord::Decision { arm, .. } if durable => rt.count_decision(arm as usize),
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
    }

    /// A snapshot, unless one failed recently: each failure doubles the
    /// wait before the next try (up to [`SNAPSHOT_BACKOFF_MAX`]), so a full
    /// disk is not rewritten with the whole state on every batch.
    fn snapshot_when_due(&mut self) -> Result<(), Shared> {
        let now = Instant::now();
        if now < self.snapshot_retry_at {
            return Err(Arc::new(StoreError::SnapshotBackoff));
        }
        let r = self.snapshot();
        if r.is_ok() {
            self.snapshot_backoff = Duration::ZERO;
        } else {
            self.snapshot_backoff =
                (self.snapshot_backoff * 2).clamp(SNAPSHOT_BACKOFF_MIN, SNAPSHOT_BACKOFF_MAX);
            self.snapshot_retry_at = now + self.snapshot_backoff;
        }
        r
    }

    /// Append a batch to the log. On failure nothing of it stays in the log.
    fn write(&mut self, records: &[LogRecord]) -> Result<(), Shared> {
        if self.log.is_none() {
            return Ok(());
        }
        if let Some(why) = &self.broken {
            return Err(Arc::new(StoreError::Unusable(why.clone())));
        }
        if records.is_empty() {
            return self.sync_if_due();
        }
        let mut buf = Vec::with_capacity(records.len() * 112);
        for r in records {
            encode_record(r, &mut buf).map_err(Arc::new)?;
        }
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        let start = log.len;
        if let Err(source) = log.file.write_all(&buf) {
            let e = StoreError::LogWrite {
                path: log_path(&log.dir, log.number),
                source,
            };
            return Err(self.cut_back(start, Arc::new(e)));
        }
        log.len += buf.len() as u64;
        self.unsynced = true;
        let synced = match self.fsync {
            Fsync::Always => self.sync(),
            _ => self.sync_if_due(),
        };
        // Not acknowledged, so not to be replayed either.
        synced.map_err(|e| self.cut_back(start, e))
    }

    /// Cut the log back to `len` bytes after a failed write, and return
    /// the failure; if even the cut fails, stop writing to the log.
    fn cut_back(&mut self, len: u64, cause: Shared) -> Shared {
        let Some(log) = &mut self.log else {
            return cause;
        };
        match log
            .file
            .set_len(len)
            .and_then(|()| log.file.seek(SeekFrom::Start(len)).map(|_| ()))
        {
            Ok(()) => log.len = len,
            Err(source) => {
                self.broken = Some(Arc::new(StoreError::CutBack {
                    path: log_path(&log.dir, log.number),
                    cause: cause.clone(),
                    source,
                }));
            }
        }
        cause
    }

    fn sync_if_due(&mut self) -> Result<(), Shared> {
        if let Fsync::IntervalMs(ms) = self.fsync
            && self.unsynced
            && self.last_sync.elapsed() >= Duration::from_millis(ms)
        {
            return self.sync();
        }
        Ok(())
    }

    fn sync(&mut self) -> Result<(), Shared> {
        if let Some(log) = &self.log
            && self.unsynced
        {
            if let Err(source) = log.file.sync_data() {
                let e = Arc::new(StoreError::LogSync {
                    path: log_path(&log.dir, log.number),
                    source,
                });
                self.broken = Some(e.clone());
                return Err(e);
            }
            self.unsynced = false;
            self.last_sync = Instant::now();
        }
        Ok(())
    }

    /// Write a snapshot and start a new log: create the new (empty) log,
    /// write the snapshot naming it atomically, then drop the old log.
    fn snapshot(&mut self) -> Result<(), Shared> {
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        self.snapshots_tried += 1;
        let dir = log.dir.clone();
        let next = log.number + 1;
        let new_path = log_path(&dir, next);
        let new_file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .read(true)
            .write(true)
            .open(&new_path)
            .map_err(|source| StoreError::Io {
                path: new_path.clone(),
                source,
            })?;
        let snap = SnapshotState {
            next_log: next,
            bandits: self.masters.clone(),
            pending: self
                .runtimes
                .iter()
                .map(|rt| rt.pending_entries())
                .collect(),
        };
        let unsynced = match write_snapshot_file(&dir, &snap) {
            Ok(()) => None,
            Err(SnapshotFailure::NotWritten(e)) => {
                // Empty and named by no snapshot: recovery would delete it too.
                drop(new_file);
                let _ = fs::remove_file(&new_path);
                return Err(Arc::new(e));
            }
            Err(SnapshotFailure::Unsynced(e)) => Some(Arc::new(e)),
        };
        // The snapshot is in place and names the new log: from here on the
        // new log is the one a start replays, whatever else fails.
        let old = log_path(&dir, log.number);
        log.rotate(next, new_file);
        self.records_since_snapshot = 0;
        self.unsynced = false;
        if let Some(e) = unsynced {
            // A crash could still bring the previous snapshot back, which
            // names the old log, and lose the new log's name: keep the old
            // log, and acknowledge nothing until a snapshot is synced.
            self.superseded.push(old);
            self.broken = Some(e.clone());
            return Err(e);
        }
        retire_log(&old, self.keep_logs);
        for older in self.superseded.drain(..) {
            retire_log(&older, self.keep_logs);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::fs::File;
    use std::path::Path;

    use umpire_sim::bandit::policy::PolicySpec;
    use umpire_sim::serve::{ServedBandit, ServerSettings};

    use super::*;
    use crate::runtime::{Pending, PendingState};
    use crate::store::{now_ms, recover};

    /// A config validation would refuse is still no reason to panic.
    #[test]
    fn huge_update_periods_start_a_writer_without_panicking() {
        for s in [1e19, 1e300, f64::INFINITY] {
            let config = two_arm_config(UpdateEvery::Seconds(s), ServerSettings::default());
            let recovered = recover(&config, None).expect("recover");
            let runtimes = config
                .bandits
                .iter()
                .zip(&recovered.masters)
                .map(|(b, m)| {
                    Arc::new(BanditRuntime::new(
                        0,
                        b.clone(),
                        1,
                        None,
                        m.state.clone(),
                        0,
                    ))
                })
                .collect();
            let writer = Writer::new(&config, recovered, runtimes);
            assert!(writer.next_wakeup() <= Duration::from_millis(200), "{s}");
        }
    }

    #[test]
    fn any_update_period_is_a_usable_duration() {
        let now = Instant::now();
        for s in [
            1e300,
            1e19,
            f64::MAX,
            f64::INFINITY,
            5.0,
            1e-300,
            0.0,
            -1.0,
            f64::NAN,
        ] {
            let d = apply_period(s);
            assert!(
                (MIN_APPLY_PERIOD..=MAX_APPLY_PERIOD).contains(&d),
                "{s} -> {d:?}"
            );
            assert!(now.checked_add(d).is_some(), "{s}");
        }
        assert_eq!(apply_period(5.0), Duration::from_secs(5));
    }

    /// A scratch state directory, removed when dropped.
    struct Scratch(std::path::PathBuf);

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn scratch(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("umpire-writer-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        Scratch(dir)
    }

    /// A serve config with one uniform two-armed bandit `b`.
    fn two_arm_config(update: UpdateEvery, server: ServerSettings) -> ServeConfig {
        ServeConfig {
            name: "w".into(),
            seed: 1,
            experiments: Vec::new(),
            bandits: vec![ServedBandit {
                name: "b".into(),
                arms: vec!["x".into(), "y".into()],
                policy: PolicySpec::Uniform,
                contexts: Vec::new(),
                update,
                means: None,
                context_truth: Vec::new(),
                propensity_draws: umpire_sim::serve::DEFAULT_PROPENSITY_DRAWS,
            }],
            server,
        }
    }

    /// A writer on a state directory with one two-armed bandit, and its runtime.
    fn durable_writer(dir: &Path, snapshot_every: u64) -> (Writer, Arc<BanditRuntime>) {
        let settings = ServerSettings {
            snapshot_every,
            ..ServerSettings::default()
        };
        let config = two_arm_config(UpdateEvery::Rewards(1), settings);
        let recovered = recover(&config, Some(dir)).expect("recover");
        let rt = Arc::new(BanditRuntime::new(
            0,
            config.bandits[0].clone(),
            1,
            None,
            recovered.masters[0].state.clone(),
            0,
        ));
        (Writer::new(&config, recovered, vec![rt.clone()]), rt)
    }

    /// Make every log write fail: the live log's handle becomes read-only.
    fn fail_writes(w: &mut Writer) {
        let log = w.log.as_mut().expect("a log");
        log.file = File::open(log_path(&log.dir, log.number)).expect("reopen");
    }

    fn pending(rt: &BanditRuntime, id: u64) -> Option<PendingState> {
        rt.pending_entries()
            .into_iter()
            .find(|&(i, _)| i == id)
            .map(|(_, p)| p.state)
    }

    fn open(state: PendingState) -> Pending {
        Pending {
            arm: 1,
            ctx: 0,
            issued_ms: now_ms(),
            state,
        }
    }

    /// The request handler may be gone (a timeout or a disconnect drops it)
    /// when a write fails, so the writer itself undoes what the handler
    /// prepared: a reward's decision is open to a retry again, a decision
    /// is not left pending. And a decision that was written is counted even
    /// if nobody waits for the answer.
    #[test]
    fn the_writer_settles_bookkeeping_whether_or_not_the_handler_waits() {
        let dir = scratch("settle");
        let (mut w, rt) = durable_writer(&dir.0, 1_000_000);
        fail_writes(&mut w);
        rt.put_pending(5, open(PendingState::Committing));
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        // The handler is gone: its receiver was dropped.
        drop(w.process(&mut vec![Msg::Record {
            rec: LogRecord::Reward {
                b: 0,
                id: 5,
                arm: 1,
                ctx: 0,
                r: 1.0,
                issued: now_ms(),
                t: now_ms(),
            },
            ack: Some(tx),
        }]));
        match rx.try_recv() {
            Ok(Err(e)) => {
                // The error names the log it could not write; its text is
                // what the 503 answer says.
                assert!(
                    matches!(&*e, StoreError::LogWrite { path, .. } if path.ends_with("log-0.jsonl")),
                    "{e:?}"
                );
                assert!(e.to_string().starts_with("writing the log: "), "{e}");
            }
            other => panic!("the write failed, so its ack is an error: {other:?}"),
        }
        assert_eq!(pending(&rt, 5), Some(PendingState::Open));
        assert_eq!(rt.rewards[1].load(Ordering::Relaxed), 0);

        let (mut w, rt) = durable_writer(&dir.0.join("decision"), 1_000_000);
        fail_writes(&mut w);
        rt.put_pending(6, open(PendingState::Open));
        let (tx, rx) = tokio::sync::oneshot::channel();
        drop(rx);
        drop(w.process(&mut vec![Msg::Record {
            rec: LogRecord::Decision {
                b: 0,
                id: 6,
                arm: 1,
                ctx: 0,
                t: now_ms(),
                unit: "u".into(),
                p: None,
                mc: None,
            },
            ack: Some(tx),
        }]));
        assert_eq!(pending(&rt, 6), None, "an unwritten decision stays pending");
        assert_eq!(rt.decisions[1].load(Ordering::Relaxed), 0);

        let (mut w, rt) = durable_writer(&dir.0.join("written"), 1_000_000);
        rt.put_pending(7, open(PendingState::Open));
        let (tx, rx) = tokio::sync::oneshot::channel();
        drop(rx);
        drop(w.process(&mut vec![Msg::Record {
            rec: LogRecord::Decision {
                b: 0,
                id: 7,
                arm: 1,
                ctx: 0,
                t: now_ms(),
                unit: "u".into(),
                p: None,
                mc: None,
            },
            ack: Some(tx),
        }]));
        assert_eq!(w.masters[0].decisions, vec![0, 1]);
        assert_eq!(
            rt.decisions[1].load(Ordering::Relaxed),
            1,
            "the live count agrees with the state"
        );
    }

    /// The most snapshots a schedule starting at `SNAPSHOT_BACKOFF_MIN` and
    /// doubling up to `SNAPSHOT_BACKOFF_MAX` allows within `elapsed`.
    fn attempts_allowed(elapsed: Duration) -> u64 {
        let (mut n, mut t, mut wait) = (1, Duration::ZERO, SNAPSHOT_BACKOFF_MIN);
        while t + wait <= elapsed {
            t += wait;
            n += 1;
            wait = (wait * 2).min(SNAPSHOT_BACKOFF_MAX);
        }
        n
    }

    /// A rotation that fails is not retried on every batch, but after a
    /// wait that doubles; once the obstacle is gone it succeeds.
    #[test]
    fn a_failing_rotation_backs_off() {
        let dir = scratch("backoff");
        let (mut w, _rt) = durable_writer(&dir.0, 1);
        // The next log's name taken by a directory: creating it fails.
        let blocker = log_path(&dir.0, 1);
        fs::create_dir(&blocker).expect("blocker");
        let start = Instant::now();
        for i in 0..200u64 {
            let (tx, _rx) = tokio::sync::oneshot::channel();
            drop(w.process(&mut vec![Msg::Record {
                rec: LogRecord::Reserve {
                    b: 0,
                    upto: (i + 1) * crate::runtime::ID_BLOCK,
                },
                ack: Some(tx),
            }]));
        }
        let allowed = attempts_allowed(start.elapsed());
        assert!(
            (1..=allowed).contains(&w.snapshots_tried),
            "{} snapshot attempts in 200 batches ({allowed} allowed)",
            w.snapshots_tried
        );
        assert_eq!(w.log.as_ref().map(|l| l.number), Some(0));
        fs::remove_dir(&blocker).expect("unblock");
        std::thread::sleep(
            w.snapshot_retry_at
                .saturating_duration_since(Instant::now()),
        );
        let (tx, _rx) = tokio::sync::oneshot::channel();
        drop(w.process(&mut vec![Msg::Record {
            rec: LogRecord::Reserve {
                b: 0,
                upto: 201 * crate::runtime::ID_BLOCK,
            },
            ack: Some(tx),
        }]));
        assert_eq!(w.log.as_ref().map(|l| l.number), Some(1), "rotated");
    }
}
