//! umpire's Python extension (`umpire._umpire`): runs a scenario through
//! [`umpire_sim::study::Study`] with Python methods and policies plugged in,
//! and hands back the result's JSON and its tidy tables as columns.
//!
//! The pure-Python layer (`umpire/__init__.py`) wraps the user's callables
//! (building the `Batch` view, the NumPy `Generator`, and checking what they
//! return) and turns the columns into pandas DataFrames. This module only
//! moves data across and maps errors: Rust runs with the GIL released and a
//! plug-in takes it back only for its own call.

mod errors;
mod method;
mod policy;
mod tables;

use std::sync::Arc;

use pyo3::exceptions::{PyException, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use umpire_reports::AnyResult;
use umpire_sim::study::{Study, StudyError, StudyResult};

use errors::Stash;

pyo3::create_exception!(
    umpire,
    ScenarioError,
    PyValueError,
    "The scenario cannot be read, does not validate, or cannot run with these options."
);
pyo3::create_exception!(
    umpire,
    PluginError,
    pyo3::exceptions::PyRuntimeError,
    "A plug-in method or policy failed; the message names it and the replication range."
);

/// Where the scenario comes from: a file, or TOML text made from a dict.
enum Source {
    File(String),
    Json(String),
}

/// Run a scenario (a path, or `json` text of a dict) with plug-ins, and
/// return `(kind, result_json, tables)`.
///
/// `methods` and `policies` are `(name, callable)` pairs of the Python
/// layer's wrappers (see `umpire/__init__.py` for what they take and give).
#[pyfunction]
#[pyo3(signature = (path=None, json=None, seed=None, replications=None, threads=None, methods=Vec::new(), policies=Vec::new()))]
#[allow(clippy::too_many_arguments)]
fn _run<'py>(
    py: Python<'py>,
    path: Option<String>,
    json: Option<String>,
    seed: Option<u64>,
    replications: Option<u64>,
    threads: Option<usize>,
    methods: Vec<(String, Py<PyAny>)>,
    policies: Vec<(String, Py<PyAny>)>,
) -> PyResult<(String, String, Bound<'py, PyDict>)> {
    let source = match (path, json) {
        (Some(p), None) => Source::File(p),
        (None, Some(j)) => Source::Json(j),
        _ => return Err(PyValueError::new_err("give exactly one of path and json")),
    };
    let mut study = match source {
        Source::File(p) => Study::from_file(&p),
        Source::Json(j) => dict_toml(&j).and_then(|t| Study::from_toml("<dict>", &t)),
    }
    .map_err(|e| study_error(py, e, &Stash::default()))?;
    if let Some(s) = seed {
        study = study.seed(s);
    }
    if let Some(r) = replications {
        study = study.replications(r);
    }
    if let Some(t) = threads {
        study = study.threads(t);
    }
    let stash = Arc::new(Stash::default());
    for (name, call) in methods {
        let m = method::PyMethod::new(&name, call, Arc::clone(&stash));
        study = study.method(&name, m);
    }
    for (name, make) in policies {
        study = study.batch_policy(&name, policy::factory(&name, make, Arc::clone(&stash)));
    }
    // The engine's worker threads take the GIL back only inside plug-in
    // calls; the result's JSON and tables are built without it too.
    let outcome = py.detach(move || {
        let (kind, any) = match study.run().map_err(Failure::Study)? {
            StudyResult::Experiment(e) => ("experiment", AnyResult::Experiment(e)),
            StudyResult::Bandit(b) => ("bandit", AnyResult::Bandit(b)),
            StudyResult::Sweep(s) => ("sweep", AnyResult::Sweep(s)),
        };
        let json = any
            .to_json_value()
            .and_then(|v| serde_json::to_string_pretty(&v))
            .map_err(|e| Failure::Json(e.to_string()))?;
        Ok((kind, json, tables::build(&any)))
    });
    let (kind, json, tables) = outcome.map_err(|f| match f {
        Failure::Study(e) => study_error(py, e, &stash),
        Failure::Json(e) => PyValueError::new_err(format!("cannot write the result as JSON: {e}")),
    })?;
    let tables = tables::to_python(py, &tables)?;
    Ok((kind.to_owned(), json, tables))
}

/// Why a run gave no result, as found without the GIL.
enum Failure {
    Study(StudyError),
    Json(String),
}

/// A dict's JSON as scenario TOML text.
fn dict_toml(json: &str) -> Result<String, StudyError> {
    let value: serde_json::Value = serde_json::from_str(json)
        .map_err(|e| StudyError::Invalid(format!("<dict>: not a scenario: {e}")))?;
    if !value.is_object() {
        return Err(StudyError::Invalid(
            "<dict>: a scenario dict must be a mapping of TOML keys".into(),
        ));
    }
    toml::to_string(&value).map_err(|e| {
        StudyError::Invalid(format!(
            "<dict>: cannot express the dict as TOML ({e}); use str, int, float, bool, list and dict values only, no None"
        ))
    })
}

/// A study's error as a Python exception: a plug-in's failure as
/// `PluginError` (chained to the Python exception that caused it), anything
/// else as `ScenarioError`. A `BaseException` that is not an `Exception`
/// (`KeyboardInterrupt`, `SystemExit`, ...) raised in a plug-in reaches the
/// caller as itself, never wrapped.
fn study_error(py: Python<'_>, e: StudyError, stash: &Stash) -> PyErr {
    match e {
        StudyError::Plugin(p) => match stash.take(&p.plugin, p.first) {
            Some(interrupt) if !interrupt.is_instance_of::<PyException>(py) => interrupt,
            cause => {
                let err = PluginError::new_err(p.to_string());
                err.set_cause(py, cause);
                err
            }
        },
        other => ScenarioError::new_err(other.to_string()),
    }
}

/// The extension module.
#[pymodule]
fn _umpire(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(_run, m)?)?;
    m.add("ScenarioError", m.py().get_type::<ScenarioError>())?;
    m.add("PluginError", m.py().get_type::<PluginError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
