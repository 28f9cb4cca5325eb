//! Reading a state directory's decision history, for off-policy
//! evaluation (`umpire ope`): every decision still on disk with its context,
//! arm and logged propensity, joined by id with its reward.
//!
//! The history is the archived logs (`archive/log-N.jsonl`, kept by
//! `keep_logs`) and the live ones, in log order; without `keep_logs` only
//! the logs since the last snapshot remain, and [`History::first_log`] says
//! where the history starts. Every line is checked as recovery checks it
//! (checksum, bandit, arm, context), and a propensity outside (0, 1] is
//! damage, named by file and line. The directory is only read: a running
//! server's live log may end in a line being written, which is skipped as
//! recovery skips a torn tail.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use super::format::{decode_snapshot, read_log};
use super::recovery::check_shape;
use super::{ARCHIVE_DIR, LogRecord, Master, StoreError, io, log_number, log_path};

/// Most decisions read from one state directory: each is 48 bytes here,
/// and about as much again in the id index that joins rewards, so this
/// bounds the history near 2 GB (an evaluation has its own cap,
/// `umpire_sim::bandit::ope::served::MAX_ROUND_ARMS`).
pub const MAX_HISTORY_DECISIONS: usize = 20_000_000;

/// One logged decision.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Round {
    /// Its sequence number.
    pub id: u64,
    /// The index of its context (0 for a non-contextual bandit).
    pub ctx: u32,
    /// The index of the arm chosen.
    pub arm: u32,
    /// The logged probability of that arm; `None` in logs written before
    /// propensities were logged.
    pub propensity: Option<f64>,
    /// The posterior draws behind a Monte Carlo propensity; `None` when exact.
    pub draws: Option<u32>,
    /// Its reward, once one was logged.
    pub reward: Option<f64>,
}

/// One bandit's decisions, in log order.
#[derive(Clone, Debug, PartialEq)]
pub struct BanditHistory {
    /// The bandit's name.
    pub name: String,
    /// Its arm names.
    pub arms: Vec<String>,
    /// Its context names (empty for a non-contextual bandit).
    pub contexts: Vec<String>,
    /// Its decisions.
    pub rounds: Vec<Round>,
    /// Rewards whose decision is not in the history (its log was deleted).
    pub orphan_rewards: u64,
}

/// A state directory's decision history.
#[derive(Clone, Debug, PartialEq)]
pub struct History {
    /// Per bandit, in config order.
    pub bandits: Vec<BanditHistory>,
    /// The logs read, by number, in order.
    pub logs: Vec<(u64, PathBuf)>,
    /// The first log read: above 0 when older logs were deleted (the server
    /// ran without `keep_logs`), so earlier decisions are missing.
    pub first_log: u64,
    /// Log numbers missing between the first and the last read.
    pub gaps: Vec<u64>,
    /// Lines without a newline at the end of a log: writes cut short (or
    /// being made), never acknowledged, skipped.
    pub torn: u64,
}

/// Read the decision history of the state directory `dir`.
pub fn read(dir: &Path) -> Result<History, StoreError> {
    let snap_path = dir.join("snapshot.json");
    let bytes = fs::read(&snap_path).map_err(io(&snap_path))?;
    let snap = decode_snapshot(&bytes).map_err(|(line, message)| StoreError::Corrupt {
        path: snap_path.clone(),
        line,
        message,
    })?;
    let mut bandits: Vec<BanditHistory> = snap
        .bandits
        .iter()
        .map(|m| BanditHistory {
            name: m.name.clone(),
            arms: m.arms.clone(),
            contexts: m.contexts.clone(),
            rounds: Vec::new(),
            orphan_rewards: 0,
        })
        .collect();
    // A running server may move a live log into the archive between the
    // listings: the archive is listed again after the live logs, so a log
    // moved meanwhile is in one of the lists, and opening falls back to
    // the archive (`open_log`).
    let archive = dir.join(ARCHIVE_DIR);
    let mut numbers: Vec<u64> = list_logs(&archive)?.into_iter().map(|(n, _)| n).collect();
    numbers.extend(list_logs(dir)?.into_iter().map(|(n, _)| n));
    numbers.extend(list_logs(&archive)?.into_iter().map(|(n, _)| n));
    numbers.sort_unstable();
    numbers.dedup();
    let mut logs = Vec::with_capacity(numbers.len());
    for n in numbers {
        let (live, archived) = (log_path(dir, n), log_path(&archive, n));
        if live.exists() && archived.exists() {
            return Err(StoreError::Corrupt {
                path: live,
                line: 1,
                message: format!("log-{n}.jsonl is also in {ARCHIVE_DIR}/: which one is the log?"),
            });
        }
        logs.push((n, if archived.exists() { archived } else { live }));
    }
    let first_log = logs.first().map_or(snap.next_log, |(n, _)| *n);
    let gaps = logs
        .windows(2)
        .flat_map(|w| w[0].0 + 1..w[1].0)
        .take(1000)
        .collect();
    let mut reader = Reader {
        index: vec![HashMap::new(); bandits.len()],
        decisions: 0,
        torn: 0,
    };
    for (n, path) in &mut logs {
        let file = open_log(path, &archive, *n)?;
        reader.read_log(file, path, &snap.bandits, &mut bandits)?;
    }
    Ok(History {
        bandits,
        logs,
        first_log,
        gaps,
        torn: reader.torn,
    })
}

/// Open log `n` at `path`, or in the archive if it moved there since it
/// was listed (`path` then names where it was read).
fn open_log(path: &mut PathBuf, archive: &Path, n: u64) -> Result<File, StoreError> {
    match File::open(&*path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            *path = log_path(archive, n);
            File::open(&*path).map_err(io(path))
        }
        r => r.map_err(io(path)),
    }
}

/// The `log-N.jsonl` files directly in `dir` (none when it is missing).
fn list_logs(dir: &Path) -> Result<Vec<(u64, PathBuf)>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut logs = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io(dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(n) = log_number(&name) {
            logs.push((n, entry.path()));
        }
    }
    Ok(logs)
}

struct Reader {
    /// Per bandit, decision id → its round's index.
    index: Vec<HashMap<u64, usize>>,
    decisions: usize,
    torn: u64,
}

impl Reader {
    fn read_log(
        &mut self,
        file: File,
        path: &Path,
        masters: &[Master],
        bandits: &mut [BanditHistory],
    ) -> Result<(), StoreError> {
        let read = read_log(file, path, |rec| self.add(rec, masters, bandits))?;
        self.torn += u64::from(read.torn);
        Ok(())
    }

    fn add(
        &mut self,
        rec: LogRecord,
        masters: &[Master],
        bandits: &mut [BanditHistory],
    ) -> Result<(), String> {
        let b = rec.bandit();
        let (Some(m), Some(h)) = (masters.get(b), bandits.get_mut(b)) else {
            return Err(format!(
                "record for bandit {b}, which the snapshot does not have"
            ));
        };
        check_shape(m, &rec).map_err(|e| format!("bandit `{}`: {e}", h.name))?;
        match rec {
            LogRecord::Decision {
                id,
                arm,
                ctx,
                p,
                mc,
                ..
            } => {
                if let Some(p) = p
                    && !(p > 0.0 && p <= 1.0)
                {
                    return Err(format!(
                        "bandit `{}`: decision {id}: propensity {p} is not in (0, 1]",
                        h.name
                    ));
                }
                if self.decisions >= MAX_HISTORY_DECISIONS {
                    return Err(format!(
                        "more than {MAX_HISTORY_DECISIONS} decisions: too many to evaluate at once"
                    ));
                }
                self.decisions += 1;
                if self.index[b].insert(id, h.rounds.len()).is_some() {
                    return Err(format!(
                        "bandit `{}`: decision {id} is logged twice",
                        h.name
                    ));
                }
                h.rounds.push(Round {
                    id,
                    ctx,
                    arm,
                    propensity: p,
                    draws: mc,
                    reward: None,
                });
            }
            LogRecord::Reward {
                id, arm, ctx, r, ..
            } => {
                match self.index[b].get(&id).map(|&i| &mut h.rounds[i]) {
                    Some(round) if round.arm != arm || round.ctx != ctx => {
                        return Err(format!(
                            "bandit `{}`: the reward for decision {id} names arm {arm} in context \
                             {ctx}, but the decision chose arm {} in context {}",
                            h.name, round.arm, round.ctx
                        ));
                    }
                    // The server logs one reward per decision; a repeat is
                    // acknowledged, not logged.
                    Some(round) => round.reward = round.reward.or(Some(r)),
                    None => h.orphan_rewards += 1,
                }
            }
            LogRecord::Reserve { .. } | LogRecord::Apply { .. } => {}
        }
        Ok(())
    }
}
