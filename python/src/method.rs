//! A Python analysis method as an [`AnalysisMethod`]: one call per batch
//! (the engine's chunk) with NumPy arrays of every replication's cumulative
//! statistics at every look, never one call per replication.

use std::sync::Arc;

use numpy::{PyArray1, PyArrayMethods, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use umpire_sim::plugin::{AnalysisMethod, Decision, LookBatch, PluginError};

use crate::errors::Stash;

/// A Python method: `call` is the Python layer's wrapper of the user's
/// callable. It takes the batch as a dict and returns the checked arrays
/// `(reject, look, estimate, low, high, p, rel_estimate, rel_low,
/// rel_high)`, each of shape (replications, comparisons), all but `reject`
/// optional (None).
pub struct PyMethod {
    name: String,
    call: Py<PyAny>,
    stash: Arc<Stash>,
}

impl PyMethod {
    /// Method `name` calling `call`, keeping its exceptions in `stash`.
    pub fn new(name: &str, call: Py<PyAny>, stash: Arc<Stash>) -> Self {
        Self {
            name: name.to_owned(),
            call,
            stash,
        }
    }
}

impl AnalysisMethod for PyMethod {
    fn evaluate(&self, batch: &LookBatch<'_>, out: &mut [Decision]) -> Result<(), PluginError> {
        Python::attach(|py| {
            self.evaluate_py(py, batch, out).map_err(|e| {
                let end = batch.first + batch.replications as u64;
                self.stash.keep(py, &self.name, batch.first, end, e)
            })
        })
    }
}

/// The arrays a method returned, read-only views.
struct Answer<'py> {
    reject: PyReadonlyArray2<'py, bool>,
    look: Option<PyReadonlyArray2<'py, i64>>,
    floats: [Option<PyReadonlyArray2<'py, f64>>; 7],
}

impl PyMethod {
    fn evaluate_py(&self, py: Python<'_>, b: &LookBatch<'_>, out: &mut [Decision]) -> PyResult<()> {
        let args = batch_dict(py, b, &self.name)?;
        let answer = self.call.bind(py).call1((args,))?;
        let answer = read_answer(&answer, b.replications, b.comparisons.len())?;
        fill(b, &answer, out)
    }
}

/// The names of a ratio's pre-period sums in the Python layer's
/// `Batch.pre`, in `RatioPre`'s field order.
const PRE_KEYS: [&str; 9] = [
    "m_pre_sum",
    "m_pre_sum_sq",
    "d_pre_sum",
    "d_pre_sum_sq",
    "md_pre_sum",
    "m_mpre_sum",
    "m_dpre_sum",
    "d_mpre_sum",
    "d_dpre_sum",
];

/// The batch as the dict the Python layer's `Batch` wraps: the six
/// statistics as arrays shaped (replications, looks, metrics, arms), a
/// ratio's pre-period sums in the same shape (or None), the comparisons,
/// and what keys the plug-in's random stream.
fn batch_dict<'py>(py: Python<'py>, b: &LookBatch<'_>, name: &str) -> PyResult<Bound<'py, PyDict>> {
    let len = b.stats.len();
    let mut n = Vec::with_capacity(len);
    let mut cols: [Vec<f64>; 5] = std::array::from_fn(|_| Vec::with_capacity(len));
    for s in b.stats {
        n.push(i64::try_from(s.n).unwrap_or(i64::MAX));
        cols[0].push(s.sum);
        cols[1].push(s.sum_sq);
        cols[2].push(s.x_sum);
        cols[3].push(s.x_sum_sq);
        cols[4].push(s.xy_sum);
    }
    let shape = [b.replications, b.looks, b.metrics, b.arms];
    let d = PyDict::new(py);
    d.set_item("n", PyArray1::from_vec(py, n).reshape(shape)?)?;
    for (key, col) in ["sum", "sum_sq", "x_sum", "x_sum_sq", "xy_sum"]
        .into_iter()
        .zip(cols)
    {
        d.set_item(key, PyArray1::from_vec(py, col).reshape(shape)?)?;
    }
    if b.pre.is_empty() {
        d.set_item("pre", py.None())?;
    } else {
        let mut pre: [Vec<f64>; 9] = std::array::from_fn(|_| Vec::with_capacity(len));
        for p in b.pre {
            let row = [
                p.m_sum,
                p.m_sum_sq,
                p.d_sum,
                p.d_sum_sq,
                p.md_sum,
                p.m_mpre_sum,
                p.m_dpre_sum,
                p.d_mpre_sum,
                p.d_dpre_sum,
            ];
            for (col, v) in pre.iter_mut().zip(row) {
                col.push(v);
            }
        }
        let parts = PyDict::new(py);
        for (key, col) in PRE_KEYS.into_iter().zip(pre) {
            parts.set_item(key, PyArray1::from_vec(py, col).reshape(shape)?)?;
        }
        d.set_item("pre", parts)?;
    }
    let comparisons = PyList::empty(py);
    for c in b.comparisons {
        comparisons.append((c.metric, c.variant))?;
    }
    d.set_item("comparisons", comparisons)?;
    d.set_item("alpha", b.alpha)?;
    d.set_item("first", b.first)?;
    d.set_item("index", b.index)?;
    d.set_item(
        "seed_words",
        crate::policy::seed_words(b.seed, name, b.index),
    )?;
    Ok(d)
}

fn read_answer<'py>(a: &Bound<'py, PyAny>, reps: usize, comps: usize) -> PyResult<Answer<'py>> {
    let item = |i: usize| a.get_item(i);
    let check = |what: &str, shape: &[usize]| -> PyResult<()> {
        if shape == [reps, comps] {
            Ok(())
        } else {
            Err(PyValueError::new_err(format!(
                "`{what}` has shape {shape:?}, expected ({reps}, {comps}) (replications, comparisons)"
            )))
        }
    };
    let reject: PyReadonlyArray2<'py, bool> = item(0)?.extract()?;
    check("reject", reject.shape())?;
    let look = item(1)?;
    let look: Option<PyReadonlyArray2<'py, i64>> = if look.is_none() {
        None
    } else {
        Some(look.extract()?)
    };
    if let Some(l) = &look {
        check("look", l.shape())?;
    }
    const KEYS: [&str; 7] = [
        "estimate",
        "low",
        "high",
        "p",
        "rel_estimate",
        "rel_low",
        "rel_high",
    ];
    let mut floats: [Option<PyReadonlyArray2<'py, f64>>; 7] = Default::default();
    for (i, key) in KEYS.iter().enumerate() {
        let x = item(i + 2)?;
        if !x.is_none() {
            let x: PyReadonlyArray2<'py, f64> = x.extract()?;
            check(key, x.shape())?;
            floats[i] = Some(x);
        }
    }
    Ok(Answer {
        reject,
        look,
        floats,
    })
}

/// Fill every decision from the answer, with the sample size and
/// definedness read from the statistics at the stopping look.
fn fill(b: &LookBatch<'_>, a: &Answer<'_>, out: &mut [Decision]) -> PyResult<()> {
    let reject = a.reject.as_array();
    let look = a.look.as_ref().map(PyReadonlyArray2::as_array);
    let floats: Vec<_> = a
        .floats
        .iter()
        .map(|f| f.as_ref().map(PyReadonlyArray2::as_array))
        .collect();
    let at = |i: usize, r: usize, c: usize| floats[i].as_ref().map_or(f64::NAN, |x| x[[r, c]]);
    let comps = b.comparisons.len();
    for r in 0..b.replications {
        for (c, comp) in b.comparisons.iter().enumerate() {
            let k = match &look {
                None => b.looks - 1,
                Some(l) => {
                    let k = l[[r, c]];
                    usize::try_from(k).ok().filter(|&k| k < b.looks).ok_or_else(|| {
                        PyValueError::new_err(format!(
                            "`look` is {k} at replication {} comparison {c}: looks are 0..{} (0-based)",
                            b.first + r as u64,
                            b.looks
                        ))
                    })?
                }
            };
            let arms = b.arms_at(r, k, comp.metric);
            let (control, variant) = (&arms[0], &arms[comp.variant]);
            let diff = at(0, r, c);
            let control_mean = control.sum / control.n as f64;
            let rel = match &floats[4] {
                Some(x) => x[[r, c]],
                None if control_mean != 0.0 => diff / control_mean,
                None => f64::NAN,
            };
            out[r * comps + c] = Decision {
                rejected: reject[[r, c]],
                look: k,
                p_value: at(3, r, c),
                diff,
                diff_ci: (at(1, r, c), at(2, r, c)),
                rel,
                rel_ci: (at(5, r, c), at(6, r, c)),
                sample_size: control.n + variant.n,
                variance_reduction: f64::NAN,
                defined: control.n >= 2 && variant.n >= 2,
            };
        }
    }
    Ok(())
}
