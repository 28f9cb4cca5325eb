//! A managed target: the system under test as a command that umpire starts
//! before the load, waits on until it answers, and stops afterwards
//! (`[target] command = [...]`). Only the description lives here; the
//! generator (umpire-loadgen's `target` module) runs it.

use serde::{Deserialize, Serialize};

/// The placeholder for the target's port in `host`, the ready URL, argv
/// elements and env values.
pub const PORT_PLACEHOLDER: &str = "{port}";

/// The environment variable that carries the target's port.
pub const PORT_ENV: &str = "PORT";

/// Longest wait for a target to become ready: ten minutes.
pub const MAX_READY_TIMEOUT_SECONDS: f64 = 600.0;

/// Ready timeout when the scenario gives none.
pub const DEFAULT_READY_TIMEOUT_SECONDS: f64 = 30.0;

/// Longest wait between SIGTERM and SIGKILL: a minute.
pub const MAX_STOP_GRACE_SECONDS: f64 = 60.0;

/// Wait between SIGTERM and SIGKILL when the scenario gives none.
pub const DEFAULT_STOP_GRACE_SECONDS: f64 = 5.0;

/// The command that runs the system under test, and how to tell it is up.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Process {
    /// The program and its arguments (never empty; no shell). `{port}` in
    /// any element is replaced by the port.
    pub command: Vec<String>,
    /// Working directory as written, relative to the scenario file's
    /// directory; None: that directory itself.
    pub cwd: Option<String>,
    /// Variables added to the inherited environment, in source order
    /// (`{port}` in a value is replaced by the port).
    pub env: Vec<(String, String)>,
    /// The port the target listens on, when the scenario names one.
    pub port: Option<Port>,
    /// When the target counts as started.
    pub ready: Ready,
    /// Seconds between SIGTERM to the target's process group and SIGKILL.
    pub stop_grace_seconds: f64,
}

/// The port a managed target listens on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Port {
    /// A free port on 127.0.0.1, picked by umpire when it starts the target.
    Auto,
    /// This port.
    Fixed(u16),
}

/// The readiness probe: polled until it answers 2xx, for at most the timeout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ready {
    /// The URL to poll (may hold `{port}`); None: the host's health path.
    pub url: Option<String>,
    /// Longest wait, in (0, [`MAX_READY_TIMEOUT_SECONDS`]].
    pub timeout_seconds: f64,
}

/// `text` with every `{port}` replaced by `port`.
pub fn with_port(text: &str, port: Option<u16>) -> String {
    match port {
        Some(p) => text.replace(PORT_PLACEHOLDER, &p.to_string()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_port_replaces_every_placeholder() {
        assert_eq!(
            with_port("http://127.0.0.1:{port}/{port}", Some(8080)),
            "http://127.0.0.1:8080/8080"
        );
        assert_eq!(with_port("--port={port}", None), "--port={port}");
    }
}
