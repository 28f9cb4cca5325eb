//! Design questions answered by simulation: the smallest sample size (or
//! effect) at which each analysis method reaches a target power.
//!
//! A `[design]` table in an experiment scenario makes a [`Design`]: the
//! scenario, the dotted path it varies, the target, the search domain and
//! expectations on the answers. `search` is the stochastic root finder (pure:
//! the caller evaluates), `closed_form` the answers theory gives for the
//! fixed-horizon test and group-sequential designs, and `result` the result
//! file and its verdicts.

pub mod closed_form;
pub mod result;
pub mod search;

use crate::experiment::Experiment;
use crate::result::Bound;
use search::Domain;

/// What a design expectation holds a method's answer to.
#[derive(Clone, Debug, PartialEq)]
pub struct DesignExpectation {
    /// Where it was written, e.g. `design.expect.fixed`.
    pub key: String,
    /// The method (index into the scenario's methods).
    pub method: usize,
    /// The closed-form answer must lie within the answer's Monte Carlo
    /// interval at [`crate::result::NEAR_THEORY_Z`] standard errors.
    pub closed_form: bool,
    /// Bounds on the answer itself.
    pub answer: Option<Bound>,
}

/// A `[design]` scenario: what to vary, to reach what, and how to check it.
#[derive(Clone, Debug, PartialEq)]
pub struct Design {
    /// The scenario's name.
    pub name: String,
    /// The scenario at its own value of `vary` (validated).
    pub experiment: Experiment,
    /// The dotted path varied, e.g. `population.users`.
    pub vary: String,
    /// Target power, in (0, 1).
    pub target: f64,
    /// Where the search starts: the scenario's own value of `vary`.
    pub start: f64,
    /// The search domain.
    pub domain: Domain,
    /// Confidence level of the reported intervals.
    pub confidence: f64,
    /// The methods searched (indices into the scenario's methods), in order.
    pub methods: Vec<usize>,
    /// Expectations on the answers.
    pub expectations: Vec<DesignExpectation>,
    /// Whether the question is the file's own `[design]` table (else it came
    /// from the command line, and results are named apart from the
    /// scenario's own: `<name>.design.json`).
    pub in_file: bool,
    /// The scenario file's name and text, from which the scenario at any
    /// value of `vary` is read again (`scenario::design_point`), so that
    /// every evaluated point validates as a scenario of its own.
    pub source: (String, String),
}
