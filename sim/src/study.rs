//! The library entry point: run a scenario, with the user's own methods or
//! policies next to the scenario's, and get its result as a value.
//!
//! ```no_run
//! # use umpire_sim::study::Study;
//! # fn demo(my_method: impl umpire_sim::plugin::AnalysisMethod + 'static) -> Result<(), umpire_sim::study::StudyError> {
//! let result = Study::from_file("scenarios/aa_fixed.toml")?
//!     .method("mine", my_method)
//!     .seed(7)
//!     .threads(2)
//!     .run()?;
//! # Ok(()) }
//! ```
//!
//! Plug-ins run through the same engine, streams and accumulators as the
//! scenario's own methods and policies; their results appear beside them
//! (kind `plugin`). The CLI runs TOML scenarios only; this is how Rust and
//! Python code adds its own.

use std::path::Path;
use std::sync::Arc;

use crate::bandit::model::NamedPolicy;
use crate::bandit::policy::{Policy, PolicySpec};
use crate::bandit::result::BanditResult;
use crate::experiment::result::ExperimentResult;
use crate::plugin::{AnalysisMethod, BatchPolicyFactory, PluginError};
use crate::result::Provenance;
use crate::rng::Purpose;
use crate::scenario::{self, Loaded, Scenario, ScenarioError, limits};

pub use crate::bandit::batch_policy::PolicyPlugin;
pub use crate::experiment::analysis_method::MethodPlugin;

/// What a study produced.
#[derive(Clone, Debug, PartialEq)]
pub enum StudyResult {
    /// An experiment scenario's result.
    Experiment(Box<ExperimentResult>),
    /// A bandit scenario's result.
    Bandit(Box<BanditResult>),
    /// A sweep's result: every point's, with the plug-ins at every point.
    Sweep(Box<crate::sweep::result::SweepResult>),
}

/// Why a study could not run.
#[derive(Debug, thiserror::Error)]
pub enum StudyError {
    /// The scenario file could not be read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The file as given.
        file: String,
        /// Why.
        source: std::io::Error,
    },
    /// The scenario did not parse or validate.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The scenario, a plug-in or an override is not usable; the message says why.
    #[error("{0}")]
    Invalid(String),
    /// A plug-in failed during the run.
    #[error(transparent)]
    Plugin(#[from] PluginError),
}

/// A scenario to run, with overrides and plug-ins.
pub struct Study {
    loaded: Loaded,
    seed: Option<u64>,
    replications: Option<u64>,
    threads: Option<usize>,
    per_unit: bool,
    methods: Vec<MethodPlugin>,
    policies: Vec<PolicyPlugin>,
}

impl Study {
    /// A study of the scenario file at `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, StudyError> {
        let file = path.as_ref().display().to_string();
        let text = std::fs::read_to_string(path.as_ref()).map_err(|source| StudyError::Io {
            file: file.clone(),
            source,
        })?;
        Self::from_toml(&file, &text)
    }

    /// A study of scenario text `toml`; `file` names it in messages.
    pub fn from_toml(file: &str, toml: &str) -> Result<Self, StudyError> {
        Ok(Self::from_loaded(scenario::parse(file, toml)?))
    }

    /// A study of an already parsed scenario.
    pub fn from_loaded(loaded: Loaded) -> Self {
        Self {
            loaded,
            seed: None,
            replications: None,
            threads: None,
            per_unit: false,
            methods: Vec::new(),
            policies: Vec::new(),
        }
    }

    /// Run with this seed instead of the scenario's.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// Run this many replications instead of the scenario's.
    pub fn replications(mut self, replications: u64) -> Self {
        self.replications = Some(replications);
        self
    }

    /// Run on this many worker threads (default: one per core). The result
    /// does not depend on it.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Simulate every unit even where the aggregate path applies.
    pub fn per_unit(mut self, per_unit: bool) -> Self {
        self.per_unit = per_unit;
        self
    }

    /// Add an analysis method named `name` (experiment scenarios).
    pub fn method(mut self, name: &str, method: impl AnalysisMethod + 'static) -> Self {
        self.methods.push(MethodPlugin {
            name: name.to_owned(),
            method: Arc::new(method),
        });
        self
    }

    /// Add a shared analysis method named `name` (experiment scenarios).
    pub fn method_arc(mut self, name: &str, method: Arc<dyn AnalysisMethod>) -> Self {
        self.methods.push(MethodPlugin {
            name: name.to_owned(),
            method,
        });
        self
    }

    /// Add a bandit policy named `name`, one instance per replication built
    /// by `make(arms)` (bandit scenarios). It draws its randomness from its
    /// own stream, replication by replication, like a built-in policy.
    pub fn policy<P, F>(mut self, name: &str, make: F) -> Self
    where
        P: Policy + Send + 'static,
        F: Fn(usize) -> P + Send + Sync + 'static,
    {
        self.policies.push(PolicyPlugin {
            name: name.to_owned(),
            factory: crate::bandit::plugged::per_replication(name, make),
        });
        self
    }

    /// Add a batch policy named `name` (bandit scenarios): `factory` builds
    /// it for each batch of replications, which it steps in lockstep.
    pub fn batch_policy(mut self, name: &str, factory: Arc<BatchPolicyFactory>) -> Self {
        self.policies.push(PolicyPlugin {
            name: name.to_owned(),
            factory,
        });
        self
    }

    /// The scenario as loaded (before overrides).
    pub fn scenario(&self) -> &Scenario {
        &self.loaded.scenario
    }

    /// Run the scenario with its plug-ins.
    pub fn run(self) -> Result<StudyResult, StudyError> {
        self.run_with_progress(&|_| {})
    }

    /// Run, calling `progress` with the replications finished after each chunk.
    pub fn run_with_progress(
        self,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<StudyResult, StudyError> {
        if self.replications == Some(0) {
            return Err(StudyError::Invalid(
                "replications must be at least 1".into(),
            ));
        }
        let mut pool = rayon::ThreadPoolBuilder::new();
        if let Some(t) = self.threads {
            if t == 0 {
                return Err(StudyError::Invalid("threads must be at least 1".into()));
            }
            pool = pool.num_threads(t);
        }
        let pool = pool
            .build()
            .map_err(|e| StudyError::Invalid(format!("cannot start worker threads: {e}")))?;
        let file = &self.loaded.file;
        match &self.loaded.scenario {
            Scenario::Experiment(exp) => Ok(StudyResult::Experiment(Box::new(
                self.run_experiment(exp, &pool, progress)?,
            ))),
            Scenario::Bandit(b) => Ok(StudyResult::Bandit(Box::new(
                self.run_bandit(b, &pool, progress)?,
            ))),
            Scenario::Sweep(sw) => Ok(StudyResult::Sweep(Box::new(
                self.run_sweep(sw, &pool, progress)?,
            ))),
            Scenario::Serve(_) | Scenario::Load(_) => Err(StudyError::Invalid(format!(
                "{file}: not a simulation (serve and load scenarios run from the CLI)"
            ))),
            Scenario::Design(_) => Err(StudyError::Invalid(format!(
                "{file}: a design search runs from the CLI (`umpire design`); a study runs one scenario"
            ))),
        }
    }

    /// Every point of a sweep with the plug-ins, in grid order, each with
    /// the checks a single scenario gets.
    fn run_sweep(
        &self,
        sw: &crate::sweep::Sweep,
        pool: &rayon::ThreadPool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<crate::sweep::result::SweepResult, StudyError> {
        use crate::sweep::PointScenario;
        use crate::sweep::result::{PointOutcome, PointResult, SweepResult};
        let mut points = Vec::with_capacity(sw.points.len());
        let mut total = 0;
        let mut first = None;
        for (index, p) in sw.points.iter().enumerate() {
            let result = match &p.scenario {
                PointScenario::Experiment(exp) => {
                    let r = self.run_experiment(exp, pool, progress)?;
                    first.get_or_insert((r.header.seed, r.replications));
                    total += r.replications;
                    PointOutcome::Experiment(Box::new(r))
                }
                PointScenario::Bandit(b) => {
                    let r = self.run_bandit(b, pool, progress)?;
                    first.get_or_insert((r.header.seed, r.replications));
                    total += r.replications;
                    PointOutcome::Bandit(Box::new(r))
                }
            };
            points.push(PointResult {
                index,
                at: p.at.clone(),
                result,
            });
        }
        let (seed, reps) = first.unwrap_or((0, 0));
        let provenance = self.provenance(seed, reps);
        let header = crate::result::ResultHeader::new(
            crate::result::ResultKind::Sweep,
            &sw.name,
            seed,
            &provenance,
        );
        let reproduce = provenance.reproduce;
        Ok(SweepResult::build(sw, header, total, points, reproduce))
    }

    fn run_experiment(
        &self,
        exp: &crate::experiment::Experiment,
        pool: &rayon::ThreadPool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<ExperimentResult, StudyError> {
        let file = &self.loaded.file;
        if !self.policies.is_empty() {
            return Err(StudyError::Invalid(format!(
                "{file}: an experiment scenario takes methods, not policies"
            )));
        }
        let mut exp = exp.clone();
        exp.seed = self.seed.unwrap_or(exp.seed);
        exp.replications = self.replications.unwrap_or(exp.replications);
        limits::check_experiment(&exp).map_err(|e| invalid(file, &e))?;
        // The plug-ins count against the caps on methods, cells and look
        // cells like the scenario's own methods.
        let all = crate::experiment::plugged::with_plugins(&exp, &self.methods);
        cap(file, "methods", all.methods.len(), limits::MAX_METHODS)?;
        limits::check_experiment_shape(&all).map_err(|e| invalid(file, &e))?;
        unique(
            file,
            "method",
            exp.methods.iter().map(|m| m.name.as_str()),
            self.methods.iter().map(|m| m.name.as_str()),
        )?;
        let provenance = self.provenance(exp.seed, exp.replications);
        Ok(pool.install(|| {
            crate::experiment::plugged::run(
                &exp,
                self.per_unit,
                &self.methods,
                provenance,
                progress,
            )
        })?)
    }

    fn run_bandit(
        &self,
        b: &crate::bandit::model::BanditScenario,
        pool: &rayon::ThreadPool,
        progress: &(dyn Fn(u64) + Sync),
    ) -> Result<BanditResult, StudyError> {
        let file = &self.loaded.file;
        if !self.methods.is_empty() {
            return Err(StudyError::Invalid(format!(
                "{file}: a bandit scenario takes policies, not methods"
            )));
        }
        let mut b = b.clone();
        b.seed = self.seed.unwrap_or(b.seed);
        b.replications = self.replications.unwrap_or(b.replications);
        // The plug-ins count against the caps on policies and work like the
        // scenario's own policies.
        let mut all = b.clone();
        all.policies
            .extend(self.policies.iter().map(|p| NamedPolicy {
                name: p.name.clone(),
                spec: PolicySpec::Plugin,
                contextual: false,
            }));
        cap(file, "policies", all.policies.len(), limits::MAX_POLICIES)?;
        limits::check_bandit(&all).map_err(|e| invalid(file, &e))?;
        unique(
            file,
            "policy",
            b.policies.iter().map(|p| p.name.as_str()),
            self.policies.iter().map(|p| p.name.as_str()),
        )?;
        let provenance = self.provenance(b.seed, b.replications);
        Ok(pool.install(|| crate::bandit::plugged::run(&b, &self.policies, provenance, progress))?)
    }

    fn provenance(&self, seed: u64, replications: u64) -> Provenance {
        let mut reproduce = format!(
            "umpire run {} --seed {seed} --replications {replications}",
            self.loaded.file
        );
        if self.per_unit {
            reproduce.push_str(" --per-unit");
        }
        let plugins: Vec<&str> = self
            .methods
            .iter()
            .map(|m| m.name.as_str())
            .chain(self.policies.iter().map(|p| p.name.as_str()))
            .collect();
        if !plugins.is_empty() {
            reproduce.push_str(&format!(" (plus plug-ins: {})", plugins.join(", ")));
        }
        Provenance {
            scenario_hash: self.loaded.hash.clone(),
            scenario_file: self.loaded.file.clone(),
            git_commit: None,
            reproduce,
            shard: None,
            quick_scale: None,
        }
    }
}

fn invalid(file: &str, e: &str) -> StudyError {
    StudyError::Invalid(format!("{file}: {e}"))
}

/// At most `max` methods or policies, the scenario's and the plug-ins together.
fn cap(file: &str, what: &str, n: usize, max: usize) -> Result<(), StudyError> {
    if n > max {
        return Err(invalid(
            file,
            &format!("{n} {what} (the scenario's and the plug-ins) is over the cap of {max}"),
        ));
    }
    Ok(())
}

/// Plug-in names must be non-empty and differ from each other and from the
/// scenario's own.
fn unique<'a>(
    file: &str,
    what: &str,
    own: impl Iterator<Item = &'a str>,
    plugged: impl Iterator<Item = &'a str>,
) -> Result<(), StudyError> {
    let mut seen: Vec<&str> = own.collect();
    let mut plugins: Vec<&str> = Vec::new();
    for name in plugged {
        if name.trim().is_empty() {
            return Err(invalid(file, &format!("a plug-in {what} needs a name")));
        }
        if seen.contains(&name) {
            return Err(invalid(
                file,
                &format!("{what} name `{name}` is already taken in this run"),
            ));
        }
        // A plug-in's stream is keyed by its name's 32-bit hash: two names
        // with one hash would draw the same numbers.
        if let Some(other) = plugins
            .iter()
            .find(|o| Purpose::plugin(o) == Purpose::plugin(name))
        {
            return Err(invalid(
                file,
                &format!(
                    "plug-in {what}s `{other}` and `{name}` would share a random stream (their names hash alike); rename one"
                ),
            ));
        }
        seen.push(name);
        plugins.push(name);
    }
    Ok(())
}
