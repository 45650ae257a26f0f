//! Encoded-exfiltration detection: base64, base64url, hex, percent-encoded and escaped
//! (`\xNN`, `\uNNNN`) payloads, scored by the entropy of the encoding and by what they decode
//! to (printable text, secret-looking words, a URL, a known secret pattern).
//!
//! The score is a sum of fixed terms added in a fixed order, so the Python twin
//! (`forge/plugins/scanners/exfil.py`) computes the very same float.

use std::sync::OnceLock;

use memchr::memmem;

use crate::decode;
use crate::finding::{resolve, Candidate, Claim, Finding};
use crate::kinds::enabled_by_name;
use crate::regions::{matches_in, Compiled};
use crate::secrets::{self, SecretsConfig};
use crate::text::{entropy, Text};

/// The kinds, in claiming order for equal scores.
pub const KINDS: [&str; 5] = ["ESCAPED", "PERCENT_ENCODED", "HEX", "BASE64URL", "BASE64"];
const ESCAPED: usize = 0;
const PERCENT_ENCODED: usize = 1;
const HEX: usize = 2;
const BASE64URL: usize = 3;
const BASE64: usize = 4;
/// bits per character of each alphabet, to normalise the entropy term
const MAX_BITS: [f64; 5] = [4.0, 6.0, 4.0, 6.0, 6.0];
const KEYWORDS: [&str; 12] = [
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "private key",
    "-----begin",
    "ssh-rsa",
    "authorization",
    "bearer ",
    "credential",
];
const MIN_ESCAPES: usize = 2;

#[derive(Debug, Clone)]
pub struct ExfilConfig {
    /// enabled kinds, by index into `KINDS`
    pub enabled: [bool; 5],
    /// a payload is reported when its score reaches this
    pub score_threshold: f64,
    /// payloads that decode to fewer bytes are ignored
    pub min_decoded_bytes: usize,
}

impl Default for ExfilConfig {
    fn default() -> Self {
        ExfilConfig {
            enabled: [true; 5],
            score_threshold: 0.6,
            min_decoded_bytes: 8,
        }
    }
}

impl ExfilConfig {
    pub fn with_kinds<S: AsRef<str>>(
        kinds: &[S],
        score_threshold: f64,
        min_decoded_bytes: usize,
    ) -> Result<Self, String> {
        Ok(ExfilConfig {
            enabled: enabled_by_name(&KINDS, kinds)?,
            score_threshold,
            min_decoded_bytes,
        })
    }
}

/// (name, pattern) of the candidate finders: escapes, percent runs, hex runs, base64 runs
/// (both alphabets; which one is decided in code).
pub fn patterns() -> Vec<(&'static str, String)> {
    vec![
        (
            "ESCAPED",
            r"(?:\\x[0-9A-Fa-f]{2}|\\u[0-9A-Fa-f]{4}){4,}".to_string(),
        ),
        (
            "PERCENT_ENCODED",
            r"(?:%[0-9A-Fa-f]{2}|[A-Za-z0-9._~+-]){12,}".to_string(),
        ),
        ("HEX", r"[0-9A-Fa-f]{16,}".to_string()),
        ("BASE64", r"[A-Za-z0-9+/_-]{16,}={0,2}".to_string()),
    ]
}

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| {
        // every finder searches in regions: payloads are long runs of their alphabets, and
        // prose has few such runs
        let pats = patterns();
        let all: Vec<usize> = (0..pats.len()).collect();
        Compiled::new(&pats, &all)
    })
}

/// The score and the hints of one decoded payload; None when it decodes to too little.
fn score(
    kind: usize,
    encoded: &[u8],
    decoded: &[u8],
    config: &ExfilConfig,
) -> Option<(f64, String)> {
    if decoded.len() < config.min_decoded_bytes {
        return None;
    }
    let text = decode::as_text(decoded);
    let mut hints: Vec<&str> = Vec::new();
    let mut score = 0.0f64;
    if text.is_some() {
        score += 0.25;
        hints.push("text");
    }
    score += 0.2 * (entropy(encoded) / MAX_BITS[kind]).min(1.0);
    if decoded.len() >= 48 {
        score += 0.1;
    }
    if let Some(text) = text {
        let lower = decoded.to_ascii_lowercase();
        if KEYWORDS
            .iter()
            .any(|k| memmem::find(&lower, k.as_bytes()).is_some())
        {
            score += 0.35;
            hints.push("keyword");
        }
        if memmem::find(&lower, b"http://").is_some() || memmem::find(&lower, b"https://").is_some()
        {
            score += 0.3;
            hints.push("url");
        }
        if !secrets::scan(text, &SecretsConfig::default()).is_empty() {
            score += 0.5;
            hints.push("secret");
        }
    }
    Some((score.min(1.0), hints.join(",")))
}

fn consider(
    out: &mut Vec<Candidate>,
    kind: usize,
    s: usize,
    e: usize,
    enc: &[u8],
    dec: Option<Vec<u8>>,
    config: &ExfilConfig,
) {
    let Some(dec) = dec else { return };
    if let Some((score, detail)) = score(kind, enc, &dec, config) {
        if score >= config.score_threshold {
            out.push(Candidate::of(&KINDS, kind, s, e, score, detail));
        }
    }
}

/// Every encoded payload in `text` that scores at least the threshold; where payloads overlap
/// the higher score wins.
pub fn scan(text: &str, config: &ExfilConfig) -> Vec<Finding> {
    let t = Text::new(text);
    let c = compiled();
    let res = &c.res;
    let regions = c.regions.find(t.b);
    let found = |i: usize| matches_in(&res[i], text, &regions);
    let mut out = Vec::new();
    if config.enabled[ESCAPED] {
        for (ms, me) in found(0) {
            let enc = &t.b[ms..me];
            consider(
                &mut out,
                ESCAPED,
                ms,
                me,
                enc,
                Some(decode::escapes(enc)),
                config,
            );
        }
    }
    if config.enabled[PERCENT_ENCODED] {
        for (ms, me) in found(1) {
            let enc = &t.b[ms..me];
            if enc.iter().filter(|&&b| b == b'%').count() >= MIN_ESCAPES {
                consider(
                    &mut out,
                    PERCENT_ENCODED,
                    ms,
                    me,
                    enc,
                    Some(decode::percent(enc)),
                    config,
                );
            }
        }
    }
    if config.enabled[HEX] {
        for (ms, me) in found(2) {
            let enc = &t.b[ms..me];
            consider(&mut out, HEX, ms, me, enc, decode::hex(enc), config);
        }
    }
    if config.enabled[BASE64] || config.enabled[BASE64URL] {
        for (ms, me) in found(3) {
            let enc = &t.b[ms..me];
            let core = &enc[..enc.iter().position(|&b| b == b'=').unwrap_or(enc.len())];
            let std_chars = core.iter().any(|&b| b == b'+' || b == b'/');
            let url_chars = core.iter().any(|&b| b == b'-' || b == b'_');
            let kind = match (std_chars, url_chars) {
                (true, true) => continue,
                (false, true) => BASE64URL,
                _ => BASE64,
            };
            if config.enabled[kind] {
                consider(
                    &mut out,
                    kind,
                    ms,
                    me,
                    enc,
                    decode::base64(core, kind == BASE64URL),
                    config,
                );
            }
        }
    }
    resolve(&t, out, Claim::Score)
}
