//! The managed target's lifecycle: pick its port, start its command in a
//! process group of its own with its output in log files, wait until its
//! ready URL answers 2xx, watch it during the run, and stop the whole group
//! (SIGTERM, then SIGKILL after the grace). A target that exits early or
//! never gets ready is a [`TargetError`] carrying the tail of its logs.
//!
//! Signals go through `nix` (a safe `killpg`), since the workspace forbids
//! unsafe code. A [`Managed`] that is dropped unstopped (an error, a panic)
//! kills its group synchronously, so no path out of a run leaves the target
//! behind. From the first managed target on, umpire's own SIGINT, SIGTERM
//! and SIGHUP are caught on a thread of their own, which stops the running
//! targets before umpire exits as the signal would.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::signal::unix::{SignalKind, signal};
use umpire_sim::load::LoadScenario;
use umpire_sim::load::process::{PORT_ENV, Port, Process, with_port};

/// How often the ready URL is polled and the target's liveness checked.
const POLL: Duration = Duration::from_millis(100);
/// How long a group may take to vanish after SIGKILL (the kernel reaps
/// promptly; this only bounds a stuck zombie).
const KILL_WAIT: Duration = Duration::from_secs(2);
/// Lines of each log shown when a target fails.
pub const TAIL_LINES: usize = 20;
/// Bytes read from the end of a log for its tail: enough for
/// [`TAIL_LINES`] long lines, without reading a huge log whole.
const TAIL_BYTES: u64 = 64 * 1024;

/// Why a managed target failed. Each is the user's input (the command, its
/// program, its configuration), so the binary exits with 2.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The program could not be started (not found, not executable, bad cwd).
    #[error("cannot start `{program}`: {message}")]
    Spawn {
        /// `command[0]` as written.
        program: String,
        /// The operating system's reason.
        message: String,
    },
    /// No free port for `port = "auto"`, or a log file that cannot be created.
    #[error("{0}")]
    Setup(String),
    /// The target's process ended before its ready URL answered.
    #[error("the target `{command}` exited before it was ready ({status}){tail}")]
    ExitedBeforeReady {
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// The last lines of its logs.
        tail: String,
    },
    /// The ready URL did not answer 2xx within the timeout.
    #[error(
        "the target `{command}` was not ready within {seconds} s: GET {url}: {last}; it was stopped{tail}"
    )]
    NotReady {
        /// The command line.
        command: String,
        /// The ready timeout.
        seconds: f64,
        /// The ready URL.
        url: String,
        /// The last answer or error.
        last: String,
        /// The last lines of its logs.
        tail: String,
    },
    /// The target's process ended while the load ran; the run was cut short.
    #[error("the target `{command}` exited during the run ({status}); the run was stopped{tail}")]
    ExitedDuringRun {
        /// The command line.
        command: String,
        /// How it ended.
        status: String,
        /// The last lines of its logs.
        tail: String,
    },
}

/// Make a managed target's `cwd` relative to `dir` (the scenario file's
/// directory), as every path in a scenario is. Without `cwd`, the target
/// runs in `dir`.
pub fn anchor(scenario: &mut LoadScenario, dir: &Path) {
    if let Some(p) = scenario.target.process.as_mut() {
        let cwd = dir.join(p.cwd.as_deref().unwrap_or(""));
        p.cwd = (!cwd.as_os_str().is_empty()).then(|| cwd.display().to_string());
    }
}

/// The port `port = "auto"` stands for: a free one on 127.0.0.1, found by
/// binding port 0. The listener is dropped before the target starts, so
/// another process could take the port in between; the target then fails
/// to listen, which the ready wait reports with its logs.
fn pick_port(port: Option<Port>) -> Result<Option<u16>, TargetError> {
    match port {
        None => Ok(None),
        Some(Port::Fixed(p)) => Ok(Some(p)),
        Some(Port::Auto) => std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .map(|a| Some(a.port()))
            .map_err(|e| TargetError::Setup(format!("cannot pick a free port on 127.0.0.1: {e}"))),
    }
}

/// The scenario with the port filled in wherever `{port}` stands.
fn with_port_filled(mut s: LoadScenario, port: Option<u16>) -> LoadScenario {
    s.target.host = s.target.host.map(|h| with_port(&h, port));
    if let Some(p) = s.target.process.as_mut() {
        for arg in &mut p.command {
            *arg = with_port(arg, port);
        }
        for (_, value) in &mut p.env {
            *value = with_port(value, port);
        }
        p.ready.url = p.ready.url.as_deref().map(|u| with_port(u, port));
    }
    s
}

/// Where the target's stdout and stderr go.
struct Logs {
    out: PathBuf,
    err: PathBuf,
}

/// The reason an I/O error gives, without Rust's ` (os error N)` suffix.
fn reason(e: &std::io::Error) -> String {
    reason_text(&e.to_string())
}

/// The last [`TAIL_LINES`] lines of a log, read from its end.
fn tail_of(path: &Path) -> std::io::Result<Vec<String>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    f.seek(SeekFrom::Start(len.saturating_sub(TAIL_BYTES)))?;
    let mut bytes = Vec::new();
    f.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(TAIL_LINES);
    Ok(lines[from..].iter().map(|l| (*l).to_owned()).collect())
}

/// The tail of both logs (stderr first), as it follows an error message.
fn tails(logs: Option<&Logs>) -> String {
    let Some(logs) = logs else {
        return "\n  (its output was not kept: the run has no log directory)".to_owned();
    };
    let mut out = String::new();
    for (name, path) in [("stderr", &logs.err), ("stdout", &logs.out)] {
        match tail_of(path) {
            Ok(lines) if lines.is_empty() => {
                out.push_str(&format!("\n  its {name} ({}) is empty", path.display()));
            }
            Ok(lines) => {
                out.push_str(&format!(
                    "\n  last lines of its {name} ({}):",
                    path.display()
                ));
                for l in lines {
                    out.push_str("\n    ");
                    out.push_str(&l);
                }
            }
            Err(e) => out.push_str(&format!(
                "\n  its {name} ({}) cannot be read: {}",
                path.display(),
                reason(&e)
            )),
        }
    }
    out
}

/// The target's process group: its leader (the command), and whether the
/// group has been stopped.
struct Group {
    child: Child,
    pgid: Pid,
    /// How the leader ended, once reaped.
    status: Option<ExitStatus>,
    grace: Duration,
    stopped: bool,
}

impl Group {
    /// How the leader ended, if it has (reaping it).
    fn exited(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().ok().flatten();
        }
        self.status
    }

    /// The leader is reaped and no process of the group is left.
    fn gone(&mut self) -> bool {
        self.exited().is_some() && killpg(self.pgid, None) == Err(Errno::ESRCH)
    }

    /// SIGTERM to the whole group, SIGKILL after the grace, and wait (a
    /// bounded time) until the group is gone.
    async fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        self.signal_group().await;
        forget(self.pgid);
    }

    async fn signal_group(&mut self) {
        // ESRCH: the group is already gone; nothing else can fail for a
        // group we started.
        let _ = killpg(self.pgid, Signal::SIGTERM);
        let deadline = Instant::now() + self.grace;
        while Instant::now() < deadline {
            if self.gone() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let _ = killpg(self.pgid, Signal::SIGKILL);
        let deadline = Instant::now() + KILL_WAIT;
        while !self.gone() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Group {
    /// The last resort: an unstopped group is killed at once, and its leader
    /// reaped, without waiting on the async runtime.
    fn drop(&mut self) {
        if self.stopped {
            return;
        }
        let _ = killpg(self.pgid, Signal::SIGKILL);
        let deadline = Instant::now() + KILL_WAIT;
        while !self.gone() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        forget(self.pgid);
    }
}

/// The process groups of the managed targets that run now, for the signal
/// listener to stop.
static RUNNING: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

/// Whether the signal listener runs (or why it could not start).
static LISTENER: OnceLock<Result<(), String>> = OnceLock::new();

fn running() -> std::sync::MutexGuard<'static, Vec<Pid>> {
    RUNNING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Catch umpire's own SIGINT, SIGTERM and SIGHUP, once per process, on a
/// thread of their own: on one, stop every running target's group
/// (SIGTERM, SIGKILL a second later) and exit as the signal would have
/// (128 + its number). Without this a signal would end umpire and leave
/// the target (in a group of its own) running. The listener stays for the
/// rest of the process, so the signals keep ending umpire after the run.
/// goose takes SIGINT over while its attack runs (its Ctrl-C ends the
/// attack early; the target is then stopped as after any run).
fn listen_for_signals() -> Result<(), TargetError> {
    LISTENER
        .get_or_init(|| {
            let (tx, rx) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("umpire-target-signals".into())
                .spawn(move || {
                    let rt = match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        Ok(rt) => rt,
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    rt.block_on(async move {
                        let on = |kind| signal(kind).map_err(|e| e.to_string());
                        let (mut int, mut term, mut hup) = match (
                            on(SignalKind::interrupt()),
                            on(SignalKind::terminate()),
                            on(SignalKind::hangup()),
                        ) {
                            (Ok(i), Ok(t), Ok(h)) => (i, t, h),
                            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => {
                                let _ = tx.send(Err(e));
                                return;
                            }
                        };
                        let _ = tx.send(Ok(()));
                        let (name, number) = tokio::select! {
                            _ = int.recv() => ("SIGINT", 2),
                            _ = term.recv() => ("SIGTERM", 15),
                            _ = hup.recv() => ("SIGHUP", 1),
                        };
                        stop_all_and_exit(name, number);
                    });
                });
            match spawned {
                Ok(_) => rx
                    .recv()
                    .unwrap_or_else(|_| Err("the signal listener ended".into())),
                Err(e) => Err(e.to_string()),
            }
        })
        .clone()
        .map_err(|e| TargetError::Setup(format!("cannot catch signals: {e}")))
}

/// Set by the signal listener before it stops the targets: a target that
/// then ends was ended by umpire, not by itself.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// When umpire was interrupted, the target's end is the listener's doing,
/// and the listener is about to exit with the signal's code: wait for it,
/// rather than race it with an error of our own (exit 2).
async fn defer_to_interrupt() {
    if INTERRUPTED.load(Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
}

/// A stopped group is no longer the signal listener's to stop.
fn forget(pgid: Pid) {
    running().retain(|&g| g != pgid);
}

/// What a caught signal does: stop every running target, then exit.
fn stop_all_and_exit(name: &str, number: i32) -> ! {
    INTERRUPTED.store(true, Ordering::SeqCst);
    let groups = running().clone();
    for &g in &groups {
        let _ = killpg(g, Signal::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < deadline && groups.iter().any(|&g| killpg(g, None) != Err(Errno::ESRCH))
    {
        std::thread::sleep(Duration::from_millis(10));
    }
    for &g in &groups {
        let _ = killpg(g, Signal::SIGKILL);
    }
    if !groups.is_empty() {
        eprintln!("umpire: interrupted by {name}; the managed target was stopped");
    }
    std::process::exit(128 + number);
}

/// A started target: its process group and its logs.
pub struct Managed {
    group: Group,
    command: String,
    logs: Option<Logs>,
}

/// The command line as messages show it.
fn command_line(argv: &[String]) -> String {
    const MAX: usize = 120;
    let line = argv.join(" ");
    if line.chars().count() > MAX {
        format!("{}…", line.chars().take(MAX).collect::<String>())
    } else {
        line
    }
}

/// Create the log files `<dir>/<scenario>-target.{out,err}.log`.
fn open_logs(dir: &Path, scenario: &str) -> Result<(Logs, File, File), TargetError> {
    let create = |path: &Path| {
        File::create(path).map_err(|e| {
            TargetError::Setup(format!(
                "cannot create the target's log {}: {}",
                path.display(),
                reason(&e)
            ))
        })
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        TargetError::Setup(format!("cannot create {}: {}", dir.display(), reason(&e)))
    })?;
    let logs = Logs {
        out: dir.join(format!("{scenario}-target.out.log")),
        err: dir.join(format!("{scenario}-target.err.log")),
    };
    let (out, err) = (create(&logs.out)?, create(&logs.err)?);
    Ok((logs, out, err))
}

/// Start the command in a process group of its own.
fn spawn(p: &Process, port: Option<u16>, out: Stdio, err: Stdio) -> Result<Child, TargetError> {
    let program = &p.command[0];
    let spawn_error = |message: String| TargetError::Spawn {
        program: program.clone(),
        message,
    };
    let cwd = p.cwd.as_deref().map(Path::new);
    if let Some(dir) = cwd
        && !dir.is_dir()
    {
        return Err(spawn_error(format!(
            "its cwd {} is not a directory",
            dir.display()
        )));
    }
    // A program path with a `/` is taken relative to the target's cwd, made
    // absolute here: whether the OS resolves a relative one before or after
    // changing directory is platform-specific. A bare name is looked up in
    // PATH.
    let resolved = match cwd {
        Some(dir) if program.contains('/') => {
            std::path::absolute(dir.join(program)).map_err(|e| spawn_error(reason(&e)))?
        }
        _ => PathBuf::from(program),
    };
    let mut cmd = Command::new(resolved);
    cmd.args(&p.command[1..])
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    if let Some(port) = port {
        cmd.env(PORT_ENV, port.to_string());
    }
    cmd.envs(p.env.iter().map(|(k, v)| (k, v)));
    cmd.spawn().map_err(|e| spawn_error(reason(&e)))
}

impl Managed {
    /// How the leader ended, as messages say it.
    fn status(&mut self) -> String {
        self.group
            .exited()
            .map_or_else(|| "still running".to_owned(), |s| s.to_string())
    }

    /// Poll `url` until it answers 2xx. Every poll first checks that the
    /// target still runs.
    async fn wait_ready(&mut self, url: &str, timeout: f64) -> Result<(), TargetError> {
        let deadline = Instant::now() + Duration::from_secs_f64(timeout);
        let client = reqwest::Client::builder()
            .build()
            .map_err(|e| TargetError::Setup(format!("cannot build an HTTP client: {e}")))?;
        let mut last = "no answer yet".to_owned();
        loop {
            if self.group.exited().is_some() {
                defer_to_interrupt().await;
                self.group.stop().await;
                return Err(TargetError::ExitedBeforeReady {
                    command: self.command.clone(),
                    status: self.status(),
                    tail: tails(self.logs.as_ref()),
                });
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                self.group.stop().await;
                return Err(TargetError::NotReady {
                    command: self.command.clone(),
                    seconds: timeout,
                    url: url.to_owned(),
                    last,
                    tail: tails(self.logs.as_ref()),
                });
            }
            match client
                .get(url)
                .timeout(left.min(Duration::from_secs(2)))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => last = format!("answered {}", r.status()),
                Err(e) => last = innermost(&e),
            }
            tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
        }
    }

    /// Resolves only when the target ends by itself (its leader exits).
    /// Meant to race the load in a `select!`; the caller then ends the load
    /// and calls [`Managed::stop`], which says what happened.
    pub async fn ended(&mut self) {
        while self.group.exited().is_none() {
            tokio::time::sleep(POLL).await;
        }
    }

    /// Stop the target after the load. A target that already ended by
    /// itself ended during the run: that is the error, once its group is
    /// stopped.
    pub async fn stop(mut self) -> Result<(), TargetError> {
        let exited = self.group.exited().is_some();
        if exited {
            defer_to_interrupt().await;
        }
        self.group.stop().await;
        if exited {
            return Err(TargetError::ExitedDuringRun {
                command: self.command.clone(),
                status: self.status(),
                tail: tails(self.logs.as_ref()),
            });
        }
        Ok(())
    }
}

/// [`Managed::ended`] for a run's target, if it has one; without one,
/// never resolves.
pub async fn watch(managed: Option<&mut Managed>) {
    match managed {
        Some(m) => m.ended().await,
        None => std::future::pending().await,
    }
}

/// The innermost cause of a client error ("Connection refused"), which
/// says more than reqwest's outer "error sending request".
pub(crate) fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    reason_text(&cause.to_string())
}

fn reason_text(text: &str) -> String {
    text.split(" (os error").next().unwrap_or(text).to_owned()
}

/// Start the scenario's managed target, if it has one, and wait until it
/// is ready. Returns the scenario with `{port}` filled in everywhere (so
/// its `host` is the target's base URL) and the running target. Logs go to
/// `<log_dir>/<scenario>-target.{out,err}.log`.
pub async fn start(
    s: LoadScenario,
    log_dir: Option<&Path>,
) -> Result<(LoadScenario, Option<Managed>), TargetError> {
    let Some(process) = s.target.process.as_ref() else {
        return Ok((s, None));
    };
    let port = pick_port(process.port)?;
    let s = with_port_filled(s, port);
    let Some(p) = s.target.process.as_ref() else {
        return Ok((s, None));
    };
    // Caught before the child exists, so that no signal can end umpire
    // between its start and the guard that stops it.
    listen_for_signals()?;
    let (logs, out, err) = match log_dir {
        Some(dir) => {
            let (logs, out, err) = open_logs(dir, &s.name)?;
            (Some(logs), Stdio::from(out), Stdio::from(err))
        }
        None => (None, Stdio::null(), Stdio::null()),
    };
    let child = spawn(p, port, out, err)?;
    let pgid = Pid::from_raw(
        i32::try_from(child.id())
            .map_err(|_| TargetError::Setup(format!("pid {} out of range", child.id())))?,
    );
    running().push(pgid);
    let mut managed = Managed {
        group: Group {
            child,
            pgid,
            status: None,
            grace: Duration::from_secs_f64(p.stop_grace_seconds),
            stopped: false,
        },
        command: command_line(&p.command),
        logs,
    };
    let url = match &p.ready.url {
        Some(u) => u.clone(),
        // The health probe's path: it has no placeholders (the reader
        // allows none for health), so it reads back as text.
        None => format!(
            "{}{}",
            s.target.host.as_deref().unwrap_or("").trim_end_matches('/'),
            s.api
                .health
                .path
                .literal()
                .unwrap_or_else(|| "/healthz".to_owned())
        ),
    };
    managed.wait_ready(&url, p.ready.timeout_seconds).await?;
    Ok((s, Some(managed)))
}
