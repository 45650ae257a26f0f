//! `forge_filters_native`: the thin PyO3 binding of `forge-filters-core`.
//!
//! Arguments arrive already validated by the Python wrapper (`forge.plugins.scanners.native`);
//! whatever still goes wrong is raised as `forge_filters_native.ScannerError`. Scans run with
//! the interpreter detached, so other Python threads keep running.

use forge_filters_core::{exfil, mask as core_mask, pii, secrets, Finding, MaskMode};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

create_exception!(
    forge_filters_native,
    ScannerError,
    PyValueError,
    "A scanner was called with arguments it cannot use."
);

type Row = (&'static str, usize, usize, f64, String);

fn rows(findings: Vec<Finding>) -> Vec<Row> {
    findings
        .into_iter()
        .map(|f| (f.kind, f.start, f.end, f.score, f.detail))
        .collect()
}

fn unknown(kind: String) -> PyErr {
    ScannerError::new_err(format!("unknown kind {kind:?}"))
}

/// PII findings as (kind, start, end, score, detail) tuples.
#[pyfunction]
fn scan_pii(
    py: Python<'_>,
    text: &str,
    kinds: Vec<String>,
    dob_window: usize,
) -> PyResult<Vec<Row>> {
    let config = pii::PiiConfig::with_kinds(&kinds, dob_window).map_err(unknown)?;
    Ok(py.detach(|| rows(pii::scan(text, &config))))
}

/// Secrets findings as (kind, start, end, score, detail) tuples.
#[pyfunction]
fn scan_secrets(
    py: Python<'_>,
    text: &str,
    kinds: Vec<String>,
    entropy_threshold: f64,
    min_generic_length: usize,
) -> PyResult<Vec<Row>> {
    let config = secrets::SecretsConfig::with_kinds(&kinds, entropy_threshold, min_generic_length)
        .map_err(unknown)?;
    Ok(py.detach(|| rows(secrets::scan(text, &config))))
}

/// Encoded-payload findings as (kind, start, end, score, detail) tuples.
#[pyfunction]
fn scan_exfil(
    py: Python<'_>,
    text: &str,
    kinds: Vec<String>,
    score_threshold: f64,
    min_decoded_bytes: usize,
) -> PyResult<Vec<Row>> {
    let config = exfil::ExfilConfig::with_kinds(&kinds, score_threshold, min_decoded_bytes)
        .map_err(unknown)?;
    Ok(py.detach(|| rows(exfil::scan(text, &config))))
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
