//! Helpers shared by the serving API's test files: the error type of their
//! tests and an in-process server on an ephemeral loopback port.

pub mod api;

use std::path::Path;

use umpire_serve::{RunningServer, ServeOptions, start};
use umpire_sim::serve::ServeConfig;

pub type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Start `config` on 127.0.0.1 with an ephemeral port.
pub async fn serve(
    config: ServeConfig,
    state_dir: Option<&Path>,
    token: Option<&str>,
) -> R<RunningServer> {
    Ok(start(
        config,
        ServeOptions {
            addr: "127.0.0.1:0".parse()?,
            state_dir: state_dir.map(Path::to_owned),
            token: token.map(str::to_owned),
        },
    )
    .await?)
}
