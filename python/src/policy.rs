//! A Python bandit policy as a [`BatchPolicy`]: per batch the Python layer
//! builds a runner around a fresh copy of the user's policy; each step calls
//! its vectorised `select` (and `update`) once for the whole batch.

use std::sync::Arc;

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray1, PyReadonlyArray1, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use rand_core::Rng;
use umpire_sim::plugin::{
    BatchPolicy, BatchPolicyFactory, BatchSpec, BatchView, PluginError, plugin_stream,
};

use crate::errors::Stash;

/// The first four words of plug-in `name`'s stream for batch `index`: the
/// Python layer seeds the batch's NumPy `Generator` (PCG64) with them.
pub fn seed_words(seed: u64, name: &str, index: u64) -> [u64; 4] {
    let mut rng = plugin_stream(seed, name, index);
    std::array::from_fn(|_| rng.next_u64())
}

/// The factory of policy `name`: `make(first, replications, arms,
/// seed_words)` is the Python layer's and returns the batch's runner, with
/// `select(t, pulls, reward_sums) -> arms` (int64, checked),
/// `update(t, arms, rewards)`, and `wants_update` (False when the user's
/// policy has no `update`, which then is never called).
pub fn factory(name: &str, make: Py<PyAny>, stash: Arc<Stash>) -> Arc<BatchPolicyFactory> {
    let name = name.to_owned();
    Arc::new(
        move |spec: &BatchSpec| -> Result<Box<dyn BatchPolicy>, PluginError> {
            let end = spec.first + spec.replications as u64;
            Python::attach(|py| {
                let words = seed_words(spec.seed, &name, spec.index);
                make.bind(py)
                    .call1((spec.first, spec.replications, spec.arms, words))
                    .and_then(|runner| {
                        let wants_update = runner.getattr("wants_update")?.is_truthy()?;
                        Ok(Box::new(PyPolicy {
                            name: name.clone(),
                            runner: runner.unbind(),
                            wants_update,
                            stash: Arc::clone(&stash),
                            first: spec.first,
                            end,
                            arms: spec.arms,
                        }) as Box<dyn BatchPolicy>)
                    })
                    .map_err(|e| stash.keep(py, &name, spec.first, end, e))
            })
        },
    )
}

/// One batch's policy: the Python runner and what names its failures.
struct PyPolicy {
    name: String,
    runner: Py<PyAny>,
    /// Whether the user's policy learns from `update` (a call per step saved if not).
    wants_update: bool,
    stash: Arc<Stash>,
    first: u64,
    end: u64,
    arms: usize,
}

impl PyPolicy {
    fn fail(&self, py: Python<'_>, e: PyErr) -> PluginError {
        self.stash.keep(py, &self.name, self.first, self.end, e)
    }

    fn select_py(
        &mut self,
        py: Python<'_>,
        t: u64,
        view: &BatchView<'_>,
        arms: &mut [usize],
    ) -> PyResult<()> {
        // Fresh arrays each step (the policy may keep them); pulls as int64,
        // NumPy's default integer.
        let shape = (view.replications, view.arms);
        let pulls: Vec<i64> = view
            .pulls
            .iter()
            .map(|&n| i64::try_from(n).unwrap_or(i64::MAX))
            .collect();
        let pulls = Array2::from_shape_vec(shape, pulls)
            .map_err(shape_error)?
            .into_pyarray(py);
        let sums = Array2::from_shape_vec(shape, view.reward_sums.to_vec())
            .map_err(shape_error)?
            .into_pyarray(py);
        let chosen = self
            .runner
            .bind(py)
            .call_method1("select", (t, pulls, sums))?;
        let chosen: PyReadonlyArray1<'_, i64> = chosen.extract()?;
        if chosen.len() != arms.len() {
            return Err(PyValueError::new_err(format!(
                "select returned {} arms, expected {} (one per replication)",
                chosen.len(),
                arms.len()
            )));
        }
        for (slot, &a) in arms.iter_mut().zip(chosen.as_array().iter()) {
            *slot = usize::try_from(a)
                .ok()
                .filter(|&a| a < self.arms)
                .ok_or_else(|| {
                    PyValueError::new_err(format!(
                        "select returned arm {a}: arms are 0..{}",
                        self.arms
                    ))
                })?;
        }
        Ok(())
    }

    fn update_py(
        &mut self,
        py: Python<'_>,
        t: u64,
        arms: &[usize],
        rewards: &[f64],
    ) -> PyResult<()> {
        let arms: Vec<i64> = arms.iter().map(|&a| a as i64).collect();
        let arms = PyArray1::from_vec(py, arms);
        let rewards = PyArray1::from_slice(py, rewards);
        self.runner
            .bind(py)
            .call_method1("update", (t, arms, rewards))?;
        Ok(())
    }
}

impl BatchPolicy for PyPolicy {
    fn select(
        &mut self,
        t: u64,
        view: &BatchView<'_>,
        arms: &mut [usize],
    ) -> Result<(), PluginError> {
        Python::attach(|py| {
            self.select_py(py, t, view, arms)
                .map_err(|e| self.fail(py, e))
        })
    }

    fn update(&mut self, t: u64, arms: &[usize], rewards: &[f64]) -> Result<(), PluginError> {
        if !self.wants_update {
            return Ok(());
        }
        Python::attach(|py| {
            self.update_py(py, t, arms, rewards)
                .map_err(|e| self.fail(py, e))
        })
    }
}

fn shape_error(e: numpy::ndarray::ShapeError) -> PyErr {
    PyValueError::new_err(format!("batch view of unexpected size: {e}"))
}
