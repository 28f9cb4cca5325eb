//! What the generator measures while it runs: latency histograms per
//! endpoint (raw, from the actual send, and corrected, from the intended
//! send), its own schedule lag and saturation signals, requests per second,
//! latency per time window, and the served answers the correctness checks
//! need. umpire-loadgen fills it in; it lives here,
//! beside [`super::result`], which turns it into a result, so that the result
//! and its readers need no HTTP stack.

use std::collections::HashSet;
use std::time::Duration;

use hdrhistogram::{CreationError, Histogram};

/// Request kinds, in the order of [`crate::load::Endpoint`] after Overall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// An assignment request.
    Assign = 0,
    /// A bandit decision.
    Decide = 1,
    /// A bandit reward.
    Reward = 2,
}

impl Kind {
    /// The kind's endpoint key, e.g. `"assign"`.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Assign => "assign",
            Kind::Decide => "decide",
            Kind::Reward => "reward",
        }
    }
}

/// Latencies are recorded in microseconds, from 1 µs to 10 minutes, at 3
/// significant digits.
pub fn new_histogram() -> Result<Histogram<u64>, CreationError> {
    Histogram::new_with_bounds(1, 600_000_000, 3)
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).clamp(1, 600_000_000)
}

/// Most windows a run's timeline has: a run longer than this many seconds
/// gets windows of several whole seconds, so the timeline stays this small.
pub const MAX_WINDOWS: u64 = 600;

/// The timeline's window for a sending window of `seconds` (ramp-up plus
/// duration): one second, or the whole seconds that keep the run within
/// [`MAX_WINDOWS`] windows.
pub fn window_seconds(seconds: f64) -> u64 {
    let whole = if seconds.is_finite() && seconds > 0.0 {
        seconds.ceil() as u64
    } else {
        1
    };
    whole.div_ceil(MAX_WINDOWS).max(1)
}

/// Per-window latencies are kept at 2 significant digits in 32-bit
/// counts: ~12 kB a window, so a timeline stays within a few MB.
fn window_histogram() -> Result<Histogram<u32>, CreationError> {
    Histogram::new_with_bounds(1, 600_000_000, 2)
}

/// What the requests sent in one window of the timeline measured.
pub struct WindowRecord {
    /// Corrected latency (µs) of the requests sent in the window.
    pub corrected: Histogram<u32>,
    /// Requests sent in the window (and completed: each is recorded once answered).
    pub requests: u64,
    /// Those that failed.
    pub errors: u64,
}

/// How far one paced user got through its schedule.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserProgress {
    /// Slots of its schedule inside the sending window.
    pub scheduled: u64,
    /// Requests it sent.
    pub sent: u64,
}

/// The generator's own CPU use over the sending window, from the kernel's
/// per-thread accounting (threads of an in-process server that runs on its
/// own runtime excluded).
#[derive(Clone, Debug, PartialEq)]
pub struct CpuUse {
    /// Seconds the generator's threads ran on a CPU.
    pub cpu_seconds: f64,
    /// Seconds they were runnable but waited for a CPU (0 when the kernel
    /// does not say).
    pub wait_seconds: f64,
    /// Wall seconds measured over.
    pub wall_seconds: f64,
    /// CPUs the process may run on.
    pub cores: u64,
    /// Per whole second of the window: the share of the cores' time the
    /// threads were running or waiting for a CPU. Its median is robust to
    /// the start, while goose is still launching users.
    pub busy_by_second: Vec<f64>,
}

impl CpuUse {
    /// The share of the cores' time the threads were running or waiting for
    /// a CPU: the median second's, or over the whole window when it was
    /// shorter than a second.
    pub fn busy_share(&self) -> Option<f64> {
        let mut by_second = self.busy_by_second.clone();
        by_second.sort_by(f64::total_cmp);
        by_second.get(by_second.len() / 2).copied().or_else(|| {
            let t = self.wall_seconds * self.cores.max(1) as f64;
            (t > 0.0).then(|| (self.cpu_seconds + self.wait_seconds) / t)
        })
    }
}

/// What one request kind measured.
pub struct EndpointRecord {
    /// Latency from the actual send, in microseconds.
    pub raw: Histogram<u64>,
    /// Latency from the intended send, in microseconds (never below raw).
    pub corrected: Histogram<u64>,
    /// Requests completed.
    pub count: u64,
    /// Requests that failed (non-2xx, transport error or timeout).
    pub errors: u64,
}

impl EndpointRecord {
    fn new() -> Result<Self, CreationError> {
        Ok(Self {
            raw: new_histogram()?,
            corrected: new_histogram()?,
            count: 0,
            errors: 0,
        })
    }
}

/// Per experiment: distinct units seen, and their served variants.
pub struct SplitRecord {
    /// Unit numbers (`N` of `user-N`) already counted.
    pub seen: HashSet<u64>,
    /// Per variant, then one more for "not in the experiment".
    pub counts: Vec<u64>,
}

/// Everything the generator measures in one run; shared by its users.
pub struct Recorder {
    /// Per request kind, indexed by [`Kind`].
    pub endpoints: [EndpointRecord; 3],
    /// The generator's own lag: how late a request left beyond both its
    /// intended time and the previous response of its user.
    pub lag: Histogram<u64>,
    /// Requests sent in each second since the start.
    pub per_second: Vec<u64>,
    /// Per experiment assigned in, in the order given to [`Recorder::new`].
    pub splits: Vec<SplitRecord>,
    /// Successful assignments seen (every `parity_every`-th is checked).
    pub assignments: u64,
    /// Assignments compared with umpire-sim's.
    pub parity_checked: u64,
    /// Distinct unit numbers whose assignment was compared.
    pub parity_units: HashSet<u64>,
    /// Compared assignments whose served variant differed.
    pub parity_mismatches: u64,
    /// The first few mismatches, for the report.
    pub parity_examples: Vec<String>,
    /// Decisions: (seconds since start, bandit, arm).
    pub decisions: Vec<(f32, u16, u16)>,
    /// Seconds per timeline window (see [`window_seconds`]).
    pub window_seconds: u64,
    /// The timeline, by the send time of each request, at most
    /// [`MAX_WINDOWS`] + 1 windows (later sends join the last).
    pub windows: Vec<WindowRecord>,
    /// How late the runtime probe woke from each of its short sleeps (µs):
    /// when the generator's runtime is saturated, every ready task waits
    /// about that long, response handling included.
    pub wake_lag: Histogram<u64>,
    /// The generator's CPU use, where the platform tells it.
    pub cpu: Option<CpuUse>,
    /// Per paced user (by goose's user index): its schedule and its sends.
    pub users: Vec<UserProgress>,
}

impl Recorder {
    /// An empty recorder for experiments with these numbers of variants; errs
    /// only if a histogram cannot be created.
    pub fn new(variants_per_experiment: &[usize]) -> Result<Self, CreationError> {
        Ok(Self {
            endpoints: [
                EndpointRecord::new()?,
                EndpointRecord::new()?,
                EndpointRecord::new()?,
            ],
            lag: new_histogram()?,
            per_second: Vec::new(),
            splits: variants_per_experiment
                .iter()
                .map(|&v| SplitRecord {
                    seen: HashSet::new(),
                    counts: vec![0; v + 1],
                })
                .collect(),
            assignments: 0,
            parity_checked: 0,
            parity_units: HashSet::new(),
            parity_mismatches: 0,
            parity_examples: Vec::new(),
            decisions: Vec::new(),
            window_seconds: 1,
            windows: Vec::new(),
            wake_lag: new_histogram()?,
            cpu: None,
            users: Vec::new(),
        })
    }

    /// The same recorder with timeline windows of `seconds` (at least 1).
    #[must_use]
    pub fn with_window(mut self, seconds: u64) -> Self {
        self.window_seconds = seconds.max(1);
        self
    }

    /// Paced user `index` has `scheduled` slots inside the sending window.
    pub fn user_scheduled(&mut self, index: usize, scheduled: u64) {
        self.user(index).scheduled = scheduled;
    }

    /// Paced user `index` sent a request.
    pub fn user_sent(&mut self, index: usize) {
        self.user(index).sent += 1;
    }

    fn user(&mut self, index: usize) -> &mut UserProgress {
        if self.users.len() <= index {
            self.users.resize(index + 1, UserProgress::default());
        }
        &mut self.users[index]
    }

    /// The window a request sent `sent_at` seconds after the start belongs to.
    fn window(&mut self, sent_at: f64) -> Option<&mut WindowRecord> {
        let i = ((sent_at.max(0.0) / self.window_seconds as f64) as u64).min(MAX_WINDOWS) as usize;
        while self.windows.len() <= i {
            let corrected = window_histogram().ok()?;
            self.windows.push(WindowRecord {
                corrected,
                requests: 0,
                errors: 0,
            });
        }
        self.windows.get_mut(i)
    }

    /// One completed request: `raw` from the actual send, `corrected` from
    /// the intended send, `lag` the generator's own delay, `sent_at` seconds
    /// since the start.
    pub fn request(
        &mut self,
        kind: Kind,
        ok: bool,
        raw: Duration,
        corrected: Duration,
        lag: Duration,
        sent_at: f64,
    ) {
        let e = &mut self.endpoints[kind as usize];
        e.count += 1;
        e.errors += u64::from(!ok);
        // Values are clamped into the histogram's range, so recording cannot fail.
        let _ = e.raw.record(micros(raw));
        let _ = e.corrected.record(micros(corrected.max(raw)));
        let _ = self.lag.record(micros(lag));
        let second = sent_at.max(0.0) as usize;
        if self.per_second.len() <= second {
            self.per_second.resize(second + 1, 0);
        }
        self.per_second[second] += 1;
        if let Some(w) = self.window(sent_at) {
            w.requests += 1;
            w.errors += u64::from(!ok);
            let _ = w.corrected.record(micros(corrected.max(raw)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_whole_seconds_and_at_most_600() {
        assert_eq!(window_seconds(6.0), 1);
        assert_eq!(window_seconds(0.2), 1);
        assert_eq!(window_seconds(600.0), 1);
        assert_eq!(window_seconds(600.5), 2);
        assert_eq!(window_seconds(86_400.0), 144);
        assert_eq!(window_seconds(f64::NAN), 1);
        for secs in [1.0, 59.5, 601.0, 3599.9, 86_400.0] {
            let w = window_seconds(secs);
            assert!(
                (secs / w as f64).ceil() as u64 <= MAX_WINDOWS,
                "{secs} s: {w}"
            );
        }
    }

    /// Requests land in the window of their send time; a window counts its
    /// requests and errors and keeps their corrected latency; sends past
    /// the last window join it, so memory stays bounded.
    #[test]
    fn requests_land_in_the_window_of_their_send_time() {
        let mut rec = Recorder::new(&[]).expect("recorder").with_window(2);
        let ms = Duration::from_millis;
        for (sent_at, ok, corrected) in [
            (0.1, true, 1),
            (1.9, false, 3),
            (2.0, true, 500),
            (5.5, true, 2),
            (1e9, true, 7),
        ] {
            rec.request(Kind::Assign, ok, ms(1), ms(corrected), ms(0), sent_at);
        }
        let counts: Vec<(u64, u64)> = rec.windows.iter().map(|w| (w.requests, w.errors)).collect();
        assert_eq!(rec.windows.len(), MAX_WINDOWS as usize + 1);
        assert_eq!(&counts[..3], &[(2, 1), (1, 0), (1, 0)]);
        assert_eq!(counts[MAX_WINDOWS as usize], (1, 0));
        assert_eq!(counts.iter().map(|c| c.0).sum::<u64>(), 5);
        // Raw 1 ms is the floor of corrected: 1 and 3 ms in the first window.
        let first = &rec.windows[0].corrected;
        assert_eq!((first.min() / 100, first.max() / 100), (10, 30));
        assert!(rec.windows[1].corrected.value_at_quantile(0.99) >= 495_000);
    }
}
