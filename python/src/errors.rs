//! Keeps the Python exceptions raised inside plug-ins while the engine
//! carries only their text (`PluginError` is plain data), so the exception
//! the user sees can chain the original one, traceback included.

use std::sync::Mutex;

use pyo3::prelude::*;
use umpire_sim::plugin::PluginError;

/// The Python exceptions plug-ins raised during one run, by plug-in and
/// first replication of the failing batch.
#[derive(Default)]
pub struct Stash(Mutex<Vec<(String, u64, PyErr)>>);

impl Stash {
    /// Keep `err`, raised by plug-in `name` on replications `first..end`, and
    /// describe it for the engine.
    pub fn keep(
        &self,
        py: Python<'_>,
        name: &str,
        first: u64,
        end: u64,
        err: PyErr,
    ) -> PluginError {
        let message = describe(py, &err);
        if let Ok(mut kept) = self.0.lock() {
            kept.push((name.to_owned(), first, err));
        }
        PluginError::at(name, first..end, message)
    }

    /// The exception plug-in `name` raised on the batch starting at `first`.
    pub fn take(&self, name: &str, first: u64) -> Option<PyErr> {
        let mut kept = self.0.lock().ok()?;
        let i = kept.iter().position(|(n, f, _)| n == name && *f == first)?;
        Some(kept.swap_remove(i).2)
    }
}

/// `TypeName: message`, as Python prints an exception's last line.
fn describe(py: Python<'_>, err: &PyErr) -> String {
    let ty = err
        .get_type(py)
        .qualname()
        .map_or_else(|_| "Exception".to_owned(), |q| q.to_string());
    let value = err
        .value(py)
        .str()
        .map_or_else(|_| String::new(), |s| s.to_string());
    if value.is_empty() {
        ty
    } else {
        format!("{ty}: {value}")
    }
}
