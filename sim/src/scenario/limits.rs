//! Caps on what an experiment or bandit scenario may ask for, so that every
//! scenario that validates runs in bounded memory and bounded time, and every
//! number the engine derives from it stays finite.
//!
//! Per-key caps bound memory (what is allocated per look, arm, policy or
//! pending reward); the work caps bound time (products of sizes that each pass
//! alone). The table in scenarios/README.md lists them with their reasons.
//! `umpire run --replications` changes the work after validation, so the
//! binary checks overridden scenarios with [`check_experiment`] and
//! [`check_bandit`], the same functions validation uses.

use crate::bandit::model::BanditScenario;
use crate::experiment::{Experiment, LookSchedule};

/// Replications of any simulation. Memory does not grow with them (runs fold
/// chunk by chunk); the work caps below bound their time.
pub const MAX_REPLICATIONS: u64 = 10_000_000;

/// Units per experiment replication. Per-unit loops keep u64 counts and f64
/// sums: 10^9 units of a metric whose values stay under 10^19 in magnitude
/// (see [`MAX_MAGNITUDE`]) sum to at most 10^47, far from f64's limit.
pub const MAX_USERS: u64 = 1_000_000_000;

/// The arrival window in days: arrivals keep one share per day and draw one
/// binomial per day and replication, so a window of 10^300 days panicked and
/// one of 10^9 days allocated 8 GB.
pub const MAX_DURATION_DAYS: f64 = 10_000.0;

/// Metrics of an experiment.
pub const MAX_METRICS: usize = 100;

/// Looks of an experiment (a look after every 100 units of a million-unit
/// population).
pub const MAX_LOOKS: u64 = 10_000;

/// Analysis methods of an experiment.
pub const MAX_METHODS: usize = 32;

/// Methods × comparisons (comparisons = metrics × treatment variants). Each
/// holds a 1000-bin p-value histogram (8 KB) in the accumulator and in the
/// result JSON, so 10,000 cells are about 80 MB of accumulators and 150 MB of
/// JSON.
pub const MAX_CELLS: u64 = 10_000;

/// Looks × the larger of (methods × comparisons) and (variants × metrics):
/// every look keeps a rejection count and a sample-size sum per cell in the
/// accumulator (40 bytes) and per worker the cumulative statistics of every arm
/// and metric (48 bytes), so 10^6 look-cells are at most 48 MB per worker.
pub const MAX_LOOK_CELLS: u64 = 1_000_000;

/// The magnitude cap of metric values and Gaussian arm means (see its
/// reasons there): defined with the distributions it bounds, so that `metric`
/// does not depend on the scenario reader, and listed here with the other caps.
pub use crate::metric::MAX_MAGNITUDE;

/// Experiment work: replications × users × metrics, the draws of the per-unit
/// path (the aggregate path does less). The shipped per-unit scenarios ran at
/// 2–7·10^7 draws per second on two busy cores, so this is at most about an
/// hour; the largest shipped scenario needs 1.4·10^10.
pub const MAX_UNIT_DRAWS: f64 = 1e11;

/// Experiment work: replications × looks × methods × comparisons, the tests
/// evaluated. The shipped sequential scenarios ran at 1.6–2.5·10^6 per second
/// (with their simulation) on two busy cores, so this is at most about an
/// hour and a half; they need 10^6.
pub const MAX_LOOK_TESTS: f64 = 1e10;

/// Experiment work with `looks_at = "days"`: replications × ⌈duration_days⌉,
/// the binomial draws (and per-day counts) of the arrival schedule, made
/// whatever the number of users. Each cap alone allowed 10^7 × 10^4 = 10^11.
/// 10^7 of them (10^3 replications × 10^4 days, at 10^3 or 10^8 users) took
/// 0.5 s on two busy cores, so this is at most about 10 minutes.
pub const MAX_DAY_DRAWS: f64 = 1e10;

/// Steps per bandit replication. The loop counter and the checkpoints are u64;
/// 2^63 − 1 steps ran for ever.
pub const MAX_HORIZON: u64 = 1_000_000_000;

/// Arms of a bandit scenario. Every checkpoint keeps a pull share per arm and
/// policy in the accumulator and in the JSON; 10^6 arms took 1.3 GB.
pub const MAX_ARMS: usize = 1000;

/// Policies of a bandit scenario.
pub const MAX_POLICIES: usize = 64;

/// Segments of an experiment population or a bandit environment.
pub const MAX_SEGMENTS: usize = 200;

/// Abrupt changes of a bandit environment (each holds one mean per arm).
pub const MAX_CHANGES: usize = 1000;

/// Rewards a bandit policy may hold back at once: a delay (fixed, or the
/// maximum of a uniform one), a batch (`update_every`) or a sliding window.
/// Each is 16–32 bytes per worker, so 10^6 is at most 32 MB per worker.
pub const MAX_PENDING: u64 = 1_000_000;

/// Bandit work: replications × horizon × policies × arms (selecting an arm
/// costs about one operation per arm for the index and Thompson policies).
/// The shipped scenarios ran at about 10^7 arm-steps per second on two busy
/// cores (KL-UCB is the slowest), so this is at most about 20 minutes; they
/// need at most 1.8·10^8.
pub const MAX_ARM_STEPS: f64 = 1e10;

/// Replications × (horizon × largest gap)²: the sum of squared regrets over
/// replications, kept in exact fixed point, must stay below its ±1.5·10^26
/// range. Bernoulli arms (gaps ≤ 1) are always far below it.
pub const MAX_REGRET_SQUARES: f64 = 1e26;

/// Steps `umpire run --replication N --trace` may print per policy.
pub const MAX_TRACE_STEPS: usize = 1_000_000;

/// `1e12`-style rendering for messages.
fn sci(x: f64) -> String {
    if x < 1e6 {
        format!("{x}")
    } else {
        format!("{x:.2e}").replace(".00e", "e")
    }
}

/// Whether the experiment's sizes fit the caps that depend on several keys
/// (and on `--replications`); the message says what was estimated.
pub fn check_experiment(exp: &Experiment) -> Result<(), String> {
    let r = exp.replications as f64;
    let metrics = exp.metrics.len() as f64;
    // Per-event metrics draw per event too: each adds E[m] per user.
    let draws = r * exp.population.users as f64 * exp.draws_per_user().max(metrics);
    if exp.replications > MAX_REPLICATIONS {
        return Err(format!(
            "{} replications is over the cap of {}",
            exp.replications,
            sci(MAX_REPLICATIONS as f64)
        ));
    }
    if draws > MAX_UNIT_DRAWS {
        return Err(format!(
            "estimated work {} replications × {} users × {} metrics{} = {} unit draws is over the cap of {}",
            exp.replications,
            exp.population.users,
            exp.metrics.len(),
            if exp.is_clustered() {
                format!(
                    " (with their events: {:.3} draws per user)",
                    exp.draws_per_user()
                )
            } else {
                String::new()
            },
            sci(draws),
            sci(MAX_UNIT_DRAWS)
        ));
    }
    if exp.analysis.looks_at == LookSchedule::Days {
        let days = exp.population.duration_days.ceil().max(1.0);
        let day_draws = r * days;
        if day_draws > MAX_DAY_DRAWS {
            return Err(format!(
                "estimated work {} replications × {} days (looks_at = \"days\") = {} arrival draws is over the cap of {}",
                exp.replications,
                days,
                sci(day_draws),
                sci(MAX_DAY_DRAWS)
            ));
        }
    }
    let comparisons = exp.comparisons().len() as f64;
    let tests = r * exp.analysis.looks as f64 * exp.methods.len() as f64 * comparisons;
    if tests > MAX_LOOK_TESTS {
        return Err(format!(
            "estimated work {} replications × {} looks × {} methods × {} comparisons = {} tests is over the cap of {}",
            exp.replications,
            exp.analysis.looks,
            exp.methods.len(),
            comparisons,
            sci(tests),
            sci(MAX_LOOK_TESTS)
        ));
    }
    Ok(())
}

/// The memory caps of an experiment that depend on several keys: methods ×
/// comparisons, and looks × cells.
pub fn check_experiment_shape(exp: &Experiment) -> Result<(), String> {
    let methods = exp.methods.len() as u64;
    let comparisons = exp.comparisons().len() as u64;
    let cells = methods * comparisons;
    if cells > MAX_CELLS {
        return Err(format!(
            "{methods} methods × {comparisons} comparisons (metrics × treatment variants) = {cells} is over the cap of {MAX_CELLS}"
        ));
    }
    let arm_cells = (exp.arms() * exp.metrics.len()) as u64;
    let looks = exp.analysis.looks as u64;
    let look_cells = looks * cells.max(arm_cells);
    if look_cells > MAX_LOOK_CELLS {
        return Err(format!(
            "{looks} looks × {} cells = {look_cells} is over the cap of {}",
            cells.max(arm_cells),
            sci(MAX_LOOK_CELLS as f64)
        ));
    }
    Ok(())
}

/// The largest gap between arm means at any step or in any segment: the most
/// pseudo-regret one step can add.
fn max_gap(s: &BanditScenario) -> f64 {
    let spread = |m: &[f64]| {
        let hi = m.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let lo = m.iter().copied().fold(f64::INFINITY, f64::min);
        (hi - lo).max(0.0)
    };
    let env = &s.env;
    let mut gap = spread(&env.means);
    for c in &env.changes {
        gap = gap.max(spread(&c.means));
    }
    // Drift moves the means linearly between two vectors, and the spread of a
    // convex combination is at most the larger of the two spreads.
    if let Some(d) = &env.drift_to {
        gap = gap.max(spread(d));
    }
    for seg in &env.segments {
        gap = gap.max(spread(&seg.means));
    }
    gap
}

/// Whether the bandit scenario's sizes fit the caps that depend on several
/// keys (and on `--replications`).
pub fn check_bandit(s: &BanditScenario) -> Result<(), String> {
    if s.replications > MAX_REPLICATIONS {
        return Err(format!(
            "{} replications is over the cap of {}",
            s.replications,
            sci(MAX_REPLICATIONS as f64)
        ));
    }
    let r = s.replications as f64;
    let h = s.env.horizon as f64;
    let work = r * h * s.policies.len() as f64 * s.env.arms() as f64;
    if work > MAX_ARM_STEPS {
        return Err(format!(
            "estimated work {} replications × horizon {} × {} policies × {} arms = {} arm-steps is over the cap of {}",
            s.replications,
            s.env.horizon,
            s.policies.len(),
            s.env.arms(),
            sci(work),
            sci(MAX_ARM_STEPS)
        ));
    }
    let top = h * max_gap(s);
    let squares = r * top * top;
    if squares > MAX_REGRET_SQUARES {
        return Err(format!(
            "regret can reach horizon × largest gap = {}; over {} replications its squares sum to {}, over the cap of {} (use smaller means, a shorter horizon or fewer replications)",
            sci(top),
            s.replications,
            sci(squares),
            sci(MAX_REGRET_SQUARES)
        ));
    }
    Ok(())
}
