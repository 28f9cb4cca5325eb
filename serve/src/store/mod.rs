//! The update path and durability.
//!
//! One thread owns the master policy states ([`writer`]). It appends every
//! decision, reward and id reservation to the log, applies rewards in log
//! order, publishes new policy snapshots for `decide`, and writes state
//! snapshots. It takes messages in batches, so one write (and one fsync)
//! covers every request that arrived meanwhile (group commit).
//!
//! With a state directory:
//! - `snapshot.json` holds the master states, counters and pending decisions,
//!   and names the live log, `log-N.jsonl`. It is written to a temporary file,
//!   fsynced and renamed, then the directory is fsynced. A fresh directory
//!   gets one before its first log, so a log without a snapshot is always a
//!   lost snapshot, never a new directory.
//! - Every log line and the snapshot carry a CRC-32 ([`format`]), so damage
//!   is told apart from a write cut short by a crash.
//! - A reward is acknowledged only after its log line is written (and fsynced
//!   under `fsync = "always"`), so every acknowledged reward is in the
//!   snapshot or in the log that follows it, which is replayed on start. A
//!   failed write is cut back off the log before anyone hears of it.
//! - Replay runs the same code as live updates ([`Master::apply`]), so the
//!   recovered state equals the state before the stop, bit for bit; and it
//!   starts only from a state that accounts for every log ([`recovery`]).

mod format;
pub mod history;
mod recovery;
mod writer;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use umpire_sim::bandit::policy::{Policy, PolicyError, PolicyState};
use umpire_sim::serve::{ServeConfig, UpdateEvery};

pub use recovery::{Recovered, install, recover};
pub use writer::Writer;

/// The answer to a logged record. One failed write answers every record of
/// its batch, so the error is shared.
pub type Ack = oneshot::Sender<Result<(), Arc<StoreError>>>;

/// Milliseconds since the Unix epoch (wall clock: timestamps survive restarts).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Why the state directory could not be read, written or trusted.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A log record or the snapshot cannot be read: damaged, unchecksummed
    /// (state format 1), or inconsistent with itself.
    #[error("{path}:{line}: {message}")]
    Corrupt {
        /// The log or snapshot file.
        path: PathBuf,
        /// The line of the record (1-based; 1 for most snapshot problems).
        line: usize,
        /// What is wrong with it.
        message: String,
    },
    /// Another server holds the directory's lock, or it cannot be locked.
    #[error(
        "{path}: this state directory is in use by another umpire server (or cannot be locked)"
    )]
    Locked {
        /// The state directory.
        path: PathBuf,
    },
    /// The saved state does not fit the config (other bandits, arms or
    /// contexts), or the config's policies cannot be built.
    #[error(
        "{path}: the saved state does not match the config: {message}; use a fresh --state directory"
    )]
    Mismatch {
        /// The snapshot, or the state directory.
        path: PathBuf,
        /// How they differ.
        message: String,
    },
    /// Logs the loaded state does not cover: starting would drop their
    /// acknowledged rewards.
    #[error("{path}: {message}; refusing to start rather than lose the rewards in it")]
    Unaccounted {
        /// The log not covered.
        path: PathBuf,
        /// Why it is not covered.
        message: String,
    },
    /// A configured bandit whose policy state cannot be built.
    #[error("bandit `{bandit}`: {source}")]
    Policy {
        /// The bandit's name.
        bandit: String,
        /// Why its policy state cannot be built.
        source: PolicyError,
    },
    /// A log record or snapshot that does not serialize.
    #[error("{0}")]
    Encode(#[from] serde_json::Error),
    /// Appending a batch to the log failed; the batch was not acknowledged.
    #[error("writing the log: {source}")]
    LogWrite {
        /// The log file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The log's fsync failed: the kernel may have dropped pages it had
    /// accepted, so the log can no longer be trusted.
    #[error("fsync of the log: {source}")]
    LogSync {
        /// The log file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A failed write could not be cut back off the log.
    #[error("{cause}; then cutting the failed write off the log: {source}")]
    CutBack {
        /// The log file.
        path: PathBuf,
        /// The failed write.
        cause: Arc<StoreError>,
        /// Why the cut failed.
        source: std::io::Error,
    },
    /// Every write is refused since `0` broke the log, until a snapshot
    /// starts a clean one.
    #[error(
        "the state log is unusable since an earlier failure ({0}); nothing is recorded \
         until a snapshot can be written or the server is restarted"
    )]
    Unusable(Arc<StoreError>),
    /// A snapshot was due while the wait after a failed one had not passed.
    #[error("a snapshot failed moments ago; retrying later")]
    SnapshotBackoff,
    /// The snapshot was renamed into place, but the directory fsync failed:
    /// the rename (and the new log it names) may not survive a crash.
    #[error("fsync of the state directory: {path}: {source}")]
    DirSync {
        /// The snapshot file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// One line of the log (before its checksum, see [`format`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum LogRecord {
    /// A decision served.
    Decision {
        /// The bandit's index in the config.
        b: u32,
        /// The decision's sequence number.
        id: u64,
        /// The index of the arm chosen.
        arm: u32,
        /// The index of the context (0 for a non-contextual bandit).
        ctx: u32,
        /// When it was decided, in milliseconds since the Unix epoch.
        t: u64,
        /// The unit it was made for.
        unit: String,
        /// The probability that the policy snapshot it used picks `arm` in
        /// `ctx` (absent in logs of servers before it was recorded).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        p: Option<f64>,
        /// The posterior draws `p` is a Monte Carlo estimate from; absent
        /// when `p` is exact.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        mc: Option<u32>,
    },
    /// A reward accepted for a decision.
    Reward {
        /// The bandit's index in the config.
        b: u32,
        /// The decision's sequence number.
        id: u64,
        /// The index of the arm the decision chose.
        arm: u32,
        /// The index of the decision's context.
        ctx: u32,
        /// The reward.
        r: f64,
        /// When the decision was issued (kept for expiry after replay).
        issued: u64,
        /// When the reward arrived, in milliseconds since the Unix epoch.
        t: u64,
    },
    /// Decision ids below `upto` may be handed out.
    Reserve {
        /// The bandit's index in the config.
        b: u32,
        /// One past the highest id reserved.
        upto: u64,
    },
    /// A time-based batch update was applied.
    Apply {
        /// The bandit's index in the config.
        b: u32,
    },
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
    /// A record to log and apply (never `Apply`: the thread makes those).
    /// `ack` hears once it is written; a decision without a state dir is not
    /// awaited.
    Record {
        /// The record.
        rec: LogRecord,
        /// Told the outcome of the write, when someone waits for it.
        ack: Option<Ack>,
    },
    /// Finish what is queued, write a final snapshot and stop.
    Shutdown {
        /// Told the outcome of the final snapshot once the queue is done.
        done: std::sync::mpsc::Sender<Result<(), Arc<StoreError>>>,
    },
}

/// A bandit's authoritative state, owned by the update thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Master {
    /// The bandit's name.
    pub name: String,
    /// Its arm names, as configured.
    pub arms: Vec<String>,
    /// Its context names, as configured (empty for a non-contextual bandit).
    pub contexts: Vec<String>,
    /// The policy state, with every applied reward in log order.
    pub state: PolicyState,
    /// Rewards received and not yet applied: (context, arm, reward).
    pub buffer: Vec<(u32, u32, f64)>,
    /// Per arm, decisions logged.
    pub decisions: Vec<u64>,
    /// Per arm, rewards logged.
    pub rewards: Vec<u64>,
    /// Per arm, the sum of the rewards logged.
    pub reward_sums: Vec<f64>,
    /// Ids below this were reserved and may have been handed out.
    pub reserved: u64,
    /// One past the largest id decided.
    pub next_id: u64,
    /// The policy snapshot's version: incremented each time the buffer is
    /// applied.
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
                self.next_id = self.next_id.max(id.saturating_add(1));
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

fn fresh_masters(config: &ServeConfig) -> Result<Vec<Master>, StoreError> {
    config
        .bandits
        .iter()
        .map(|b| {
            let arms = b.arms.len();
            let state =
                PolicyState::new(&b.policy, arms, b.contexts.len().max(1)).map_err(|source| {
                    StoreError::Policy {
                        bandit: b.name.clone(),
                        source,
                    }
                })?;
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

fn log_path(dir: &Path, n: u64) -> PathBuf {
    dir.join(format!("log-{n}.jsonl"))
}

/// N, for a file named `log-N.jsonl`.
fn log_number(file_name: &str) -> Option<u64> {
    file_name
        .strip_prefix("log-")
        .and_then(|n| n.strip_suffix(".jsonl"))
        .and_then(|n| n.parse::<u64>().ok())
}

/// Where `keep_logs` moves the logs a snapshot covers.
pub const ARCHIVE_DIR: &str = "archive";

/// Done with a log the loaded snapshot covers: delete it, or with
/// `keep_logs` move it into `archive/`. A failed move leaves it in place,
/// where the next start's recovery, which retires covered logs the same
/// way, tries again; it never stops the server.
fn retire_log(path: &Path, keep: bool) {
    if !keep {
        let _ = fs::remove_file(path);
    } else if let (Some(dir), Some(name)) = (path.parent(), path.file_name()) {
        let archive = dir.join(ARCHIVE_DIR);
        let to = archive.join(name);
        // Never over an archived log: recovery refuses a directory whose
        // archive outlived its snapshot, so this is a log of this state.
        if fs::create_dir_all(&archive).is_ok() && !to.exists() && fs::rename(path, &to).is_ok() {
            // Best effort, as the rename: the archive is history, not state.
            let _ = File::open(&archive).and_then(|d| d.sync_all());
        }
    }
}
