//! Where and under what name a run's result JSON is written: `Part` (the
//! slice of a run: its shard, its `--quick` scale) and `write_json`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use umpire_sim::result::{Provenance, Shard};
use umpire_sim::scenario::Loaded;

/// How much of a run to do, and how it was scaled.
#[derive(Default, Clone, Copy)]
pub struct Part {
    /// Run only this slice of the replications.
    pub shard: Option<Shard>,
    /// `suite --quick`: the replication counts were scaled by this.
    pub quick_scale: Option<f64>,
}

impl Part {
    pub fn range(&self, replications: u64) -> std::ops::Range<u64> {
        self.shard
            .map_or(0..replications, |s| s.range(replications))
    }

    /// Where this part of a run of `loaded` comes from: the file, this
    /// build, the part, and the command that redoes the whole run.
    pub fn provenance(&self, loaded: &Loaded, reproduce: String) -> Provenance {
        Provenance {
            scenario_hash: loaded.hash.clone(),
            scenario_file: loaded.file.clone(),
            git_commit: crate::cli::git_commit(),
            reproduce,
            shard: self.shard,
            quick_scale: self.quick_scale,
        }
    }

    /// The result file's stem: the scenario, and the shard if any.
    pub fn file_stem(&self, scenario: &str) -> String {
        match self.shard {
            Some(s) => format!("{scenario}.shard-{}-of-{}", s.index, s.count),
            None => scenario.to_owned(),
        }
    }
}

/// Write a result as `<dir>/<scenario>.json`.
pub fn write_json<T: serde::Serialize>(
    dir: &Path,
    scenario: &str,
    result: &T,
) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(format!("{scenario}.json"));
    let mut json = serde_json::to_string_pretty(result)?;
    json.push('\n');
    std::fs::write(&path, json).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}
