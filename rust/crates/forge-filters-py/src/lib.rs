//! `forge_filters_native`: the thin PyO3 binding of `forge-filters-core`.
//!
//! Arguments arrive already validated by the Python wrapper (`forge.plugins.scanners.native`);
//! whatever still goes wrong is raised as `forge_filters_native.ScannerError`. Scans run with
//! the interpreter detached, so other Python threads keep running.

use forge_filters_core::{exfil, mask as core_mask, pii, secrets, Finding, MaskMode};
use std::collections::HashMap;

use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyFloat, PyList, PyString, PyType};

create_exception!(
    forge_filters_native,
    ScannerError,
    PyValueError,
    "A scanner was called with arguments it cannot use."
);

/// `forge.plugins.scanners.findings.Finding`, the NamedTuple every finding is returned as.
static FINDING: PyOnceLock<Py<PyType>> = PyOnceLock::new();
/// Every kind name of every scanner as an interned Python string, made once.
static KIND_NAMES: PyOnceLock<HashMap<&'static str, Py<PyString>>> = PyOnceLock::new();

fn kind_names(py: Python<'_>) -> &HashMap<&'static str, Py<PyString>> {
    KIND_NAMES.get_or_init(py, || {
        pii::KINDS
            .iter()
            .chain(secrets::KINDS.iter())
            .chain(exfil::KINDS.iter())
            .map(|&k| (k, PyString::intern(py, k).unbind()))
            .collect()
    })
}

/// The findings as a list of `Finding`s, built here: a Finding is a tuple subclass without
/// fields of its own, allocated by its type and filled like a tuple (what `tuple.__new__`
/// does), so no Python-level call runs per finding.
fn rows(py: Python<'_>, findings: Vec<Finding>) -> PyResult<Bound<'_, PyList>> {
    let cls = FINDING.get_or_try_init(py, || -> PyResult<Py<PyType>> {
        let cls = py
            .import("forge.plugins.scanners.findings")?
            .getattr("Finding")?
            .cast_into::<PyType>()?;
        Ok(cls.unbind())
    })?;
    let tp = cls.bind(py).as_type_ptr();
    let names = kind_names(py);
    let list = PyList::empty(py);
    for f in findings {
        let kind = match names.get(f.kind) {
            Some(k) => k.clone_ref(py).into_bound(py).into_any(),
            None => PyString::new(py, f.kind).into_any(),
        };
        let items = [
            kind,
            f.start.into_pyobject(py)?.into_any(),
            f.end.into_pyobject(py)?.into_any(),
            PyFloat::new(py, f.score).into_any(),
            PyString::new(py, &f.detail).into_any(),
        ];
        // SAFETY: `tp` is a tuple subclass with no instance fields (a NamedTuple), so its
        // tp_alloc(tp, 5) returns a 5-slot tuple; every slot is set right after, from items
        // made beforehand, before the object is used anywhere.
        let obj = unsafe {
            let alloc = (*tp).tp_alloc.unwrap_or(ffi::PyType_GenericAlloc);
            let obj = alloc(tp, 5);
            if obj.is_null() {
                return Err(PyErr::fetch(py));
            }
            for (i, item) in items.into_iter().enumerate() {
                ffi::PyTuple_SET_ITEM(obj, i as ffi::Py_ssize_t, item.into_ptr());
            }
            Bound::from_owned_ptr(py, obj)
        };
        list.append(obj)?;
    }
    Ok(list)
}

fn unknown(kind: String) -> PyErr {
    ScannerError::new_err(format!("unknown kind {kind:?}"))
}

/// PII findings as `Finding`s, (kind, start, end, score, detail) tuples.
#[pyfunction]
fn scan_pii<'py>(
    py: Python<'py>,
    text: &str,
    kinds: Vec<String>,
    dob_window: usize,
) -> PyResult<Bound<'py, PyList>> {
    let config = pii::PiiConfig::with_kinds(&kinds, dob_window).map_err(unknown)?;
    let found = py.detach(|| pii::scan(text, &config));
    rows(py, found)
}

/// Secrets findings as `Finding`s, (kind, start, end, score, detail) tuples.
#[pyfunction]
fn scan_secrets<'py>(
    py: Python<'py>,
    text: &str,
    kinds: Vec<String>,
    entropy_threshold: f64,
    min_generic_length: usize,
) -> PyResult<Bound<'py, PyList>> {
    let config = secrets::SecretsConfig::with_kinds(&kinds, entropy_threshold, min_generic_length)
        .map_err(unknown)?;
    let found = py.detach(|| secrets::scan(text, &config));
    rows(py, found)
}

/// Encoded-payload findings as `Finding`s, (kind, start, end, score, detail) tuples.
#[pyfunction]
fn scan_exfil<'py>(
    py: Python<'py>,
    text: &str,
    kinds: Vec<String>,
    score_threshold: f64,
    min_decoded_bytes: usize,
) -> PyResult<Bound<'py, PyList>> {
    let config = exfil::ExfilConfig::with_kinds(&kinds, score_threshold, min_decoded_bytes)
        .map_err(unknown)?;
    let found = py.detach(|| exfil::scan(text, &config));
    rows(py, found)
}

/// `text` with the (kind, start, end) spans masked in `mode` (redact, partial or hash).
#[pyfunction]
fn mask(
    py: Python<'_>,
    text: &str,
    spans: Vec<(String, usize, usize)>,
    mode: &str,
) -> PyResult<String> {
    let mode = MaskMode::parse(mode)
        .ok_or_else(|| ScannerError::new_err(format!("unknown mode {mode:?}")))?;
    py.detach(|| core_mask(text, &spans, mode))
        .map_err(|e| ScannerError::new_err(e.0))
}

/// (scanner, name, pattern) of every regular expression, to check the Python twin uses the same.
#[pyfunction]
fn patterns() -> Vec<(&'static str, &'static str, String)> {
    let mut out = Vec::new();
    for (scanner, list) in [
        ("pii", pii::patterns()),
        ("secrets", secrets::patterns()),
        ("exfil", exfil::patterns()),
    ] {
        out.extend(list.into_iter().map(|(name, p)| (scanner, name, p)));
    }
    out
}

#[pymodule]
mod forge_filters_native {
    #[pymodule_export]
    use super::{mask, patterns, scan_exfil, scan_pii, scan_secrets, ScannerError};
}
