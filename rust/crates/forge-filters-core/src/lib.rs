//! Forge guardrail scanners: PII, secrets and encoded-exfiltration detection, and masking.
//!
//! Pure Rust (no Python types); `forge-filters-py` binds it as `forge_filters_native`. Each
//! function has a pure-Python twin in `forge.plugins.scanners` that returns identical findings
//! and masks; a shared differential test holds them to that.
//!
//! Offsets in findings and in masking are code-point offsets (Python `str` indices).

mod checks;
mod decode;
mod dob;
pub mod exfil;
mod finding;
mod kinds;
mod masking;
pub mod pii;
mod regions;
pub mod secrets;
mod sha256;
mod text;

pub use finding::Finding;
pub use masking::{mask, MaskError, MaskMode};
