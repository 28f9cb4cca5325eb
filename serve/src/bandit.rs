//! Served bandits: the read path (`decide` on a lock-free snapshot of the
//! policy), the reward path (validated here, applied by the update thread in
//! [`super::store`]), and the state summary.
//!
//! Concurrency: `decide` loads the published policy snapshot from an
//! `ArcSwap` (no lock) and draws from a generator derived from (seed, bandit,
//! decision id), so decisions never wait on each other or on updates. Rewards
//! are validated against the pending-decision table (sharded mutexes, held for
//! a map lookup) and sent to the single update thread, which logs them,
//! applies them to the master policy state in log order and publishes a new
//! snapshot. One thread applying updates in log order is what makes a replay
//! of the log reproduce the state exactly.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use axum::Json;
use axum::extract::State;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use umpire_sim::bandit::policy::{Policy, PolicySpec, PolicyState};
use umpire_sim::rng::{Purpose, StreamKey};
use umpire_sim::serve::ServedBandit;

use super::assign::check_unit;
use super::error::{ApiError, ApiJson, ApiPath};
use super::store::{Msg, now_ms};
use super::{AppState, same_secret};

const SHARDS: usize = 64;

/// Posterior draws behind a Thompson-family propensity: its standard error is
/// at most 0.5/√PROPENSITY_DRAWS ≈ 0.016.
pub const PROPENSITY_DRAWS: usize = 1000;

/// Decision ids are reserved in blocks that are persisted before use, so an
/// id handed out before a crash is never handed out again.
pub const ID_BLOCK: u64 = 1 << 16;

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

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Pending {
    pub arm: u32,
    pub ctx: u32,
    pub issued_ms: u64,
    pub state: PendingState,
}

/// What `decide` reads: one immutable policy snapshot.
pub struct Published {
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

pub struct BanditRuntime {
    pub index: u32,
    pub config: ServedBandit,
    seed: u64,
    key: StreamKey,
    pub ids: DecisionIds,
    pub published: ArcSwap<Published>,
    pub next_id: AtomicU64,
    /// Ids below this are persisted as reserved (u64::MAX without a state dir).
    pub reserved: AtomicU64,
    shards: Box<[Mutex<HashMap<u64, Pending>>]>,
    pub decisions: Box<[AtomicU64]>,
    pub rewards: Box<[AtomicU64]>,
    /// Rewards received but not yet applied (batched updates).
    pub buffered: AtomicU64,
    /// Per arm, the f64 bits of the reward sum (written by the update thread only).
    pub reward_sums: Box<[AtomicU64]>,
}

/// Whether a policy models rewards in [0, 1] (Bernoulli likelihoods, UCB
/// confidence widths, EXP3's importance weights), so others are out of range.
pub fn bounded_rewards(spec: &PolicySpec) -> bool {
    !matches!(
        spec,
        PolicySpec::ThompsonGaussian { .. }
            | PolicySpec::Uniform
            | PolicySpec::EpsilonGreedy { .. }
            | PolicySpec::DecayingEpsilonGreedy { .. }
            | PolicySpec::Softmax { .. }
    )
}

/// The largest reward magnitude accepted by unbounded policies: beyond it,
/// sums lose the precision that means are computed with.
pub const MAX_ABS_REWARD: f64 = 1e9;

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
        let key = StreamKey::new(
            seed,
            Purpose::Policy(umpire_sim::assignment::growthbook::fnv1a32(&config.name)),
        );
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
                    let key = StreamKey::new(
                        self.seed,
                        Purpose::Policy(umpire_sim::assignment::growthbook::fnv1a32(&format!(
                            "{}/propensity/{ctx}",
                            self.config.name
                        ))),
                    );
                    let mut rng = key.replication(version);
                    let mut wins = vec![0u32; arms];
                    for _ in 0..PROPENSITY_DRAWS {
                        let a = state.select(ctx, &mut rng).min(arms - 1);
                        wins[a] += 1;
                    }
                    for (x, w) in p.iter_mut().zip(wins) {
                        *x = f64::from(w) / PROPENSITY_DRAWS as f64;
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

    fn shard(&self, id: u64) -> &Mutex<HashMap<u64, Pending>> {
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

fn runtime<'a>(s: &'a AppState, name: &str) -> Result<&'a Arc<BanditRuntime>, ApiError> {
    s.bandits
        .iter()
        .find(|b| b.config.name == name)
        .ok_or_else(|| ApiError::not_found("unknown_bandit", format!("no bandit named `{name}`")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    unit: String,
    /// A context name, for contextual bandits.
    context: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DecideResponse {
    pub decision_id: String,
    pub arm: String,
    pub arm_index: usize,
    /// The probability that this decision picks `arm` under the policy
    /// snapshot it used.
    pub propensity: f64,
    /// False for Thompson-family policies, whose propensity is the share of
    /// [`PROPENSITY_DRAWS`] posterior draws.
    pub propensity_exact: bool,
}

pub async fn decide(
    State(s): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<DecideRequest>,
) -> Result<Json<DecideResponse>, ApiError> {
    let rt = runtime(&s, &name)?;
    check_unit(&req.unit)?;
    let ctx = match (&req.context, rt.config.contexts.is_empty()) {
        // A non-contextual bandit ignores a context, as pooled policies do.
        (_, true) => 0,
        (None, false) => {
            return Err(ApiError::unprocessable(
                "missing_context",
                format!(
                    "bandit `{name}` is contextual: give \"context\", one of {:?}",
                    rt.config.contexts
                ),
            ));
        }
        (Some(c), false) => rt
            .config
            .contexts
            .iter()
            .position(|x| x == c)
            .ok_or_else(|| {
                ApiError::unprocessable(
                    "unknown_context",
                    format!(
                        "bandit `{name}` has no context `{c}`; expected one of {:?}",
                        rt.config.contexts
                    ),
                )
            })?,
    };
    let id = rt.next_id.fetch_add(1, Ordering::Relaxed);
    if id >= rt.reserved.load(Ordering::Acquire) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        s.send(Msg::Reserve {
            bandit: rt.index,
            upto: (id / ID_BLOCK + 1) * ID_BLOCK,
            ack: tx,
        })?;
        rx.await
            .map_err(|_| s.store_gone())?
            .map_err(|e| ApiError::unavailable("storage_unavailable", e))?;
    }
    let snap = rt.published.load();
    let mut rng = rt.key.replication(id);
    let arms = rt.config.arms.len();
    let arm = snap.state.select(ctx, &mut rng).min(arms - 1);
    let propensity = snap
        .propensities
        .get(ctx)
        .and_then(|p| p.get(arm))
        .copied()
        .unwrap_or(f64::NAN);
    let issued_ms = now_ms();
    rt.put_pending(
        id,
        Pending {
            arm: arm as u32,
            ctx: ctx as u32,
            issued_ms,
            state: PendingState::Open,
        },
    );
    // With a state dir the decision is written to the log before it is
    // answered, so a reward for it can be matched after a crash.
    let (ack_tx, ack_rx) = if s.durable {
        let (tx, rx) = tokio::sync::oneshot::channel();
        (Some(tx), Some(rx))
    } else {
        (None, None)
    };
    let sent = s.send(Msg::Decision {
        bandit: rt.index,
        id,
        arm: arm as u32,
        ctx: ctx as u32,
        t: issued_ms,
        unit: req.unit,
        ack: ack_tx,
    });
    let outcome = match (sent, ack_rx) {
        (Ok(()), Some(rx)) => rx
            .await
            .map_err(|_| s.store_gone())
            .and_then(|r| r.map_err(|e| ApiError::unavailable("storage_unavailable", e))),
        (sent, _) => sent,
    };
    if let Err(e) = outcome {
        // Not logged: neither served nor counted, and not rewardable. (The
        // update thread forgets it too, in case this handler is dropped
        // while it waits.)
        rt.remove_pending(id);
        return Err(e);
    }
    if !s.durable {
        // With a state dir the update thread counts it once it is written.
        rt.count_decision(arm);
    }
    s.metrics
        .decisions
        .with_label_values(&[rt.config.name.as_str(), rt.config.arms[arm].as_str()])
        .inc();
    Ok(Json(DecideResponse {
        decision_id: rt.ids.format(id),
        arm: rt.config.arms[arm].clone(),
        arm_index: arm,
        propensity,
        propensity_exact: snap.exact,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardRequest {
    decision_id: String,
    reward: f64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RewardResponse {
    pub decision_id: String,
    pub arm: String,
    /// True when this decision had already been rewarded: acknowledged, not
    /// counted again.
    pub duplicate: bool,
}

pub async fn reward(
    State(s): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<RewardRequest>,
) -> Result<Json<RewardResponse>, ApiError> {
    let rt = runtime(&s, &name)?;
    let r = req.reward;
    if !r.is_finite() {
        return Err(ApiError::unprocessable(
            "invalid_reward",
            "the reward must be a finite number",
        ));
    }
    if bounded_rewards(&rt.config.policy) && !(0.0..=1.0).contains(&r) {
        return Err(ApiError::unprocessable(
            "reward_out_of_range",
            format!("bandit `{name}`'s policy takes rewards in [0, 1], got {r}"),
        ));
    }
    if r.abs() > MAX_ABS_REWARD {
        return Err(ApiError::unprocessable(
            "reward_out_of_range",
            format!("rewards must be within ±{MAX_ABS_REWARD:e}, got {r}"),
        ));
    }
    let id = rt.ids.parse(&req.decision_id).ok_or_else(|| {
        ApiError::not_found(
            "unknown_decision",
            format!("bandit `{name}` issued no such decision id"),
        )
    })?;
    let ttl_ms = s.config.server.decision_ttl_seconds.saturating_mul(1000);
    let now = now_ms();
    let found = {
        let mut m = rt
            .shard(id)
            .lock()
            .map_err(|_| ApiError::unavailable("internal", "a lock was poisoned"))?;
        match m.get_mut(&id) {
            Some(p) if p.state == PendingState::Rewarded => Ok((p.arm, true, p.ctx, p.issued_ms)),
            Some(p) if p.state == PendingState::Committing => Err(ApiError::new(
                axum::http::StatusCode::CONFLICT,
                "reward_in_progress",
                "a reward for this decision is being recorded; retry to learn its outcome",
            )),
            Some(p) if p.issued_ms.saturating_add(ttl_ms) < now => Err(ApiError::new(
                axum::http::StatusCode::GONE,
                "decision_expired",
                format!(
                    "decision {} is older than server.decision_ttl_seconds = {}",
                    req.decision_id, s.config.server.decision_ttl_seconds
                ),
            )),
            Some(p) => {
                p.state = PendingState::Committing;
                Ok((p.arm, false, p.ctx, p.issued_ms))
            }
            None if id < rt.next_id.load(Ordering::Relaxed) => Err(ApiError::new(
                axum::http::StatusCode::GONE,
                "decision_expired",
                format!(
                    "decision {} has expired (server.decision_ttl_seconds = {}) or was not recorded before a restart",
                    req.decision_id, s.config.server.decision_ttl_seconds
                ),
            )),
            None => Err(ApiError::not_found(
                "unknown_decision",
                format!("bandit `{name}` has made no decision {}", req.decision_id),
            )),
        }
    };
    let (arm, duplicate, ctx, issued_ms) = found?;
    let arm_name = rt.config.arms[arm as usize].clone();
    if duplicate {
        return Ok(Json(RewardResponse {
            decision_id: req.decision_id,
            arm: arm_name,
            duplicate: true,
        }));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sent = s.send(Msg::Reward {
        bandit: rt.index,
        id,
        arm,
        ctx,
        reward: r,
        issued_ms,
        t: now,
        ack: tx,
    });
    // A failed write is undone by the update thread (the decision reopened
    // before the answer), which does it even when this handler is dropped by
    // a timeout or a disconnect; reopening here as well could reopen a retry
    // that is committing meanwhile. Only what the update thread never
    // answered is reopened here.
    let outcome = match sent {
        Ok(()) => match rx.await {
            Ok(r) => r.map_err(|e| ApiError::unavailable("storage_unavailable", e)),
            Err(_) => {
                rt.reopen(id);
                Err(s.store_gone())
            }
        },
        Err(e) => {
            rt.reopen(id);
            Err(e)
        }
    };
    outcome?;
    s.metrics
        .rewards
        .with_label_values(&[rt.config.name.as_str(), arm_name.as_str()])
        .inc();
    Ok(Json(RewardResponse {
        decision_id: req.decision_id,
        arm: arm_name,
        duplicate: false,
    }))
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ArmSummary {
    pub arm: String,
    pub decisions: u64,
    pub rewards: u64,
    /// Mean of the rewards received for this arm (0 before any).
    pub mean_reward: f64,
    /// Per context: the policy's view of the arm.
    pub contexts: Vec<ArmPosterior>,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ArmPosterior {
    pub context: String,
    /// Updates the policy has applied for this arm in this context.
    pub pulls: f64,
    pub mean_reward: f64,
    /// Beta(alpha, beta) for the Beta-Bernoulli Thompson family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posterior: Option<BetaPosterior>,
}

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct BetaPosterior {
    pub alpha: f64,
    pub beta: f64,
    pub mean: f64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BanditSummary {
    pub bandit: String,
    pub policy: PolicySpec,
    pub decisions: u64,
    pub rewards: u64,
    /// Rewards received but not yet applied (batched updates).
    pub buffered_rewards: u64,
    pub snapshot_version: u64,
    pub arms: Vec<ArmSummary>,
}

fn beta_prior(spec: &PolicySpec) -> Option<(f64, f64)> {
    match *spec {
        PolicySpec::ThompsonBeta { prior_a, prior_b }
        | PolicySpec::TopTwoThompson {
            prior_a, prior_b, ..
        }
        | PolicySpec::DiscountedThompson {
            prior_a, prior_b, ..
        }
        | PolicySpec::SlidingWindowThompson {
            prior_a, prior_b, ..
        } => Some((prior_a, prior_b)),
        _ => None,
    }
}

pub fn summary(rt: &BanditRuntime) -> BanditSummary {
    let snap = rt.published.load();
    let prior = beta_prior(&rt.config.policy);
    let context_names: Vec<String> = if rt.config.contexts.is_empty() {
        vec!["all".to_owned()]
    } else {
        rt.config.contexts.clone()
    };
    let arms: Vec<ArmSummary> = rt
        .config
        .arms
        .iter()
        .enumerate()
        .map(|(k, name)| {
            let rewards = rt.rewards[k].load(Ordering::Relaxed);
            let sum = f64::from_bits(rt.reward_sums[k].load(Ordering::Relaxed));
            ArmSummary {
                arm: name.clone(),
                decisions: rt.decisions[k].load(Ordering::Relaxed),
                rewards,
                mean_reward: if rewards > 0 {
                    sum / rewards as f64
                } else {
                    0.0
                },
                contexts: context_names
                    .iter()
                    .enumerate()
                    .map(|(c, cname)| {
                        let (n, s) = snap.state.effective(c, k);
                        ArmPosterior {
                            context: cname.clone(),
                            pulls: snap.state.pulls(c, k),
                            mean_reward: snap.state.mean_reward(c, k),
                            posterior: prior.map(|(a, b)| {
                                let (alpha, beta) = (a + s, b + (n - s).max(0.0));
                                BetaPosterior {
                                    alpha,
                                    beta,
                                    mean: alpha / (alpha + beta),
                                }
                            }),
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    BanditSummary {
        bandit: rt.config.name.clone(),
        policy: rt.config.policy.clone(),
        decisions: arms.iter().map(|a| a.decisions).sum(),
        rewards: arms.iter().map(|a| a.rewards).sum(),
        buffered_rewards: rt.buffered.load(Ordering::Relaxed),
        snapshot_version: snap.version,
        arms,
    }
}

pub async fn get_summary(
    State(s): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<BanditSummary>, ApiError> {
    Ok(Json(summary(runtime(&s, &name)?)))
}
