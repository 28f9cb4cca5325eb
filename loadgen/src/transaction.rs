//! The goose transaction that every user repeats: a batch of steps (see
//! [`transaction`]). Each step waits for the request's slot in the pacing
//! schedule, picks assign, decide or reward by the mix, sends it (to a
//! plain-HTTP target through the user's own keep-alive connection,
//! [`crate::client`]; to an https one through goose's client), tells goose
//! of it (so goose's own metrics and report count every request), and
//! records raw and corrected latency.
//!
//! The run is bounded by its sending window (ramp-up plus duration): no
//! wait outlasts it, nothing is sent after it, and no request outlives it by
//! more than [`crate::GRACE`].

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use goose::prelude::*;
use rand::RngExt;
use rand_chacha::ChaCha8Rng;
use umpire_sim::assignment::HashAssigner;
use umpire_sim::load::api::{Method, RequestKind};
use umpire_sim::load::schedule::{Cursor, Schedule};
use umpire_sim::load::{LoadScenario, Model, UnitOrder};
use umpire_sim::rng::{Purpose, StreamKey};

use umpire_sim::load::recorder::{Kind, Recorder};

use crate::client::{Client, Origin};
use crate::request::{Answer, CompiledApi, Fill, Lookup, Rendered};

/// A bandit as the generator drives it.
pub struct BanditTarget {
    /// The bandit's name, as served.
    pub name: String,
    /// True means for simulated rewards (Bernoulli draws); 0.5 when unknown.
    pub means: Vec<f64>,
    /// The arm with the highest true mean, when the means are known.
    pub best_arm: Option<usize>,
    /// A context to send, for contextual bandits whose contexts' truth is
    /// unknown (the first one).
    pub context: Option<String>,
    /// Contexts with known truth: each decision sends one drawn by weight,
    /// and its reward is drawn from that context's means.
    pub contexts: Vec<LoadContext>,
    /// Served arm values to arm indices.
    pub lookup: Lookup,
}

/// A context of a bandit whose per-context truth is known.
pub struct LoadContext {
    /// Its name, as sent.
    pub name: String,
    /// Its `rng::segment_thresholds` entry: a uniform 32-bit word below it
    /// (and not below the previous context's) picks it, as the simulator
    /// picks a segment.
    pub threshold: u64,
    /// The arms' true means in it.
    pub means: Vec<f64>,
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
    /// Served variant values to variant indices.
    pub lookup: Lookup,
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
    /// The target's API, compiled: how requests look and answers read.
    pub api: CompiledApi,
    /// A plain-HTTP target's origin: requests go through each user's own
    /// connection ([`Client`]). None for https, whose requests go through
    /// goose's client.
    origin: Option<Origin>,
    /// Requests planned so far, for `unit_order = "sequential"`.
    next_unit: AtomicU64,
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
    /// When each user intends to send (None for a closed loop).
    schedule: Option<Schedule>,
}

impl Shared {
    /// The shared state of a run starting now against `origin`
    /// (`scheme://host[:port]`): its sending window ends after the
    /// scenario's ramp-up plus duration.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        scenario: LoadScenario,
        experiments: Vec<ExperimentTarget>,
        bandits: Vec<BanditTarget>,
        token: Option<String>,
        origin: &str,
        base_path: String,
        api: CompiledApi,
        recorder: Recorder,
    ) -> Self {
        let key = StreamKey::new(scenario.seed, Purpose::load_generator());
        let start = Instant::now();
        // Validated: ramp-up ≤ an hour and duration ≤ a day, so this fits.
        let window = Duration::from_secs_f64(
            scenario.traffic.ramp_up_seconds + scenario.traffic.duration_seconds,
        );
        let send_until = start + window;
        let schedule = Schedule::new(&scenario.traffic, scenario.seed);
        let origin = Origin::parse(origin, token.as_deref());
        Self {
            scenario,
            experiments,
            bandits,
            token,
            base_path,
            api,
            origin,
            next_unit: AtomicU64::new(0),
            recorder: Mutex::new(recorder),
            start,
            send_until,
            cut_off: send_until + crate::GRACE,
            key,
            schedule,
        }
    }
}

/// Per goose user (goose session data must be Clone).
#[derive(Clone)]
struct UserState {
    rng: ChaCha8Rng,
    /// When the user started: its schedule's offsets count from here.
    origin: Instant,
    /// Its place in the pacing schedule (None for a closed loop).
    cursor: Option<Cursor>,
    prev_done: Instant,
    /// Decisions awaiting a reward.
    pending: VecDeque<Pending>,
    /// Its connection to a plain-HTTP target.
    client: Client,
}

/// A decision awaiting its reward.
#[derive(Clone)]
struct Pending {
    bandit: usize,
    id: String,
    arm: usize,
    unit: u64,
    ctx: Option<usize>,
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
async fn idle() -> Result<Step, Box<TransactionError>> {
    tokio::time::sleep(IDLE).await;
    Ok(Step::Idled)
}

/// Most requests one goose transaction sends.
pub const BATCH_REQUESTS: usize = 64;

/// A goose transaction sends no further request once it has run this long.
pub const BATCH_TIME: Duration = Duration::from_millis(50);

/// The transaction every goose user repeats: a batch of steps, each waiting
/// for the next slot in the pacing schedule, sending one request of the mix
/// and recording it. goose's own work per transaction (its loop, the
/// transaction and scenario metrics, the exit check) cost as much as a
/// request: a batch of up to [`BATCH_REQUESTS`] requests or [`BATCH_TIME`]
/// pays it once. goose still records every request (its report's request
/// counts are true); its transaction counts are batches. A batch ends at
/// the end of the sending window, and within `BATCH_TIME` of its start plus
/// one step, so goose's stop (between transactions) waits no longer.
pub fn transaction(shared: Arc<Shared>) -> Transaction {
    Transaction::new(Arc::new(move |user: &mut GooseUser| {
        let shared = shared.clone();
        Box::pin(async move { batch(&shared, user).await })
    }))
    .set_name("paced requests (batch)")
}

async fn batch(shared: &Shared, user: &mut GooseUser) -> TransactionResult {
    let started = Instant::now();
    for _ in 0..BATCH_REQUESTS {
        if step(shared, user).await? == Step::Idled || started.elapsed() >= BATCH_TIME {
            break;
        }
    }
    Ok(())
}

/// What a step did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// Sent a request and recorded it.
    Sent,
    /// Sent nothing: past the sending window, or no slot left in it.
    Idled,
}

enum Planned {
    Assign {
        exp: usize,
        unit: u64,
    },
    Decide {
        bandit: usize,
        unit: u64,
        /// The drawn context, for a bandit with per-context truth.
        ctx: Option<usize>,
    },
    Reward {
        bandit: usize,
        id: String,
        unit: u64,
        reward: f64,
    },
}

impl Planned {
    /// The request: its kind, rendered from the scenario's API templates
    /// under the base path, and the unit's id.
    fn request(&self, shared: &Shared) -> (Kind, Rendered, String) {
        let api = &shared.api;
        let unit = match self {
            Planned::Assign { unit, .. }
            | Planned::Decide { unit, .. }
            | Planned::Reward { unit, .. } => api.spec().id.render(*unit),
        };
        let base = shared.base_path.as_str();
        match self {
            Planned::Assign { exp, .. } => {
                let fill = Fill {
                    unit: &unit,
                    experiment: &shared.experiments[*exp].name,
                    ..Fill::default()
                };
                let r = api.render(RequestKind::Assign, base, &fill);
                (Kind::Assign, r, unit)
            }
            Planned::Decide { bandit, ctx, .. } => {
                let b = &shared.bandits[*bandit];
                let context = match ctx {
                    Some(c) => Some(b.contexts[*c].name.as_str()),
                    None => b.context.as_deref(),
                };
                let fill = Fill {
                    unit: &unit,
                    bandit: &b.name,
                    context,
                    ..Fill::default()
                };
                (
                    Kind::Decide,
                    api.render(RequestKind::Decide, base, &fill),
                    unit,
                )
            }
            Planned::Reward {
                bandit, id, reward, ..
            } => {
                let fill = Fill {
                    unit: &unit,
                    bandit: &shared.bandits[*bandit].name,
                    decision_id: id,
                    reward: *reward,
                    ..Fill::default()
                };
                (
                    Kind::Reward,
                    api.render(RequestKind::Reward, base, &fill),
                    unit,
                )
            }
        }
    }

    /// Read the answer (status and body) through the API's success rule
    /// and extractors.
    fn read(&self, shared: &Shared, status: u16, body: &[u8]) -> Answer {
        match self {
            Planned::Assign { exp, .. } => shared.api.read(
                RequestKind::Assign,
                status,
                body,
                Some(&shared.experiments[*exp].lookup),
            ),
            Planned::Decide { bandit, .. } => shared.api.read(
                RequestKind::Decide,
                status,
                body,
                Some(&shared.bandits[*bandit].lookup),
            ),
            Planned::Reward { .. } => shared.api.read(RequestKind::Reward, status, body, None),
        }
    }

    /// Record a completed request (`count` adds its latencies, under the
    /// recorder's lock) and what its answer tells the checks; returns a
    /// decision to reward later. `id` is the unit's id as sent.
    fn record(
        &self,
        shared: &Shared,
        answer: &Answer,
        id: &str,
        sent_at: f64,
        count: impl FnOnce(&mut Recorder),
    ) -> Option<Pending> {
        let mut new_pending = None;
        if let Ok(mut rec) = shared.recorder.lock() {
            count(&mut rec);
            match (self, answer) {
                (
                    Planned::Assign { exp, unit },
                    Answer {
                        ok: true,
                        served: Some(served),
                        ..
                    },
                ) => record_assignment(shared, &mut rec, *exp, *unit, id, served),
                (
                    Planned::Decide { bandit, unit, ctx },
                    Answer {
                        ok: true,
                        decision: Some((decision, arm)),
                        ..
                    },
                ) => {
                    rec.decisions
                        .push((sent_at as f32, *bandit as u16, *arm as u16));
                    new_pending = Some(Pending {
                        bandit: *bandit,
                        id: decision.clone(),
                        arm: *arm,
                        unit: *unit,
                        ctx: *ctx,
                    });
                }
                _ => {}
            }
        }
        new_pending
    }
}

fn plan(shared: &Shared, st: &mut UserState) -> Planned {
    let m = &shared.scenario.mix;
    let total = u64::from(m.assign) + u64::from(m.decide) + u64::from(m.reward);
    let x = st.rng.random_range(0..total.max(1));
    // The draw is made in either order, so the rest of the user's choices
    // do not depend on it.
    let drawn = st.rng.random_range(0..m.units.max(1));
    let unit = match m.unit_order {
        UnitOrder::Random => drawn,
        UnitOrder::Sequential => shared.next_unit.fetch_add(1, Ordering::Relaxed) % m.units.max(1),
    };
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
    if reward
        && let Some(Pending {
            bandit,
            id,
            arm,
            unit,
            ctx,
        }) = st.pending.pop_front()
    {
        let b = &shared.bandits[bandit];
        let means = ctx.map_or(&b.means, |c| &b.contexts[c].means);
        let mean = means.get(arm).copied().unwrap_or(0.5);
        let reward = f64::from(u8::from(st.rng.random::<f64>() < mean));
        return Planned::Reward {
            bandit,
            id,
            unit,
            reward,
        };
    }
    let bandit = st.rng.random_range(0..shared.bandits.len());
    let contexts = &shared.bandits[bandit].contexts;
    // Drawn only for bandits with per-context truth, so other runs' draws
    // are as they were.
    let ctx = (!contexts.is_empty()).then(|| {
        let word = u64::from(st.rng.random::<u32>());
        contexts
            .iter()
            .position(|c| word < c.threshold)
            .unwrap_or(contexts.len() - 1)
    });
    Planned::Decide { bandit, unit, ctx }
}

/// A user's first transaction: its generator and its place in the pacing
/// schedule.
fn start_user(shared: &Shared, user: &mut GooseUser) {
    let index = user.weighted_users_index as u64;
    let now = Instant::now();
    if let Some(schedule) = &shared.schedule
        && let Ok(mut rec) = shared.recorder.lock()
    {
        // The user's expected share of the sends scheduled between its start
        // and the end of the window (within one slot of its exact count for
        // uniform arrivals): counting its slots one by one could take as
        // long as the run.
        let left = shared.send_until.saturating_duration_since(now);
        let users = shared.scenario.traffic.users.max(1) as f64;
        let slots = (schedule.cumulative(left.as_secs_f64()) / users).round() as u64;
        rec.user_scheduled(user.weighted_users_index, slots);
    }
    user.set_session_data(UserState {
        rng: shared.key.replication(index),
        origin: now,
        cursor: shared.schedule.as_ref().map(|s| s.cursor(index)),
        prev_done: now,
        pending: VecDeque::new(),
        client: Client::default(),
    });
}

async fn step(shared: &Shared, user: &mut GooseUser) -> Result<Step, Box<TransactionError>> {
    if user.get_session_data::<UserState>().is_none() {
        start_user(shared, user);
    }
    if Instant::now() >= shared.send_until {
        return idle().await;
    }
    let Some(st) = user.get_session_data_mut::<UserState>() else {
        return Ok(Step::Idled);
    };
    // A closed loop has no schedule: its "intended" time is never after the
    // previous response, so nothing is corrected.
    let intended = match (&shared.schedule, st.cursor.as_mut()) {
        (Some(schedule), Some(cursor)) => {
            match schedule
                .next(cursor)
                .and_then(|offset| st.origin.checked_add(offset))
            {
                Some(t) if t < shared.send_until => t,
                // A slot past the window (or none left) is never waited for
                // (the original cause of runs lasting 4000 times their
                // duration at low rates).
                _ => return idle().await,
            }
        }
        _ => st.origin,
    };
    let planned = plan(shared, st);
    let prev_done = st.prev_done;
    if shared.schedule.is_some() {
        tokio::time::sleep_until(intended.into()).await;
    }
    let (kind, rendered, id) = planned.request(shared);
    let send = Instant::now();
    // A request gets at most what is left of the window plus the grace; one
    // still unanswered then is cut off and counts as an error.
    let timeout = shared
        .cut_off
        .saturating_duration_since(send)
        .min(REQUEST_TIMEOUT);
    // `done`: when the answer was read, before any bookkeeping.
    let (answer, done) = match &shared.origin {
        Some(origin) => {
            send_direct(user, shared, origin, &planned, kind, rendered, timeout).await?
        }
        None => {
            let request = goose_request(user, shared, kind, &rendered, timeout)?;
            let response = user.request(request).await?;
            let answer = match response.response {
                Ok(r) => {
                    let status = r.status().as_u16();
                    match r.bytes().await {
                        Ok(body) => planned.read(shared, status, &body),
                        Err(_) => Answer::default(),
                    }
                }
                Err(_) => Answer::default(),
            };
            (answer, Instant::now())
        }
    };
    let ok = answer.ok;
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
    let new_pending = planned.record(shared, &answer, &id, sent_at, |rec| {
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
    Ok(Step::Sent)
}

/// Send `rendered` through the user's own connection, read the answer, and
/// tell goose about the request (its report counts every request, judged
/// by the API's success rule as umpire's own report is). Returns the answer
/// and when it was read (before goose is told, so that the generator's
/// bookkeeping is not charged to the target's latency).
async fn send_direct(
    user: &mut GooseUser,
    shared: &Shared,
    origin: &Origin,
    planned: &Planned,
    kind: Kind,
    rendered: Rendered,
    timeout: Duration,
) -> Result<(Answer, Instant), Box<TransactionError>> {
    let method = rendered.method.name();
    let mut client = user
        .get_session_data_mut::<UserState>()
        .map(|st| std::mem::take(&mut st.client))
        .unwrap_or_default();
    let send = Instant::now();
    let sent = match origin.request(rendered) {
        Ok(req) => client.send(origin, req, timeout).await,
        Err(e) => Err(e),
    };
    let took = send.elapsed();
    if let Some(st) = user.get_session_data_mut::<UserState>() {
        st.client = client;
    }
    let (answer, status, error) = match sent {
        Ok((status, body)) => (planned.read(shared, status, &body), Some(status), None),
        Err(e) => (Answer::default(), None, Some(e.to_string())),
    };
    let done = Instant::now();
    user.record_custom_request_duration(
        method,
        kind.name(),
        took,
        answer.ok,
        status,
        error.as_deref(),
    )
    .await?;
    Ok((answer, done))
}

/// The goose request for a rendered one, with the bearer token if any.
fn goose_request<'a>(
    user: &GooseUser,
    shared: &Shared,
    kind: Kind,
    rendered: &'a Rendered,
    timeout: Duration,
) -> Result<GooseRequest<'a>, Box<TransactionError>> {
    let method = match rendered.method {
        Method::Get => GooseMethod::Get,
        Method::Post => GooseMethod::Post,
        Method::Put => GooseMethod::Put,
        Method::Patch => GooseMethod::Patch,
        Method::Delete => GooseMethod::Delete,
    };
    let mut builder = user
        .get_request_builder(&method, &rendered.path)?
        .timeout(timeout);
    for (name, value) in &rendered.headers {
        builder = builder.header(name, value);
    }
    if let Some(body) = &rendered.body {
        builder = builder
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    if let Some(t) = &shared.token {
        builder = builder.bearer_auth(t);
    }
    Ok(GooseRequest::builder()
        .method(method)
        .path(rendered.path.as_str())
        .name(kind.name())
        .set_request_builder(builder)
        .build())
}

/// Count a served assignment for the SRM test (once per distinct unit) and,
/// for every `parity_every`-th, compare it with the simulator's on the id
/// as sent (`id`).
fn record_assignment(
    shared: &Shared,
    rec: &mut Recorder,
    exp: usize,
    unit: u64,
    id: &str,
    served: &crate::request::Served,
) {
    let e = &shared.experiments[exp];
    let variant = served.variant;
    let split = &mut rec.splits[exp];
    if split.seen.insert(unit) {
        let slot = variant.unwrap_or(e.variants.len());
        split.counts[slot] += 1;
    }
    let every = shared.scenario.checks.parity_every;
    rec.assignments += 1;
    if every > 0 && rec.assignments.is_multiple_of(every) {
        let expected = e.assigner.assign_id(id).variant;
        rec.parity_checked += 1;
        rec.parity_units.insert(unit);
        if expected != variant {
            rec.parity_mismatches += 1;
            if rec.parity_examples.len() < 5 {
                let name = |v: Option<usize>| {
                    v.and_then(|i| e.lookup.name(i))
                        .map_or_else(|| "not in the experiment".to_owned(), |n| format!("`{n}`"))
                };
                rec.parity_examples.push(format!(
                    "{} {id}: served {} ({}), simulator {}",
                    e.name,
                    served.raw,
                    name(variant),
                    name(expected)
                ));
            }
        }
    }
}
