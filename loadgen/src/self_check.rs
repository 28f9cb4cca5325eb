//! The generator's direct self-check: a probe task on the generator's own
//! runtime that sleeps a short fixed interval in a loop and records how late
//! each wake-up is, and the CPU time of the generator's threads from the
//! kernel's per-thread accounting. A send lag alone cannot see saturation:
//! a runtime with more ready tasks than it can poll still sends on time
//! while responses wait unread, which inflates the measured latency; a late
//! probe and threads that never idle show it directly.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::task::JoinHandle;
use umpire_sim::load::recorder::{CpuUse, Recorder, new_histogram};

/// How long the probe sleeps between wake-ups.
pub const PROBE_INTERVAL: Duration = Duration::from_millis(1);

/// Name prefix of an in-process server's own threads, which are not the
/// generator's.
pub const SERVER_THREAD_NAME: &str = "umpire-serve";

/// What the probe has measured so far: wake-up lags (µs) and the CPU use
/// over its window, once the window has ended.
#[derive(Default)]
struct Measures {
    wake_lag: Option<Histogram<u64>>,
    cpu: Option<CpuUse>,
}

/// The running probe; [`SelfCheck::finish`] hands its measures to the recorder.
pub struct SelfCheck {
    task: JoinHandle<()>,
    measures: Arc<Mutex<Measures>>,
}

/// Per thread id: (ns on a CPU, ns runnable but waiting for one).
type Threads = HashMap<String, (u64, u64)>;

/// Start probing on the current runtime over `from..until` (the steady part
/// of the sending window): the probe ends by itself at `until`.
pub fn start(from: Instant, until: Instant) -> SelfCheck {
    let measures = Arc::new(Mutex::new(Measures {
        wake_lag: new_histogram().ok(),
        cpu: None,
    }));
    let m = measures.clone();
    let task = tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        let started = Instant::now();
        let before = threads();
        let mut second = (started, before.clone());
        let mut busy_by_second = Vec::new();
        let mut deadline = started + PROBE_INTERVAL;
        while deadline < until {
            if deadline.saturating_duration_since(second.0) >= Duration::from_secs(1) {
                let now = (Instant::now(), threads());
                if let (Some(b), Some(a)) = (&second.1, &now.1) {
                    let wall = now.0.saturating_duration_since(second.0).as_secs_f64();
                    let c = cpu_use(b, a, wall);
                    busy_by_second.push((c.cpu_seconds + c.wait_seconds) / (wall * c.cores as f64));
                }
                second = now;
            }
            tokio::time::sleep_until(deadline.into()).await;
            let woke = Instant::now();
            let late = woke.saturating_duration_since(deadline);
            if let Ok(mut m) = m.lock()
                && let Some(h) = m.wake_lag.as_mut()
            {
                let _ = h.record((late.as_micros() as u64).clamp(1, 600_000_000));
            }
            deadline = woke + PROBE_INTERVAL;
        }
        let wall = started.elapsed().as_secs_f64();
        let cpu = before.zip(threads()).map(|(b, a)| CpuUse {
            busy_by_second,
            ..cpu_use(&b, &a, wall)
        });
        if let Ok(mut m) = m.lock() {
            m.cpu = cpu;
        }
    });
    SelfCheck { task, measures }
}

impl SelfCheck {
    /// Stop the probe (it may still be running when the run was cut short)
    /// and put what it measured into `rec`.
    pub fn finish(self, rec: &mut Recorder) {
        self.task.abort();
        if let Ok(mut m) = self.measures.lock() {
            if let Some(h) = m.wake_lag.take() {
                rec.wake_lag = h;
            }
            rec.cpu = m.cpu.take();
        }
    }
}

/// The CPU the generator's threads used between two snapshots, over `wall`
/// seconds. A thread born in between counts from zero.
fn cpu_use(before: &Threads, after: &Threads, wall: f64) -> CpuUse {
    let (mut run, mut wait) = (0u64, 0u64);
    for (tid, &(r, w)) in after {
        let (r0, w0) = before.get(tid).copied().unwrap_or((0, 0));
        run += r.saturating_sub(r0);
        wait += w.saturating_sub(w0);
    }
    CpuUse {
        cpu_seconds: run as f64 / 1e9,
        wait_seconds: wait as f64 / 1e9,
        wall_seconds: wall,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get() as u64),
        busy_by_second: Vec::new(),
    }
}

/// Every thread of this process but an in-process server's, with its CPU
/// and run-queue time; None where the platform has no `/proc/self/task`.
fn threads() -> Option<Threads> {
    let mut out = Threads::new();
    for entry in std::fs::read_dir("/proc/self/task").ok()?.flatten() {
        let dir = entry.path();
        let Ok(name) = std::fs::read_to_string(dir.join("comm")) else {
            continue;
        };
        if name.trim_end().starts_with(SERVER_THREAD_NAME) {
            continue;
        }
        let times = std::fs::read_to_string(dir.join("schedstat"))
            .ok()
            .and_then(|s| parse_schedstat(&s))
            .or_else(|| {
                std::fs::read_to_string(dir.join("stat"))
                    .ok()
                    .and_then(|s| parse_stat(&s))
            });
        if let Some(t) = times {
            out.insert(entry.file_name().to_string_lossy().into_owned(), t);
        }
    }
    Some(out)
}

/// `/proc/<pid>/task/<tid>/schedstat`: ns on a CPU, ns waiting on a run
/// queue, time slices.
fn parse_schedstat(s: &str) -> Option<(u64, u64)> {
    let mut f = s.split_whitespace().map(str::parse::<u64>);
    Some((f.next()?.ok()?, f.next()?.ok()?))
}

/// `/proc/<pid>/task/<tid>/stat`: utime and stime (fields 14 and 15, in
/// clock ticks of 1/100 s), after the parenthesised command name, which
/// may itself hold spaces. No run-queue time there.
fn parse_stat(s: &str) -> Option<(u64, u64)> {
    let rest = &s[s.rfind(')')? + 1..];
    let mut f = rest.split_whitespace().skip(11).map(str::parse::<u64>);
    let ticks = f.next()?.ok()? + f.next()?.ok()?;
    Some((ticks * 10_000_000, 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_formats() {
        assert_eq!(
            parse_schedstat("536285620 35019462 105\n"),
            Some((536_285_620, 35_019_462))
        );
        assert_eq!(parse_schedstat("x"), None);
        let stat =
            "16931 (tokio runtime) R 16929 16929 14496 0 -1 4194304 2843 6538 15 1 49 4 3 2 20 0";
        assert_eq!(parse_stat(stat), Some((530_000_000, 0)));
    }

    #[test]
    fn cpu_counts_new_threads_from_zero() {
        let before: Threads = [("1".to_owned(), (1_000_000_000, 0))].into();
        let after: Threads = [
            ("1".to_owned(), (1_500_000_000, 100_000_000)),
            ("2".to_owned(), (250_000_000, 0)),
        ]
        .into();
        let c = cpu_use(&before, &after, 2.0);
        assert!((c.cpu_seconds - 0.75).abs() < 1e-12, "{c:?}");
        assert!((c.wait_seconds - 0.1).abs() < 1e-12, "{c:?}");
    }

    /// A runtime kept busy by tasks that never yield wakes the probe late:
    /// it measures lateness, not only how long it slept.
    #[test]
    fn the_probe_sees_a_blocked_runtime() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let mut rec = Recorder::new(&[]).expect("recorder");
        rt.block_on(async {
            let now = Instant::now();
            let check = start(now, now + Duration::from_millis(300));
            tokio::time::sleep(Duration::from_millis(20)).await;
            // Block the only worker for 100 ms: the probe cannot wake.
            std::thread::sleep(Duration::from_millis(100));
            tokio::time::sleep(Duration::from_millis(400)).await;
            check.finish(&mut rec);
        });
        assert!(rec.wake_lag.max() >= 90_000, "{}", rec.wake_lag.max());
        assert!(rec.cpu.is_some() == cfg!(target_os = "linux"));
    }
}
