//! `umpire serve FILE`: run the reference serving API for a serve config or
//! a scenario's experiments and bandits, until SIGINT or SIGTERM.

use std::io::Write;

use anyhow::Context;
use umpire_serve::{self as server, ServeOptions};
use umpire_sim::serve::ServeConfig;

use crate::{EXIT_INPUT, EXIT_OK, ServeArgs, load};

pub fn main(args: &ServeArgs) -> anyhow::Result<u8> {
    let loaded = match load::load(&args.file) {
        Ok(l) => l,
        Err(msg) => {
            eprintln!("{msg}");
            return Ok(EXIT_INPUT);
        }
    };
    let config = match ServeConfig::from_scenario(&loaded.scenario) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", loaded.file);
            return Ok(EXIT_INPUT);
        }
    };
    let token = match args.token_file.as_deref().map(load::read_token).transpose() {
        Ok(t) => t,
        Err(msg) => {
            eprintln!("{msg}");
            return Ok(EXIT_INPUT);
        }
    };
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
        let running = match server::start(config.clone(), opts.clone()).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("umpire serve: {e}");
                return Ok(EXIT_INPUT);
            }
        };
        let names = |v: Vec<&str>| {
            if v.is_empty() {
                "-".to_owned()
            } else {
                v.join(", ")
            }
        };
        // One line on stdout, flushed, so scripts and tests can read the
        // address (useful with --addr 127.0.0.1:0).
        crate::outln!("listening on http://{}", running.addr);
        let _ = std::io::stdout().flush();
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
        Ok(EXIT_OK)
    })
}
