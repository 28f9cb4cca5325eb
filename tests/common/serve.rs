//! `umpire serve` as a child process: spawn it, wait (bounded) until it
//! prints its listening line or exits, stop it with a signal (bounded), and
//! kill it whatever happens to the test.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running `umpire serve`, killed when dropped.
pub struct Server {
    pub child: Child,
    /// `http://host:port`, from its listening line.
    pub base: String,
}

impl Server {
    /// `host:port`.
    pub fn addr(&self) -> &str {
        self.base.strip_prefix("http://").unwrap_or(&self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What a spawned `umpire serve` did: printed its address, or exited.
pub enum Launch {
    Listening(Server),
    Exited { code: Option<i32>, stderr: String },
}

/// Spawn `cmd` (an `umpire serve` command) with stdout and stderr piped,
/// and wait until it listens or exits. A start replays at
/// most a short log, in well under a second; 30 s is the bound.
pub fn launch(mut cmd: Command) -> Launch {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn umpire serve");
    let stdout = child.stdout.take().expect("stdout");
    // Read the line on a thread, so a server that never prints it fails
    // the test in bounded time instead of hanging it.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    for _ in 0..1500 {
        if let Ok(line) = rx.try_recv() {
            match line.trim().strip_prefix("listening on ") {
                Some(url) => {
                    return Launch::Listening(Server {
                        base: url.to_owned(),
                        child,
                    });
                }
                None if !line.is_empty() => {
                    let _ = child.kill();
                    panic!("unexpected first line from umpire serve: {line:?}");
                }
                None => {}
            }
        }
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                let _ = e.read_to_string(&mut stderr);
            }
            return Launch::Exited {
                code: status.code(),
                stderr,
            };
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    panic!("umpire serve neither listened nor exited within 30 s");
}

/// Spawn `cmd` and return the listening server; a server that exits
/// instead fails the test with its stderr.
pub fn start(cmd: Command) -> Server {
    match launch(cmd) {
        Launch::Listening(s) => s,
        Launch::Exited { code, stderr } => {
            panic!("umpire serve exited ({code:?}) instead of starting: {stderr}")
        }
    }
}

/// Send `signal` (e.g. `-TERM`) and wait for the exit. Bounded: the server
/// drains and snapshots in well under a second.
pub fn stop(server: &mut Server, signal: &str) -> ExitStatus {
    let status = Command::new("kill")
        .args([signal, &server.child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success());
    for _ in 0..300 {
        if let Some(s) = server.child.try_wait().expect("wait") {
            return s;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = server.child.kill();
    panic!("umpire serve did not stop within 6 s of {signal}");
}
