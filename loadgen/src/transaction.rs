//! The goose transaction that every user repeats. It waits for
//! the request's slot in the pacing schedule, picks assign, decide or reward
//! by the mix, sends it through goose (so goose's own metrics and report see
//! every request), and records raw and corrected latency.
//!
//! The run is bounded by its sending window (ramp-up plus duration): no
//! wait outlasts it, nothing is sent after it, and no request outlives it by
//! more than [`crate::GRACE`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goose::prelude::*;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};
use umpire_sim::assignment::HashAssigner;
use umpire_sim::load::{LoadScenario, Model};
use umpire_sim::rng::{Purpose, StreamKey};

use umpire_sim::load::recorder::{Kind, Recorder};

/// A bandit as the generator drives it.
pub struct BanditTarget {
    /// The bandit's name, as served.
    pub name: String,
    /// True means for simulated rewards (Bernoulli draws); 0.5 when unknown.
    pub means: Vec<f64>,
    /// The arm with the highest true mean, when the means are known.
    pub best_arm: Option<usize>,
    /// A context to send, for contextual bandits (the first one).
    pub context: Option<String>,
}

/// An experiment as the generator drives it: its name, variant names and
/// the simulator's assigner, for the parity check.
pub struct ExperimentTarget {
    /// The experiment's name, as served.
    pub name: String,
    /// Its variant names, in config order (the order of its SRM counts).
    pub variants: Vec<String>,
    /// The simulator's assigner for it, which served assignments must match.
    pub assigner: HashAssigner,
}

/// Everything the users share.
pub struct Shared {
    /// The load scenario.
    pub scenario: LoadScenario,
    /// The experiments driven (empty when the mix sends no assignments).
    pub experiments: Vec<ExperimentTarget>,
    /// The bandits driven.
    pub bandits: Vec<BanditTarget>,
    /// The bearer token sent with decide and reward, if any.
    pub token: Option<String>,
    /// The external host's base path, in front of every request path.
    pub base_path: String,
    /// What the run measures, request by request: latency per endpoint, the
    /// generator's lag, assignment counts, parity checks and decisions.
    pub recorder: Mutex<Recorder>,
    /// When the run started: send times are measured from it.
    pub start: Instant,
    /// The end of the sending window: no request is sent from then on.
    pub send_until: Instant,
    /// The window plus the grace: no request waits past it.
    pub cut_off: Instant,
    key: StreamKey,
}

impl Shared {
    /// The shared state of a run starting now: its sending window ends after
    /// the scenario's ramp-up plus duration.
    pub fn new(
        scenario: LoadScenario,
        experiments: Vec<ExperimentTarget>,
        bandits: Vec<BanditTarget>,
        token: Option<String>,
        base_path: String,
        recorder: Recorder,
    ) -> Self {
        let key = StreamKey::new(scenario.seed, Purpose::load_generator());
        let start = Instant::now();
        // Validated: ramp-up ≤ an hour and duration ≤ a day, so this fits.
        let window = Duration::from_secs_f64(
            scenario.traffic.ramp_up_seconds + scenario.traffic.duration_seconds,
        );
        let send_until = start + window;
        Self {
            scenario,
            experiments,
            bandits,
            token,
            base_path,
            recorder: Mutex::new(recorder),
            start,
            send_until,
            cut_off: send_until + crate::GRACE,
            key,
        }
    }
}

/// Per goose user (goose session data must be Clone).
#[derive(Clone)]
struct UserState {
    rng: ChaCha8Rng,
    /// Requests sent so far.
    k: u64,
    start: Instant,
    /// Time between this user's requests under pacing.
    interval: Duration,
    prev_done: Instant,
    /// Decisions awaiting a reward: (bandit, decision id, arm).
    pending: VecDeque<(usize, String, usize)>,
}

/// Most decisions a user keeps for later rewards.
const MAX_PENDING: usize = 1024;

/// The longest a request may take when the run has longer left: goose's
/// own default timeout.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a user past the sending window idles before handing control
/// back to goose, which ends users only between transactions (and up to
/// a second after the window, as it counts whole seconds).
const IDLE: Duration = Duration::from_millis(100);

/// Past the window: idle a fixed interval without sending, so goose can
/// stop the user without it spinning. The interval is never shortened to
/// the cut-off: once that has passed, a shortened sleep would return at
/// once and every user would loop hot, each loop a transaction to goose.
async fn idle() -> TransactionResult {
    tokio::time::sleep(IDLE).await;
    Ok(())
}

/// The transaction every goose user repeats: wait for the next slot in the
/// pacing schedule, send one request of the mix, and record it.
pub fn transaction(shared: Arc<Shared>) -> Transaction {
    Transaction::new(Arc::new(move |user: &mut GooseUser| {
        let shared = shared.clone();
        Box::pin(async move { step(&shared, user).await })
    }))
    .set_name("paced request")
}

enum Planned {
    Assign {
        exp: usize,
        unit: u64,
    },
    Decide {
        bandit: usize,
        unit: u64,
    },
    Reward {
        bandit: usize,
        id: String,
        reward: f64,
    },
}

impl Planned {
    /// The request: its kind, method, path (after the base path) and body.
    fn request(&self, shared: &Shared) -> (Kind, GooseMethod, String, Option<Value>) {
        match self {
            Planned::Assign { exp, unit } => (
                Kind::Assign,
                GooseMethod::Get,
                format!(
                    "{}/v1/assign/{}?unit=user-{unit}",
                    shared.base_path, shared.experiments[*exp].name
                ),
                None,
            ),
            Planned::Decide { bandit, unit } => {
                let b = &shared.bandits[*bandit];
                let mut body = json!({ "unit": format!("user-{unit}") });
                if let Some(c) = &b.context {
                    body["context"] = json!(c);
                }
                (
                    Kind::Decide,
                    GooseMethod::Post,
                    format!("{}/v1/decide/{}", shared.base_path, b.name),
                    Some(body),
                )
            }
            Planned::Reward {
                bandit, id, reward, ..
            } => (
                Kind::Reward,
                GooseMethod::Post,
                format!(
                    "{}/v1/reward/{}",
                    shared.base_path, shared.bandits[*bandit].name
                ),
                Some(json!({ "decision_id": id, "reward": reward })),
            ),
        }
    }

    /// Record a completed request (`count` adds its latencies, under the
    /// recorder's lock) and what its answer tells the checks; returns a
    /// decision to reward later.
    fn record(
        &self,
        shared: &Shared,
        ok: bool,
        value: Option<&Value>,
        sent_at: f64,
        count: impl FnOnce(&mut Recorder),
    ) -> Option<(usize, String, usize)> {
        let mut new_pending = None;
        if let Ok(mut rec) = shared.recorder.lock() {
            count(&mut rec);
            if ok && let Some(v) = value {
                match self {
                    Planned::Assign { exp, unit } => {
                        record_assignment(shared, &mut rec, *exp, *unit, v);
                    }
                    Planned::Decide { bandit, .. } => {
                        let arm = v["arm_index"].as_u64().map(|a| a as usize);
                        if let (Some(id), Some(arm)) = (v["decision_id"].as_str(), arm) {
                            rec.decisions
                                .push((sent_at as f32, *bandit as u16, arm as u16));
                            new_pending = Some((*bandit, id.to_owned(), arm));
                        }
                    }
                    Planned::Reward { .. } => {}
                }
            }
        }
        new_pending
    }
}

fn plan(shared: &Shared, st: &mut UserState) -> Planned {
    let m = &shared.scenario.mix;
    let total = u64::from(m.assign) + u64::from(m.decide) + u64::from(m.reward);
    let x = st.rng.random_range(0..total.max(1));
    let unit = st.rng.random_range(0..m.units.max(1));
    let assign = x < u64::from(m.assign) && !shared.experiments.is_empty();
    let reward = !assign && x >= u64::from(m.assign) + u64::from(m.decide);
    if assign {
        let exp = st.rng.random_range(0..shared.experiments.len());
        return Planned::Assign { exp, unit };
    }
    if shared.bandits.is_empty() {
        let exp = st.rng.random_range(0..shared.experiments.len().max(1));
        return Planned::Assign { exp, unit };
    }
    if reward && let Some((bandit, id, arm)) = st.pending.pop_front() {
        let mean = shared.bandits[bandit]
            .means
            .get(arm)
            .copied()
            .unwrap_or(0.5);
        let reward = f64::from(u8::from(st.rng.random::<f64>() < mean));
        return Planned::Reward { bandit, id, reward };
    }
    let bandit = st.rng.random_range(0..shared.bandits.len());
    Planned::Decide { bandit, unit }
}

/// A user's first transaction: its generator and its place in the pacing
/// schedule.
fn start_user(shared: &Shared, user: &mut GooseUser) {
    let index = user.weighted_users_index as u64;
    let users = shared.scenario.traffic.users.max(1);
    let interval = match shared.scenario.traffic.model {
        Model::Paced { rate } => Duration::from_secs_f64(users as f64 / rate),
        Model::Closed { .. } => Duration::ZERO,
    };
    let now = Instant::now();
    // Users start their schedules at evenly spread phases.
    let start = now + interval.mul_f64(index as f64 / users as f64).min(interval);
    if !interval.is_zero()
        && let Ok(mut rec) = shared.recorder.lock()
    {
        // The slots k with start + k·interval inside the sending window.
        let left = shared.send_until.saturating_duration_since(start);
        let slots = (left.as_secs_f64() / interval.as_secs_f64()).ceil() as u64;
        rec.user_scheduled(user.weighted_users_index, slots);
    }
    user.set_session_data(UserState {
        rng: shared.key.replication(index),
        k: 0,
        start,
        interval,
        prev_done: now,
        pending: VecDeque::new(),
    });
}

async fn step(shared: &Shared, user: &mut GooseUser) -> TransactionResult {
    if user.get_session_data::<UserState>().is_none() {
        start_user(shared, user);
    }
    if Instant::now() >= shared.send_until {
        return idle().await;
    }
    let Some(st) = user.get_session_data_mut::<UserState>() else {
        return Ok(());
    };
    let intended = st.start + st.interval.mul_f64(st.k as f64);
    // A slot past the window is never waited for (the original cause of
    // runs lasting 4000 times their duration at low rates).
    if matches!(shared.scenario.traffic.model, Model::Paced { .. }) && intended >= shared.send_until
    {
        return idle().await;
    }
    st.k += 1;
    let planned = plan(shared, st);
    let prev_done = st.prev_done;
    if let Model::Paced { .. } = shared.scenario.traffic.model {
        tokio::time::sleep_until(intended.into()).await;
    }
    let (kind, method, path, body) = planned.request(shared);
    let send = Instant::now();
    // A request gets at most what is left of the window plus the grace; one
    // still unanswered then is cut off and counts as an error.
    let timeout = shared
        .cut_off
        .saturating_duration_since(send)
        .min(REQUEST_TIMEOUT);
    let mut builder = user.get_request_builder(&method, &path)?.timeout(timeout);
    if let Some(b) = &body {
        builder = builder.json(b);
    }
    if let Some(t) = &shared.token {
        builder = builder.bearer_auth(t);
    }
    let request = GooseRequest::builder()
        .method(method)
        .path(path.as_str())
        .name(kind.name())
        .set_request_builder(builder)
        .build();
    let response = user.request(request).await?;
    let (ok, value) = match response.response {
        Ok(r) => {
            let status_ok = r.status().is_success();
            let v = r.json::<Value>().await.ok();
            (status_ok && v.is_some(), v)
        }
        Err(_) => (false, None),
    };
    let done = Instant::now();
    let raw = done - send;
    // The coordinated-omission correction: when the user was still waiting
    // for its previous response at this request's intended send time, the
    // wait counts (real clients would not have waited). The generator's own
    // lateness (timer granularity, a busy runtime) is its lag, reported
    // separately and not charged to the server. Closed-loop requests have no
    // schedule: corrected equals raw.
    let lag = send.saturating_duration_since(intended.max(prev_done));
    let corrected = match shared.scenario.traffic.model {
        Model::Paced { .. } => raw + prev_done.saturating_duration_since(intended),
        Model::Closed { .. } => raw,
    };
    let sent_at = send.saturating_duration_since(shared.start).as_secs_f64();
    let index = user.weighted_users_index;
    let new_pending = planned.record(shared, ok, value.as_ref(), sent_at, |rec| {
        rec.request(kind, ok, raw, corrected, lag, sent_at);
        rec.user_sent(index);
    });
    if let Some(st) = user.get_session_data_mut::<UserState>() {
        st.prev_done = done;
        if let Some(p) = new_pending
            && st.pending.len() < MAX_PENDING
        {
            st.pending.push_back(p);
        }
    }
    if let Model::Closed { think_time_ms } = shared.scenario.traffic.model
        && think_time_ms > 0
    {
        let wake = (Instant::now() + Duration::from_millis(think_time_ms)).min(shared.send_until);
        tokio::time::sleep_until(wake.into()).await;
    }
    Ok(())
}

/// Count a served assignment for the SRM test (once per distinct unit) and,
/// for every `parity_every`-th, compare it with the simulator's.
fn record_assignment(shared: &Shared, rec: &mut Recorder, exp: usize, unit: u64, v: &Value) {
    let e = &shared.experiments[exp];
    let served = v["variant"].as_str();
    let variant = served.and_then(|s| e.variants.iter().position(|x| x == s));
    let split = &mut rec.splits[exp];
    if split.seen.insert(unit) {
        let slot = variant.unwrap_or(e.variants.len());
        split.counts[slot] += 1;
    }
    let every = shared.scenario.checks.parity_every;
    rec.assignments += 1;
    if every > 0 && rec.assignments.is_multiple_of(every) {
        let expected = e.assigner.assign_id(&format!("user-{unit}")).variant;
        rec.parity_checked += 1;
        if expected != variant {
            rec.parity_mismatches += 1;
            if rec.parity_examples.len() < 5 {
                rec.parity_examples.push(format!(
                    "{} user-{unit}: served {:?}, simulator {:?}",
                    e.name,
                    served,
                    expected.map(|i| e.variants[i].as_str())
                ));
            }
        }
    }
}
