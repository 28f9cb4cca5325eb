//! A served bandit's state shared by the HTTP handlers ([`super::bandit`])
//! and the update thread ([`super::store`]): the published policy snapshot,
//! the pending-decision table, live counters, and the keyed decision ids.
//! It imports neither, so the handlers and the store meet here without a
//! cycle.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use umpire_sim::bandit::policy::{Policy, PolicyState};
use umpire_sim::rng::{Purpose, StreamKey};
use umpire_sim::serve::ServedBandit;

const SHARDS: usize = 64;

/// Decision ids are reserved in blocks that are persisted before use, so an
/// id handed out before a crash is never handed out again.
pub const ID_BLOCK: u64 = 1 << 16;

/// Where a decision stands on its way to a reward.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PendingState {
    /// Decided, waiting for its reward.
    Open,
    /// A reward is being logged; a second one waits for the outcome.
    Committing,
    /// Rewarded: repeats are acknowledged and not counted.
    Rewarded,
}

/// A decision in the pending table (and in snapshots), from its issue until
/// it expires.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    /// The index of the arm it chose.
    pub arm: u32,
    /// The index of its context (0 for a non-contextual bandit).
    pub ctx: u32,
    /// When it was decided, in milliseconds since the Unix epoch.
    pub issued_ms: u64,
    /// Whether it awaits, is taking, or has had its reward.
    pub state: PendingState,
}

/// What `decide` reads: one immutable policy snapshot.
pub struct Published {
    /// The policy state decisions draw from.
    pub state: PolicyState,
    /// Incremented on every publish.
    pub version: u64,
    /// Per context, the probability of each arm under this snapshot.
    pub propensities: Vec<Vec<f64>>,
    /// Whether the propensities are exact (closed form) or Monte Carlo.
    pub exact: bool,
}

/// Decision ids as clients see them: `<seq>-<tag>`, the decision's sequence
/// number in canonical decimal and 16 hex digits of HMAC-SHA256 over it.
///
/// The MAC key is SHA-256 of the seed, the bearer token (when one is
/// configured) and the bandit's name. So the same config, seed and token give
/// the same ids (decisions stay reproducible), an id of one bandit is not one
/// of another, and with a token an id cannot be made up: guessing a tag
/// succeeds with probability 2⁻⁶⁴. Without a token the key follows from the
/// config, so ids are canonical but not secret. HMAC-SHA256 rather than the
/// simulator's ChaCha streams: the token has arbitrary length and needs a
/// hash to become a key, and sha2 is already a dependency of umpire-sim
/// (`hmac` is RustCrypto's construction over it).
#[derive(Clone)]
pub struct DecisionIds {
    mac: Hmac<Sha256>,
}

/// Longest canonical id: 20 digits, `-`, 16 hex digits.
pub const MAX_DECISION_ID_BYTES: usize = 20 + 1 + 16;

impl DecisionIds {
    /// The ids of bandit `bandit` under `seed` and the bearer `token`, if any.
    pub fn new(seed: u64, token: Option<&str>, bandit: &str) -> Self {
        let mut h = Sha256::new();
        h.update(b"umpire decision id v1\0");
        h.update(seed.to_le_bytes());
        // Lengths first, so that no two (token, name) pairs hash alike.
        let token = token.unwrap_or("");
        h.update((token.len() as u64).to_le_bytes());
        h.update(token.as_bytes());
        h.update((bandit.len() as u64).to_le_bytes());
        h.update(bandit.as_bytes());
        let key = h.finalize();
        Self {
            // HMAC takes keys of any length.
            mac: Hmac::<Sha256>::new_from_slice(&key).unwrap_or_else(|_| unreachable!()),
        }
    }

    /// The id of decision `seq`.
    pub fn format(&self, seq: u64) -> String {
        let mut mac = self.mac.clone();
        mac.update(&seq.to_le_bytes());
        let tag = mac.finalize().into_bytes();
        let mut out = String::with_capacity(MAX_DECISION_ID_BYTES);
        // Writing to a String cannot fail.
        let _ = write!(out, "{seq}-");
        for b in &tag[..8] {
            let _ = write!(out, "{b:02x}");
        }
        out
    }

    /// The sequence number of a canonical id of this bandit; `None` for
    /// anything else (a sign, leading zeros, spaces, upper-case hex or a
    /// wrong tag), so no two strings name one decision.
    pub fn parse(&self, id: &str) -> Option<u64> {
        if id.len() > MAX_DECISION_ID_BYTES {
            return None;
        }
        let (seq, _) = id.split_once('-')?;
        if seq.is_empty() || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seq: u64 = seq.parse().ok()?;
        // Comparing the whole canonical form rejects every other spelling.
        same_secret(self.format(seq).as_bytes(), id.as_bytes()).then_some(seq)
    }
}

/// A served bandit at run time: its config, the published policy snapshot,
/// the pending decisions and the live counters, shared by the handlers and
/// the update thread.
pub struct BanditRuntime {
    /// Its position in the config's bandits (`b` in log records).
    pub index: u32,
    /// The bandit as configured.
    pub config: ServedBandit,
    seed: u64,
    pub(crate) key: StreamKey,
    /// Formats and parses its decision ids.
    pub ids: DecisionIds,
    /// The snapshot `decide` reads, replaced by [`BanditRuntime::publish`].
    pub published: ArcSwap<Published>,
    /// The sequence number the next decision gets.
    pub next_id: AtomicU64,
    /// Ids below this are persisted as reserved (u64::MAX without a state dir).
    pub reserved: AtomicU64,
    shards: Box<[Mutex<HashMap<u64, Pending>>]>,
    /// Per arm, decisions counted (with a state dir, once logged).
    pub decisions: Box<[AtomicU64]>,
    /// Per arm, rewards counted once logged.
    pub rewards: Box<[AtomicU64]>,
    /// Rewards received but not yet applied (batched updates).
    pub buffered: AtomicU64,
    /// Per arm, the f64 bits of the reward sum (written by the update thread only).
    pub reward_sums: Box<[AtomicU64]>,
}

impl BanditRuntime {
    /// A runtime publishing `state` (snapshot `version`) for decisions;
    /// `token` keys its decision ids along with the seed.
    pub fn new(
        index: u32,
        config: ServedBandit,
        seed: u64,
        token: Option<&str>,
        state: PolicyState,
        version: u64,
    ) -> Self {
        let arms = config.arms.len();
        let key = StreamKey::new(seed, Purpose::policy(&config.name));
        let zeros = || (0..arms).map(|_| AtomicU64::new(0)).collect::<Box<[_]>>();
        let rt = Self {
            index,
            seed,
            key,
            ids: DecisionIds::new(seed, token, &config.name),
            published: ArcSwap::from_pointee(Published {
                state: state.clone(),
                version: 0,
                propensities: Vec::new(),
                exact: true,
            }),
            next_id: AtomicU64::new(0),
            reserved: AtomicU64::new(u64::MAX),
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            decisions: zeros(),
            rewards: zeros(),
            buffered: AtomicU64::new(0),
            reward_sums: zeros(),
            config,
        };
        rt.publish(state, version);
        rt
    }

    /// The number of contexts: the configured ones, or 1 without any.
    pub fn contexts(&self) -> usize {
        self.config.contexts.len().max(1)
    }

    /// Publish a new snapshot for `decide`, with its propensities.
    pub fn publish(&self, state: PolicyState, version: u64) {
        let arms = self.config.arms.len();
        let mut exact = true;
        let propensities = (0..self.contexts())
            .map(|ctx| {
                let mut p = vec![0.0; arms];
                if !state.probabilities(ctx, &mut p) {
                    exact = false;
                    // Thompson family: the share of posterior draws each arm wins,
                    // from a stream of its own keyed by the snapshot version.
                    let key =
                        StreamKey::new(self.seed, Purpose::propensity(&self.config.name, ctx));
                    let mut rng = key.replication(version);
                    // The bandit's `propensity_draws` (1,000 by default): a
                    // propensity's standard error is at most 0.5/√draws.
                    let draws = self.config.propensity_draws.max(1);
                    let mut wins = vec![0u32; arms];
                    for _ in 0..draws {
                        let a = state.select(ctx, &mut rng).min(arms - 1);
                        wins[a] += 1;
                    }
                    // At least one draw's share: a decision can pick an arm
                    // no draw picked, and a logged 0 would make its
                    // importance weight infinite (`umpire ope`). The
                    // simulator's `propensity_draws` floors the same way.
                    for (x, w) in p.iter_mut().zip(wins) {
                        *x = f64::from(w.max(1)) / f64::from(draws);
                    }
                }
                p
            })
            .collect();
        self.published.store(Arc::new(Published {
            state,
            version,
            propensities,
            exact,
        }));
    }

    pub(crate) fn shard(&self, id: u64) -> &Mutex<HashMap<u64, Pending>> {
        &self.shards[(id % SHARDS as u64) as usize]
    }

    /// Insert or overwrite a pending decision (decide, and replay).
    pub fn put_pending(&self, id: u64, p: Pending) {
        if let Ok(mut m) = self.shard(id).lock() {
            m.insert(id, p);
        }
    }

    /// Forget a decision whose log write failed (it was never answered).
    pub fn remove_pending(&self, id: u64) {
        if let Ok(mut m) = self.shard(id).lock() {
            m.remove(&id);
        }
    }

    /// Mark a decision rewarded (the update thread, after logging).
    pub fn mark_rewarded(&self, id: u64, arm: u32, ctx: u32, issued_ms: u64) {
        if let Ok(mut m) = self.shard(id).lock() {
            m.entry(id)
                .and_modify(|p| p.state = PendingState::Rewarded)
                .or_insert(Pending {
                    arm,
                    ctx,
                    issued_ms,
                    state: PendingState::Rewarded,
                });
        }
    }

    /// Open a decision whose reward was not logged to a retry again.
    pub fn reopen(&self, id: u64) {
        if let Ok(mut m) = self.shard(id).lock()
            && let Some(p) = m.get_mut(&id)
            && p.state == PendingState::Committing
        {
            p.state = PendingState::Open;
        }
    }

    /// Every pending decision, for snapshots.
    pub fn pending_entries(&self) -> Vec<(u64, Pending)> {
        let mut out = Vec::new();
        for s in &*self.shards {
            if let Ok(m) = s.lock() {
                out.extend(m.iter().map(|(&id, &p)| (id, p)));
            }
        }
        out.sort_by_key(|&(id, _)| id);
        out
    }

    /// Drop decisions issued before `cutoff_ms`.
    pub fn expire(&self, cutoff_ms: u64) {
        for s in &*self.shards {
            if let Ok(mut m) = s.lock() {
                m.retain(|_, p| p.issued_ms >= cutoff_ms);
            }
        }
    }

    /// Count a served decision into the live counters.
    pub fn count_decision(&self, arm: usize) {
        if let Some(n) = self.decisions.get(arm) {
            n.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Count a logged reward into the live counters.
    pub fn count_reward(&self, arm: usize, reward: f64) {
        if let (Some(n), Some(sum)) = (self.rewards.get(arm), self.reward_sums.get(arm)) {
            n.fetch_add(1, Ordering::Relaxed);
            let old = f64::from_bits(sum.load(Ordering::Relaxed));
            sum.store((old + reward).to_bits(), Ordering::Relaxed);
        }
    }
}

/// Compare in time independent of where the strings differ and of their
/// lengths: both are hashed first, so a wrong guess learns neither the
/// position of its first wrong byte nor whether its length is right.
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    same_digest(&Sha256::digest(a).into(), &Sha256::digest(b).into())
}

/// Compare two SHA-256 digests in time independent of where they differ.
pub(crate) fn same_digest(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}
