//! `umpire serve FILE`: run the reference serving API for a serve config or
//! a scenario's experiments and bandits, until SIGINT or SIGTERM.

use anyhow::Context;
use umpire_serve::{self as server, ServeOptions};
use umpire_sim::serve::ServeConfig;

use crate::cli::ServeArgs;
use crate::error::CliError;
use crate::input;

pub fn main(args: &ServeArgs) -> Result<(), CliError> {
    let loaded = input::read(&args.file).map_err(CliError::Input)?;
    let mut config = ServeConfig::from_scenario(&loaded.scenario)
        .map_err(|e| CliError::Input(format!("{}: {e}", loaded.file)))?;
    config.server.keep_logs |= args.keep_logs;
    if let Some(draws) = args.propensity_draws {
        for b in &mut config.bandits {
            b.propensity_draws = draws;
        }
    }
    let token = args
        .token_file
        .as_deref()
        .map(input::read_token)
        .transpose()
        .map_err(CliError::Input)?;
    let opts = ServeOptions {
        addr: args.addr,
        state_dir: args.state.clone(),
        token,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(async move {
        let running = server::start(config.clone(), opts.clone())
            .await
            .map_err(|e| CliError::Input(format!("umpire serve: {e}")))?;
        let names = |v: Vec<&str>| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.join(", ")
            }
        };
        // One line on stdout, flushed (as every write there is), so scripts
        // and tests can read the address (useful with --addr 127.0.0.1:0).
        crate::outln!("listening on http://{}", running.addr)?;
        eprintln!(
            "umpire serve: {} — experiments: {}; bandits: {}; state: {}; auth: {}",
            config.name,
            names(config.experiments.iter().map(|e| e.name.as_str()).collect()),
            names(config.bandits.iter().map(|b| b.name.as_str()).collect()),
            opts.state_dir.as_ref().map_or_else(
                || "in memory (no --state)".to_owned(),
                |d| d.display().to_string()
            ),
            if opts.token.is_some() {
                "bearer token on decide/reward"
            } else {
                "none"
            },
        );
        running.run_until_signal().await.context("umpire serve")?;
        eprintln!("umpire serve: stopped cleanly");
        Ok::<(), CliError>(())
    })
}
