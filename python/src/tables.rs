//! A result's tidy tables (the ones `umpire export --to csv` writes, from
//! `umpire_reports::tables`) as typed columns for pandas: one path, so the
//! Python `Result` and the CSV export cannot disagree.

use numpy::PyArray1;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use umpire_reports::AnyResult;
use umpire_reports::tables::{
    BY_LOOK_COLUMNS, Cell, REGRET_COLUMNS, SUMMARY_COLUMNS, SWEEP_BY_LOOK_COLUMNS,
    SWEEP_POINTS_COLUMNS, SWEEP_REGRET_COLUMNS, SWEEP_SUMMARY_COLUMNS, Table, tables,
};

/// The result's `summary`, `by_look` and `regret` tables, and a sweep's
/// `sweep_points`, `sweep_summary`, `sweep_by_look` and `sweep_regret` (a
/// table the result lacks has no rows): plain Rust, built without the GIL.
pub fn build(result: &AnyResult) -> Vec<Table> {
    let mut all = tables(std::slice::from_ref(result));
    for (name, columns) in [
        ("summary", SUMMARY_COLUMNS),
        ("by_look", BY_LOOK_COLUMNS),
        ("regret", REGRET_COLUMNS),
        ("sweep_points", SWEEP_POINTS_COLUMNS),
        ("sweep_summary", SWEEP_SUMMARY_COLUMNS),
        ("sweep_by_look", SWEEP_BY_LOOK_COLUMNS),
        ("sweep_regret", SWEEP_REGRET_COLUMNS),
    ] {
        if !all.iter().any(|t| t.name == name) {
            all.push(Table {
                name,
                columns,
                rows: Vec::new(),
            });
        }
    }
    all
}

/// `{table: (columns, {column: (kind, data)})}` for the tables [`build`]
/// gives. Kinds: `text` (a list of str or None), `float` (float64 array,
/// NaN where empty), `int` (int64 array and a bool mask, True where empty).
pub fn to_python<'py>(py: Python<'py>, all: &[Table]) -> PyResult<Bound<'py, PyDict>> {
    let out = PyDict::new(py);
    for t in all {
        let cols = PyDict::new(py);
        for (i, column) in t.columns.iter().enumerate() {
            cols.set_item(*column, column_data(py, t, i)?)?;
        }
        out.set_item(t.name, (t.columns.to_vec(), cols))?;
    }
    Ok(out)
}

/// Columns of names and labels, text even when every cell is empty.
const TEXT: &[&str] = &[
    "scenario", "kind", "method", "policy", "metric", "control", "variant", "measure", "path",
    "text",
];
/// Columns of counts and indices, integers even when every cell is empty.
const INT: &[&str] = &[
    "arm",
    "successes",
    "trials",
    "replications",
    "look",
    "checkpoint",
    "point",
];

/// Column `i` of `t`, typed by its cells: any text makes it text, any float
/// makes it float, only counts an integer column; a column with no values
/// takes its type from its name.
fn column_data<'py>(py: Python<'py>, t: &Table, i: usize) -> PyResult<Bound<'py, PyAny>> {
    let cells = || t.rows.iter().map(move |r| &r[i]);
    let empty = cells().all(|c| matches!(c, Cell::Empty));
    let name = t.columns[i];
    if cells().any(|c| matches!(c, Cell::Text(_))) || (empty && TEXT.contains(&name)) {
        let list = PyList::empty(py);
        for c in cells() {
            match c {
                Cell::Text(s) => list.append(s)?,
                Cell::Int(n) => list.append(n.to_string())?,
                Cell::Float(x) => list.append(x.to_string())?,
                Cell::Empty => list.append(py.None())?,
            }
        }
        return ("text", list).into_pyobject(py).map(Bound::into_any);
    }
    if cells().any(|c| matches!(c, Cell::Float(_))) || (empty && !INT.contains(&name)) {
        let v: Vec<f64> = cells()
            .map(|c| match c {
                Cell::Float(x) => *x,
                Cell::Int(n) => *n as f64,
                _ => f64::NAN,
            })
            .collect();
        return ("float", PyArray1::from_vec(py, v))
            .into_pyobject(py)
            .map(Bound::into_any);
    }
    let values: Vec<i64> = cells()
        .map(|c| match c {
            Cell::Int(n) => i64::try_from(*n).unwrap_or(i64::MAX),
            _ => 0,
        })
        .collect();
    let mask: Vec<bool> = cells().map(|c| matches!(c, Cell::Empty)).collect();
    (
        "int",
        PyArray1::from_vec(py, values),
        PyArray1::from_vec(py, mask),
    )
        .into_pyobject(py)
        .map(Bound::into_any)
}
