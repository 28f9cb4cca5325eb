//! umpire-loadgen: the goose load generator. It drives the reference server (started in
//! process on 127.0.0.1:0) or an external service with a paced request mix,
//! measures latency from each request's intended send time, checks the
//! served answers, and judges the run against the scenario's SLOs.

pub mod client;
pub mod pick;
pub mod request;
pub mod self_check;
pub mod target;
pub mod transaction;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use goose::config::{GooseConfiguration, GooseDefault, GooseDefaultType};
use goose::prelude::{GooseAttack, Scenario};
use umpire_serve::{self as server, ServeOptions, ServerError};
use umpire_sim::assignment::HashAssigner;
use umpire_sim::load::LoadScenario;
use umpire_sim::load::build::{self, Measured};
use umpire_sim::load::recorder::{Recorder, window_seconds};
use umpire_sim::load::result::LoadResult;
use umpire_sim::result::Provenance;
use umpire_sim::serve::ServeConfig;

use request::{CompiledApi, Fill, Lookup};
use transaction::{BanditTarget, ExperimentTarget, LoadContext, Shared};
use umpire_sim::load::api::{RequestKind, ValueMap};

/// How long after the end of its sending window (ramp-up plus duration) a
/// run may still wait for answers. No request is sent after the window,
/// each request's timeout is capped at what is left of window plus grace,
/// and a request still unanswered then counts as an error (a timeout). So a
/// run ends within the grace of its duration whatever the rate or the
/// target does. The grace also covers goose's whole-second run time.
pub const GRACE: Duration = Duration::from_secs(2);

/// A load test ready to run: the scenario, the serve config it names (read
/// by the caller), and where to write goose's HTML report.
pub struct LoadPlan {
    /// The load scenario, as validated (with any `--duration` applied).
    pub scenario: LoadScenario,
    /// Where the scenario came from (its file as given is recorded for
    /// `umpire merge`), how to redo the run, and the build.
    pub provenance: Provenance,
    /// The serve config the scenario's `target.serve` names: what the
    /// in-process server serves, and what the generator expects of a target.
    pub serve: ServeConfig,
    /// The bearer token sent with decide and reward (and required by the
    /// in-process server), from `target.token_file`.
    pub token: Option<String>,
    /// Where goose writes its HTML report; none without one.
    pub goose_report: Option<PathBuf>,
    /// Where a managed target's stdout and stderr go
    /// (`<scenario>-target.out.log`, `.err.log`); none: discarded.
    pub log_dir: Option<PathBuf>,
}

/// Why a load test could not run.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The scenario does not fit its serve config.
    #[error("{0}")]
    BadInput(String),
    /// The external target did not answer the api's health probe (`GET
    /// /healthz` for umpire's API) with a success.
    #[error("cannot reach {host}: {message}")]
    Unreachable {
        /// The target's base URL.
        host: String,
        /// The client error, or the status it answered.
        message: String,
    },
    /// The in-process server failed to start or to stop.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// goose refused its configuration or failed during the run (or the
    /// latency recorder failed).
    #[error("goose: {0}")]
    Goose(String),
    /// The managed target failed to start, to get ready, or exited during
    /// the run.
    #[error(transparent)]
    Target(#[from] target::TargetError),
}

fn goose_err(e: impl std::fmt::Display) -> LoadError {
    LoadError::Goose(e.to_string())
}

fn pick<'a, T>(
    all: &'a [T],
    names: &[String],
    name_of: impl Fn(&T) -> &str,
    what: &str,
) -> Result<Vec<&'a T>, LoadError> {
    if names.is_empty() {
        return Ok(all.iter().collect());
    }
    names
        .iter()
        .map(|n| {
            all.iter().find(|x| name_of(x) == n).ok_or_else(|| {
                LoadError::BadInput(format!(
                    "mix.{what}s names `{n}`, which the serve config does not serve (it has: {})",
                    all.iter().map(&name_of).collect::<Vec<_>>().join(", ")
                ))
            })
        })
        .collect()
}

/// What the generator drives: experiments, bandits, and each experiment's
/// expected share per variant (for the SRM test).
struct Targets {
    experiments: Vec<ExperimentTarget>,
    bandits: Vec<BanditTarget>,
    shares: Vec<(String, Vec<f64>)>,
}

/// Check the scenario against its serve config and build the targets.
fn targets(s: &LoadScenario, serve: &ServeConfig) -> Result<Targets, LoadError> {
    let exps = pick(
        &serve.experiments,
        &s.mix.experiments,
        |e| &e.name,
        "experiment",
    )?;
    let bandits = pick(&serve.bandits, &s.mix.bandits, |b| &b.name, "bandit")?;
    if s.mix.assign > 0 && exps.is_empty() {
        return Err(LoadError::BadInput(
            "mix.assign > 0 but the serve config has no experiments".into(),
        ));
    }
    if (s.mix.decide > 0 || s.mix.reward > 0) && bandits.is_empty() {
        return Err(LoadError::BadInput(
            "mix.decide or mix.reward > 0 but the serve config has no bandits".into(),
        ));
    }
    for c in &s.checks.convergence {
        let Some(b) = bandits.iter().find(|b| b.name == c.bandit) else {
            return Err(LoadError::BadInput(format!(
                "checks.convergence names bandit `{}`, which this load test does not drive",
                c.bandit
            )));
        };
        if b.means.is_none() {
            return Err(LoadError::BadInput(format!(
                "checks.convergence.{}: the serve config gives no `means` for this bandit, so its best arm is unknown",
                c.bandit
            )));
        }
        if !b.context_truth.is_empty() {
            return Err(LoadError::BadInput(format!(
                "checks.convergence.{}: this bandit's contexts have best arms of their own, and \
                 the check judges one best arm",
                c.bandit
            )));
        }
    }
    if s.mix.assign > 0 {
        check_values(
            &s.api.assign.values,
            &exps,
            |e| &e.assignment.variants,
            "assign",
            "variant",
        )?;
    }
    if s.mix.decide > 0 {
        check_values(&s.api.decide.values, &bandits, |b| &b.arms, "decide", "arm")?;
    }
    // Experiments that get no assignments have nothing to check: a
    // decide-only mix must not fail an SRM test for want of data.
    let exps = if s.mix.assign == 0 { Vec::new() } else { exps };
    let shares = exps
        .iter()
        .map(|e| (e.name.clone(), e.assignment.expected_shares()))
        .collect();
    let experiments = exps
        .iter()
        .map(|e| ExperimentTarget {
            name: e.name.clone(),
            variants: e.assignment.variants.clone(),
            assigner: HashAssigner::new(&e.assignment, ""),
            lookup: Lookup::new(&s.api.assign.values, &e.assignment.variants),
        })
        .collect();
    let bandits = bandits
        .iter()
        .map(|b| BanditTarget {
            name: b.name.clone(),
            means: b.means.clone().unwrap_or_else(|| vec![0.5; b.arms.len()]),
            best_arm: b.means.as_ref().and_then(|m| {
                m.iter()
                    .enumerate()
                    .max_by(|x, y| x.1.total_cmp(y.1))
                    .map(|(i, _)| i)
            }),
            context: b.contexts.first().cloned(),
            contexts: load_contexts(b),
            lookup: Lookup::new(&s.api.decide.values, &b.arms),
        })
        .collect();
    Ok(Targets {
        experiments,
        bandits,
        shares,
    })
}

/// Every name a value map maps to must be a variant (or arm) of something
/// driven: a misspelt name would silently count every answer as unknown.
fn check_values<T>(
    values: &ValueMap,
    driven: &[&T],
    names: impl Fn(&T) -> &Vec<String>,
    kind: &str,
    what: &str,
) -> Result<(), LoadError> {
    for (value, name) in &values.0 {
        if !driven.iter().any(|x| names(x).contains(name)) {
            let known: Vec<&str> = driven
                .iter()
                .flat_map(|x| names(x).iter().map(String::as_str))
                .collect();
            return Err(LoadError::BadInput(format!(
                "api.{kind}.values maps `{value}` to `{name}`, which is no {what} of the serve config's (it has: {})",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// Connections the in-process server serves beyond one per user: the
/// reachability check, and a user's client reconnecting after its
/// keep-alive connection was closed.
pub const CONNECTION_MARGIN: usize = 64;

/// The serve config the in-process server runs with: the scenario's stall,
/// and room for a connection per user. goose gives each user its own client
/// and keep-alive connection, so a server that serves fewer connections
/// than there are users (the default `max_connections` is 512, a load test
/// may have 10,000 users) leaves the rest in the listen backlog until their
/// requests time out. A larger configured cap is kept.
pub fn in_process_config(serve: &ServeConfig, s: &LoadScenario) -> ServeConfig {
    let mut cfg = serve.clone();
    if let Some(stall) = s.target.stall {
        cfg.server.stall = Some(stall);
    }
    let users = usize::try_from(s.traffic.users).unwrap_or(usize::MAX);
    cfg.server.max_connections = cfg
        .server
        .max_connections
        .max(users.saturating_add(CONNECTION_MARGIN));
    cfg
}

/// Probe the external target with the api's health request (under the
/// host's base path), judged by its success rule.
async fn check_reachable(
    origin: &str,
    base_path: &str,
    api: &CompiledApi,
    token: Option<&str>,
) -> Result<(), LoadError> {
    let host = format!("{origin}{base_path}");
    let unreachable = |message: String| LoadError::Unreachable {
        host: host.clone(),
        message,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| unreachable(e.to_string()))?;
    let probe = api.render(RequestKind::Health, base_path, &Fill::default());
    let url = format!("{origin}{}", probe.path);
    let method = reqwest::Method::from_bytes(probe.method.name().as_bytes())
        .map_err(|e| unreachable(e.to_string()))?;
    let mut request = client.request(method, &url);
    for (name, value) in probe.headers {
        request = request.header(name, value);
    }
    if let Some(t) = token {
        request = request.bearer_auth(t);
    }
    match request.send().await {
        Ok(r) => {
            let status = r.status();
            let body = r.bytes().await.unwrap_or_default();
            if api
                .read(RequestKind::Health, status.as_u16(), &body, None)
                .ok
            {
                Ok(())
            } else {
                Err(unreachable(format!(
                    "{} {url} answered {status}",
                    probe.method.name()
                )))
            }
        }
        Err(e) => Err(unreachable(format!("{e}: {}", target::innermost(&e)))),
    }
}

/// The base URL requests go to, the path goose must put in front of each
/// request path, and the in-process server when the scenario names no host.
/// goose joins each request path onto the host's origin, replacing any path
/// there, so the base path goes in front of every request path.
async fn start_target(
    plan: &LoadPlan,
    s: &LoadScenario,
    api: &CompiledApi,
) -> Result<(String, String, Option<server::RunningServer>), LoadError> {
    Ok(match s.target.host_parts() {
        Some((origin, base_path)) => {
            let base = format!("{origin}{base_path}");
            check_reachable(origin, base_path, api, plan.token.as_deref()).await?;
            (base, base_path.to_owned(), None)
        }
        None => {
            let running = server::start(
                in_process_config(&plan.serve, s),
                ServeOptions {
                    addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                    state_dir: None,
                    token: plan.token.clone(),
                },
            )
            .await?;
            (
                format!("http://{}", running.addr),
                String::new(),
                Some(running),
            )
        }
    })
}

/// goose's settings for the run: the origin, users, hatch rate (users per
/// second), whole-second run time, and the HTML report, with goose's own
/// console output, telnet and metric resets off.
fn configure(
    mut attack: GooseAttack,
    origin: &str,
    users: usize,
    hatch: f64,
    run_time: usize,
    report: Option<&PathBuf>,
) -> Result<GooseAttack, LoadError> {
    attack = *attack
        .set_default(GooseDefault::Host, origin)
        .map_err(goose_err)?;
    attack = *attack
        .set_default(GooseDefault::Users, users)
        .map_err(goose_err)?;
    attack = *attack
        .set_default(GooseDefault::IncreaseRate, format!("{hatch}").as_str())
        .map_err(goose_err)?;
    attack = *attack
        .set_default(GooseDefault::RunTime, run_time)
        .map_err(goose_err)?;
    attack = *attack
        .set_default(GooseDefault::NoTelnet, true)
        .map_err(goose_err)?;
    attack = *attack
        .set_default(GooseDefault::NoPrintMetrics, true)
        .map_err(goose_err)?;
    attack = *attack
        .set_default(GooseDefault::NoResetMetrics, true)
        .map_err(goose_err)?;
    attack = *attack
        .set_default(GooseDefault::Quiet, 1)
        .map_err(goose_err)?;
    if let Some(p) = report {
        attack = *attack
            .set_default(GooseDefault::ReportFile, p.to_string_lossy().as_ref())
            .map_err(goose_err)?;
    }
    Ok(attack)
}

/// The https:// URLs a scenario asks for need the `https` feature; without
/// it the client has no TLS stack, and would fail every request with a
/// connection error instead of saying why.
fn check_tls(target: &umpire_sim::load::Target) -> Result<(), LoadError> {
    let ready = target.process.as_ref().and_then(|p| p.ready.url.as_deref());
    let tls = [target.host.as_deref(), ready]
        .into_iter()
        .flatten()
        .find(|url| url.starts_with("https://"));
    match tls {
        Some(url) if !cfg!(feature = "https") => Err(LoadError::BadInput(format!(
            "`{url}` is an https:// URL, but this umpire was built without the `https` \
             cargo feature (rebuild with `cargo build --release --features https`)"
        ))),
        _ => {
            // reqwest's `rustls-no-provider` uses the process's default
            // provider; installing it twice (a second run in this process)
            // is refused harmlessly.
            #[cfg(feature = "https")]
            let _ = rustls::crypto::ring::default_provider().install_default();
            Ok(())
        }
    }
}

/// Run the load test. `on_start` is told the base URL once the target is up.
pub async fn run(plan: LoadPlan, on_start: impl FnOnce(&str)) -> Result<LoadResult, LoadError> {
    run_counted(plan, on_start).await.map(|(r, _)| r)
}

/// [`run`], and the number of requests goose's own metrics (and its report)
/// counted, when goose ended the attack itself (None when the run was
/// stopped: by the hard stop, or because a managed target ended).
pub async fn run_counted(
    plan: LoadPlan,
    on_start: impl FnOnce(&str),
) -> Result<(LoadResult, Option<u64>), LoadError> {
    let s = plan.scenario.clone();
    check_tls(&s.target)?;
    let Targets {
        experiments,
        bandits,
        shares,
    } = targets(&s, &plan.serve)?;
    let best_arms: Vec<(String, Option<usize>)> = bandits
        .iter()
        .map(|b| (b.name.clone(), b.best_arm))
        .collect();
    // A managed target fills in its port: from here on, `s.target.host` is
    // its base URL.
    let (s, mut managed) = target::start(s, plan.log_dir.as_deref()).await?;
    let host_parts = s.target.host_parts();
    let api = CompiledApi::new(&s.api).map_err(|e| LoadError::BadInput(e.to_string()))?;
    let (base, base_path, running) = start_target(&plan, &s, &api).await?;
    on_start(&base);
    let recorder = Recorder::new(
        &experiments
            .iter()
            .map(|e| e.variants.len())
            .collect::<Vec<_>>(),
    )
    .map_err(goose_err)?
    .with_window(window_seconds(
        s.traffic.ramp_up_seconds + s.traffic.duration_seconds,
    ));
    let origin = host_parts.map_or(base.as_str(), |(o, _)| o);
    let shared = Arc::new(Shared::new(
        s.clone(),
        experiments,
        bandits,
        plan.token.clone(),
        origin,
        base_path,
        api,
        recorder,
    ));
    let users = s.traffic.users as usize;
    // Users per second. A ramp-up under a millisecond starts all users at
    // once, and validation caps the ramp-up well inside goose's slowest
    // rate (one user a day).
    let hatch = users as f64 / s.traffic.ramp_up_seconds.max(1e-3);
    // goose counts whole seconds; the users stop sending at the exact
    // duration (see `GRACE`).
    let run_time = s.traffic.duration_seconds.ceil().max(1.0) as usize;
    let attack = GooseAttack::initialize_with_config(GooseConfiguration::default())
        .map_err(goose_err)?
        .register_scenario(
            Scenario::new("umpire").register_transaction(transaction::transaction(shared.clone())),
        );
    let attack = configure(
        attack,
        origin,
        users,
        hatch,
        run_time,
        plan.goose_report.as_ref(),
    )?;
    // goose's own run timer starts only once every user is launched, so
    // with many users it can end well after the window. A hard stop one
    // grace after the cut-off bounds the run whatever goose does: no
    // request is sent or awaited by then, and only goose's own report
    // (not written when stopped) is lost.
    let hard_stop = shared.cut_off + GRACE;
    let probe = self_check::start(
        shared.start + Duration::from_secs_f64(s.traffic.ramp_up_seconds),
        shared.send_until,
    );
    let attack = attack.execute();
    tokio::pin!(attack);
    let executed = tokio::select! {
        r = &mut attack => r.map(|m| Some(goose_requests(&m))),
        () = tokio::time::sleep_until(hard_stop.into()) => Ok(None),
        // A managed target ended: cancel the users,
        // which would go on sending to it, and give them a grace to stop.
        // `target.stop` below says what happened.
        () = target::watch(managed.as_mut()) => {
            goose::trigger_killswitch("the managed target ended");
            let _ = tokio::time::timeout(GRACE, &mut attack).await;
            Ok(None)
        }
    };
    let seconds = shared.start.elapsed().as_secs_f64();
    if let Some(r) = running {
        r.shutdown().await?;
    }
    if let Some(m) = managed {
        m.stop().await?;
    }
    let goose_count = executed.map_err(goose_err)?;
    let target = if s.target.host.is_some() {
        base
    } else {
        format!("in-process reference server ({base})")
    };
    let mut rec = shared
        .recorder
        .lock()
        .map_err(|_| LoadError::Goose("a recorder lock was poisoned".into()))?;
    probe.finish(&mut rec);
    // Users stop sending at the end of the window; measure rates over it,
    // not over the grace and the shutdown that follow.
    let seconds = seconds.min(s.traffic.ramp_up_seconds + s.traffic.duration_seconds);
    let result = build::build(Measured {
        scenario: &s,
        provenance: plan.provenance,
        target,
        recorder: &rec,
        seconds,
        experiments: shares,
        bandits: best_arms,
        goose_report: plan.goose_report.as_ref().map(|p| p.display().to_string()),
    });
    Ok((result, goose_count))
}

/// Requests goose counted, over every request name.
fn goose_requests(m: &goose::metrics::GooseMetrics) -> u64 {
    m.requests
        .values()
        .map(|r| (r.success_count + r.fail_count) as u64)
        .sum()
}

/// A bandit's contexts with their truth and the simulator's segment
/// thresholds (empty unless the config knows every context's weight and
/// means).
fn load_contexts(b: &umpire_sim::serve::ServedBandit) -> Vec<LoadContext> {
    let total: f64 = b.context_truth.iter().map(|t| t.weight).sum();
    if b.context_truth.len() != b.contexts.len() || !(total > 0.0 && total.is_finite()) {
        return Vec::new();
    }
    let thresholds = umpire_sim::rng::segment_thresholds(b.context_truth.iter().map(|t| t.weight));
    b.contexts
        .iter()
        .zip(&b.context_truth)
        .zip(thresholds)
        .map(|((name, t), threshold)| LoadContext {
            name: name.clone(),
            threshold,
            means: t.means.clone(),
        })
        .collect()
}
