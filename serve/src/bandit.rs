//! Served bandits' handlers: the read path (`decide` on a lock-free snapshot
//! of the policy), the reward path (validated here, applied by the update
//! thread in [`super::store`]), and the state summary. The state they share
//! with the update thread is in [`super::runtime`].
//!
//! Concurrency: `decide` loads the published policy snapshot from an
//! `ArcSwap` (no lock) and draws from a generator derived from (seed, bandit,
//! decision id), so decisions never wait on each other or on updates. Rewards
//! are validated against the pending-decision table (sharded mutexes, held for
//! a map lookup) and sent to the single update thread, which logs them,
//! applies them to the master policy state in log order and publishes a new
//! snapshot. One thread applying updates in log order is what makes a replay
//! of the log reproduce the state exactly.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use umpire_sim::bandit::policy::{Policy, PolicySpec};

use super::AppState;
use super::assign::check_unit;
use super::error::{ApiError, ApiJson, ApiPath};
use super::runtime::{BanditRuntime, ID_BLOCK, Pending, PendingState};
use super::store::{LogRecord, Msg, StoreError, now_ms};

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

/// The answer to a record the update thread could not write.
fn storage_unavailable(e: Arc<StoreError>) -> ApiError {
    ApiError::unavailable("storage_unavailable", e.to_string())
}

fn runtime<'a>(s: &'a AppState, name: &str) -> Result<&'a Arc<BanditRuntime>, ApiError> {
    s.bandits
        .iter()
        .find(|b| b.config.name == name)
        .ok_or_else(|| ApiError::not_found("unknown_bandit", format!("no bandit named `{name}`")))
}

/// The body of `POST /v1/decide/{bandit}`: `{"unit", "context"}`; unknown
/// members are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecideRequest {
    unit: String,
    /// A context name, for contextual bandits.
    context: Option<String>,
}

/// The answer of `POST /v1/decide/{bandit}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct DecideResponse {
    /// The decision's id, `<seq>-<tag>`, to send back with its reward.
    pub decision_id: String,
    /// The name of the chosen arm.
    pub arm: String,
    /// The chosen arm's index in the configured `arms`.
    pub arm_index: usize,
    /// The probability that this decision picks `arm` under the policy
    /// snapshot it used.
    pub propensity: f64,
    /// False for Thompson-family policies, whose propensity is the share of
    /// the bandit's `propensity_draws` posterior draws (1,000 by default)
    /// that pick the arm, at least one draw's share.
    pub propensity_exact: bool,
}

/// `POST /v1/decide/{bandit}`: an arm for the unit, drawn from the current
/// policy snapshot; with a state dir the decision is logged before it is
/// answered. 404 `unknown_bandit`; 422 `invalid_unit`, `missing_context` or
/// `unknown_context`; 503 when the log cannot be written.
pub async fn decide(
    State(s): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
    ApiJson(req): ApiJson<DecideRequest>,
) -> Result<Response, ApiError> {
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
    if !s.durable {
        // Nothing is sent to the update thread below, so ask here whether
        // it still runs, as a send would.
        s.check_running()?;
    }
    let id = rt.next_id.fetch_add(1, Ordering::Relaxed);
    if id >= rt.reserved.load(Ordering::Acquire) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        s.send(Msg::Record {
            rec: LogRecord::Reserve {
                b: rt.index,
                upto: (id / ID_BLOCK + 1) * ID_BLOCK,
            },
            ack: Some(tx),
        })?;
        rx.await
            .map_err(|_| s.store_gone())?
            .map_err(storage_unavailable)?;
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
    if s.durable {
        // With a state dir the decision is written to the log before it is
        // answered, so a reward for it can be matched after a crash; the
        // update thread counts it once it is written.
        let (tx, rx) = tokio::sync::oneshot::channel();
        let sent = s.send(Msg::Record {
            rec: LogRecord::Decision {
                b: rt.index,
                id,
                arm: arm as u32,
                ctx: ctx as u32,
                t: issued_ms,
                unit: req.unit,
                p: propensity.is_finite().then_some(propensity),
                mc: (!snap.exact).then_some(rt.config.propensity_draws),
            },
            ack: Some(tx),
        });
        let logged = match sent {
            Ok(()) => rx
                .await
                .map_err(|_| s.store_gone())
                .and_then(|r| r.map_err(storage_unavailable)),
            Err(e) => Err(e),
        };
        if let Err(e) = logged {
            // Not logged: neither served nor counted, and not rewardable.
            // (The update thread forgets it too, in case this handler is
            // dropped while it waits.)
            rt.remove_pending(id);
            return Err(e);
        }
    } else {
        // Without a state dir there is no log, and the update thread would
        // only have counted the decision into a master state that is never
        // written (decisions do not change a policy; rewards do, and still
        // go through the update thread): it is counted here, with no
        // message and no wait.
        rt.count_decision(arm);
    }
    let arm_name = rt.config.arms[arm].as_str();
    s.arm_counters[rt.index as usize].decision(&s.metrics, &rt.config.name, arm, arm_name);
    Ok(Json(DecideAnswer {
        decision_id: rt.ids.format(id),
        arm: arm_name,
        arm_index: arm,
        propensity,
        propensity_exact: snap.exact,
    })
    .into_response())
}

/// What `decide` serializes: a [`DecideResponse`] borrowing the arm's name.
#[derive(Serialize)]
struct DecideAnswer<'a> {
    decision_id: String,
    arm: &'a str,
    arm_index: usize,
    propensity: f64,
    propensity_exact: bool,
}

/// The body of `POST /v1/reward/{bandit}`: `{"decision_id", "reward"}`;
/// unknown members are refused.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewardRequest {
    decision_id: String,
    reward: f64,
}

/// The answer of `POST /v1/reward/{bandit}`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct RewardResponse {
    /// The decision id as sent.
    pub decision_id: String,
    /// The name of the arm the decision chose.
    pub arm: String,
    /// True when this decision had already been rewarded: acknowledged, not
    /// counted again.
    pub duplicate: bool,
}

/// Claim decision `id` (`decision_id` as the client spelled it) for a
/// reward at `now`: its (arm, already rewarded, context, issue time), the
/// decision marked `Committing` unless it was rewarded already.
fn claim(
    s: &AppState,
    rt: &BanditRuntime,
    id: u64,
    decision_id: &str,
    now: u64,
) -> Result<(u32, bool, u32, u64), ApiError> {
    let ttl_ms = s.config.server.decision_ttl_seconds.saturating_mul(1000);
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
                decision_id, s.config.server.decision_ttl_seconds
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
                decision_id, s.config.server.decision_ttl_seconds
            ),
        )),
        None => Err(ApiError::not_found(
            "unknown_decision",
            format!(
                "bandit `{}` has made no decision {decision_id}",
                rt.config.name
            ),
        )),
    }
}

/// `POST /v1/reward/{bandit}`: record the reward of an earlier decision,
/// answered once it is logged; a repeat is acknowledged as a `duplicate`.
/// 404 `unknown_bandit` or `unknown_decision`, 422 `invalid_reward` or
/// `reward_out_of_range`, 410 `decision_expired`, 409 `reward_in_progress`,
/// 503 when the log cannot be written.
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
    let now = now_ms();
    let (arm, duplicate, ctx, issued_ms) = claim(&s, rt, id, &req.decision_id, now)?;
    let arm_name = rt.config.arms[arm as usize].clone();
    if duplicate {
        return Ok(Json(RewardResponse {
            decision_id: req.decision_id,
            arm: arm_name,
            duplicate: true,
        }));
    }
    let (tx, rx) = tokio::sync::oneshot::channel();
    let sent = s.send(Msg::Record {
        rec: LogRecord::Reward {
            b: rt.index,
            id,
            arm,
            ctx,
            r,
            issued: issued_ms,
            t: now,
        },
        ack: Some(tx),
    });
    // A failed write is undone by the update thread (the decision reopened
    // before the answer), which does it even when this handler is dropped by
    // a timeout or a disconnect; reopening here as well could reopen a retry
    // that is committing meanwhile. Only what the update thread never
    // answered is reopened here.
    let outcome = match sent {
        Ok(()) => match rx.await {
            Ok(r) => r.map_err(storage_unavailable),
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
    s.arm_counters[rt.index as usize].reward(&s.metrics, &rt.config.name, arm as usize, &arm_name);
    Ok(Json(RewardResponse {
        decision_id: req.decision_id,
        arm: arm_name,
        duplicate: false,
    }))
}

/// One arm in a [`BanditSummary`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ArmSummary {
    /// The arm's name.
    pub arm: String,
    /// Decisions that chose it.
    pub decisions: u64,
    /// Rewards received for it.
    pub rewards: u64,
    /// Mean of the rewards received for this arm (0 before any).
    pub mean_reward: f64,
    /// Per context: the policy's view of the arm.
    pub contexts: Vec<ArmPosterior>,
}

/// The policy's view of one arm in one context, from the published snapshot.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ArmPosterior {
    /// The context's name; `all` for a non-contextual bandit.
    pub context: String,
    /// Updates the policy has applied for this arm in this context.
    pub pulls: f64,
    /// The mean of the rewards the policy has applied (0 before any).
    pub mean_reward: f64,
    /// Beta(alpha, beta) for the Beta-Bernoulli Thompson family.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub posterior: Option<BetaPosterior>,
}

/// A Beta posterior over an arm's success rate.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq)]
pub struct BetaPosterior {
    /// The prior α plus the reward sum the policy acts on (decayed or windowed
    /// for discounted and sliding-window Thompson).
    pub alpha: f64,
    /// The prior β plus the count minus the reward sum the policy acts on.
    pub beta: f64,
    /// The posterior mean, α / (α + β).
    pub mean: f64,
}

/// The answer of `GET /v1/bandits/{bandit}`: the bandit's counters and the
/// policy's view of each arm.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct BanditSummary {
    /// The bandit's name.
    pub bandit: String,
    /// The policy as configured.
    pub policy: PolicySpec,
    /// Decisions served, over all arms.
    pub decisions: u64,
    /// Rewards received, over all arms.
    pub rewards: u64,
    /// Rewards received but not yet applied (batched updates).
    pub buffered_rewards: u64,
    /// The version of the policy snapshot decisions use now.
    pub snapshot_version: u64,
    /// Per arm, in the configured order.
    pub arms: Vec<ArmSummary>,
}

/// The summary of a bandit, from its live counters and published snapshot.
pub fn summary(rt: &BanditRuntime) -> BanditSummary {
    let snap = rt.published.load();
    let prior = rt.config.policy.beta_prior();
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

/// `GET /v1/bandits/{bandit}`: its [`BanditSummary`]; 404 `unknown_bandit`.
pub async fn get_summary(
    State(s): State<Arc<AppState>>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<BanditSummary>, ApiError> {
    Ok(Json(summary(runtime(&s, &name)?)))
}

#[cfg(test)]
mod tests {
    use super::{DecideAnswer, DecideResponse};

    /// The borrowed answer is the documented one, byte for byte.
    #[test]
    fn the_decide_answer_serializes_as_decide_response() {
        let owned = DecideResponse {
            decision_id: "12-00ff00ff00ff00ff".into(),
            arm: "blue \"b\"".into(),
            arm_index: 3,
            propensity: 0.125,
            propensity_exact: true,
        };
        let borrowed = DecideAnswer {
            decision_id: owned.decision_id.clone(),
            arm: &owned.arm,
            arm_index: owned.arm_index,
            propensity: owned.propensity,
            propensity_exact: owned.propensity_exact,
        };
        let (a, b) = (
            serde_json::to_string(&owned),
            serde_json::to_string(&borrowed),
        );
        assert_eq!(a.ok(), b.ok());
    }
}
