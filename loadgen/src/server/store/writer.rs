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

use std::fs::{self, File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use umpire_sim::serve::{Fsync, ServeConfig, UpdateEvery};

use super::format::{SnapshotState, encode_record, encode_snapshot};
use super::recovery::{Log, Recovered};
use super::{Ack, LogRecord, Master, Msg, log_path};
use crate::server::bandit::BanditRuntime;

/// Bounds on the period of time-based updates, whatever the config says: a
/// period below a millisecond would spin the update thread, and one beyond
/// a century would overflow `Instant` arithmetic.
const MIN_APPLY_PERIOD: Duration = Duration::from_millis(1);
const MAX_APPLY_PERIOD: Duration = Duration::from_secs(100 * 365 * 86_400);

/// The period of `update_every_seconds = s`, clamped (NaN to the minimum).
fn apply_period(s: f64) -> Duration {
    let d = Duration::try_from_secs_f64(s).unwrap_or(if s > 0.0 {
        Duration::MAX
    } else {
        Duration::ZERO
    });
    d.clamp(MIN_APPLY_PERIOD, MAX_APPLY_PERIOD)
}

/// Write a snapshot atomically: a temporary file, fsynced and renamed, then
/// the directory fsynced. The temporary is removed on failure, so that a
/// full disk is not made fuller by every retry.
pub(super) fn write_snapshot_file(dir: &Path, state: &SnapshotState) -> Result<(), String> {
    let bytes = encode_snapshot(state)?;
    let tmp = dir.join("snapshot.json.tmp");
    let target = dir.join("snapshot.json");
    let write = || -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, &target)?;
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        format!("{}: {e}", target.display())
    })
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
    /// Set when the log can no longer be trusted: why. Writes are refused
    /// until a snapshot starts a clean log.
    broken: Option<String>,
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
            records_since_snapshot: 0,
            last_sync: now,
            unsynced: false,
            broken: None,
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
                *at = now.checked_add(*every).unwrap_or(now);
                if !self.masters[b].buffer.is_empty() {
                    records.push(LogRecord::Apply { b: b as u32 });
                }
            }
        }
        if self.broken.is_some() && !records.is_empty() {
            // A snapshot holds everything acknowledged and starts a clean log.
            if self.snapshot().is_ok() {
                self.broken = None;
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

    /// Append a batch to the log. On failure nothing of it stays in the log.
    fn write(&mut self, records: &[LogRecord]) -> Result<(), String> {
        if self.log.is_none() {
            return Ok(());
        }
        if let Some(why) = &self.broken {
            return Err(format!(
                "the state log is unusable since an earlier failure ({why}); nothing is recorded \
                 until a snapshot can be written or the server is restarted"
            ));
        }
        if records.is_empty() {
            return self.sync_if_due();
        }
        let mut buf = Vec::with_capacity(records.len() * 112);
        for r in records {
            encode_record(r, &mut buf)?;
        }
        let Some(log) = &mut self.log else {
            return Ok(());
        };
        let start = log.len;
        if let Err(e) = log.file.write_all(&buf) {
            let e = format!("writing the log: {e}");
            self.cut_back(start, &e);
            return Err(e);
        }
        log.len += buf.len() as u64;
        self.unsynced = true;
        let synced = match self.fsync {
            Fsync::Always => self.sync(),
            _ => self.sync_if_due(),
        };
        if let Err(e) = &synced {
            // Not acknowledged, so not to be replayed either.
            self.cut_back(start, e);
        }
        synced
    }

    /// Cut the log back to `len` bytes after a failed write; if even that
    /// fails, stop writing to it.
    fn cut_back(&mut self, len: u64, cause: &str) {
        let Some(log) = &mut self.log else { return };
        match log
            .file
            .set_len(len)
            .and_then(|()| log.file.seek(SeekFrom::Start(len)).map(|_| ()))
        {
            Ok(()) => log.len = len,
            Err(e) => {
                self.broken = Some(format!(
                    "{cause}; then cutting the failed write off the log: {e}"
                ));
            }
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
            if let Err(e) = log.file.sync_data() {
                let e = format!("fsync of the log: {e}");
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
        let snap = SnapshotState {
            next_log: next,
            bandits: self.masters.clone(),
            pending: self
                .runtimes
                .iter()
                .map(|rt| rt.pending_entries())
                .collect(),
        };
        if let Err(e) = write_snapshot_file(&dir, &snap) {
            // Empty and named by no snapshot: recovery would delete it too.
            drop(new_file);
            let _ = fs::remove_file(&new_path);
            return Err(e);
        }
        let old = log_path(&dir, log.number);
        log.rotate(next, new_file);
        let _ = fs::remove_file(old);
        self.records_since_snapshot = 0;
        self.unsynced = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use umpire_sim::bandit::policy::PolicySpec;
    use umpire_sim::serve::{ServedBandit, ServerSettings};

    use super::*;
    use crate::server::store::recover;

    /// A config validation would refuse is still no reason to panic.
    #[test]
    fn huge_update_periods_start_a_writer_without_panicking() {
        for s in [1e19, 1e300, f64::INFINITY] {
            let config = ServeConfig {
                name: "huge".into(),
                seed: 1,
                experiments: Vec::new(),
                bandits: vec![ServedBandit {
                    name: "b".into(),
                    arms: vec!["x".into(), "y".into()],
                    policy: PolicySpec::Uniform,
                    contexts: Vec::new(),
                    update: UpdateEvery::Seconds(s),
                    means: None,
                }],
                server: ServerSettings::default(),
            };
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
}
