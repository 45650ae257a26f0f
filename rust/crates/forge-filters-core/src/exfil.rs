//! Encoded-exfiltration detection: base64, base64url, hex (also split into DNS labels),
//! percent-encoded and escaped (`\xNN`, `\uNNNN`) payloads, scored by the entropy of the
//! encoding and by what they decode to (printable text, secret-looking words, a URL with data,
//! and a secret or personal data that the secrets and PII scanners find in it, or in a payload
//! encoded inside it, decoded once more; the detail names the inner kind, e.g.
//! "text,pii:EMAIL").
//!
//! The score is a sum of fixed terms added in a fixed order, so the Python twin
//! (`forge/plugins/scanners/exfil.py`) computes the very same float.

use std::sync::OnceLock;

use memchr::memmem;

use crate::decode;
use crate::finding::{resolve, Candidate, Claim, Finding};
use crate::kinds::enabled_by_name;
use crate::pii::{self, PiiConfig};
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
const MIN_ESCAPES: usize = 1;
/// hex digits that hex split into DNS labels must hold, joined
const MIN_HEX_LABELS: usize = 16;

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
        (
            "HEX",
            r"[0-9A-Fa-f]{8,63}(?:\.[0-9A-Fa-f]{1,63})+\.[A-Za-z0-9-]*[G-Zg-z-][A-Za-z0-9-]*"
                .to_string(),
        ),
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

/// What decoded text is searched for: every PII kind but addresses (configs name hosts all
/// the time) and phones (any run of digits in decoded data, a timestamp or an id, may look
/// like one).
fn inner_pii() -> &'static PiiConfig {
    static C: OnceLock<PiiConfig> = OnceLock::new();
    C.get_or_init(|| {
        let mut c = PiiConfig::default();
        for (i, k) in pii::KINDS.iter().enumerate() {
            if matches!(*k, "IPV4" | "IPV6" | "PHONE") {
                c.enabled[i] = false;
            }
        }
        c
    })
}

/// A link without a query and nothing else (an OAuth `redirect_uri`, a `next=` target): no
/// data travels in it.
fn bare_link(text: &str) -> bool {
    (text.starts_with("http://") || text.starts_with("https://"))
        && !text
            .bytes()
            .any(|b| matches!(b, b'?' | b' ' | b'\t' | b'\n' | b'\r'))
}

/// The first secret or PII kind in decoded text ("secret:JWT", "pii:EMAIL"); with `nested`,
/// also in the payloads encoded inside it, decoded once more. None when there is none.
fn inner(text: &str, nested: bool) -> Option<String> {
    if text.ends_with("/aws4_request") {
        return None; // a SigV4 credential scope: signed URLs carry the key id by design
    }
    if let Some(f) = secrets::scan(text, &SecretsConfig::default()).first() {
        return Some(format!("secret:{}", f.kind));
    }
    if let Some(f) = pii::scan(text, inner_pii()).first() {
        return Some(format!("pii:{}", f.kind));
    }
    if nested {
        for p in payloads(text, &[true; 5]) {
            if let Some(inner_text) = p.decoded.as_deref().and_then(decode::as_text) {
                if let Some(found) = inner(inner_text, false) {
                    return Some(found);
                }
            }
        }
    }
    None
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
    let mut hints: Vec<String> = Vec::new();
    let mut score = 0.0f64;
    if text.is_some() {
        score += 0.25;
        hints.push("text".to_string());
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
            hints.push("keyword".to_string());
        }
        if (memmem::find(&lower, b"http://").is_some()
            || memmem::find(&lower, b"https://").is_some())
            && !bare_link(text)
        {
            score += 0.3;
            hints.push("url".to_string());
        }
        if let Some(found) = inner(text, true) {
            score += 0.5;
            hints.push(found);
        }
    }
    Some((score.min(1.0), hints.join(",")))
}

/// One candidate run: its kind, byte span, the encoded text scored and what it decodes to.
struct Payload<'a> {
    kind: usize,
    start: usize,
    end: usize,
    encoded: std::borrow::Cow<'a, [u8]>,
    decoded: Option<Vec<u8>>,
}

/// BASE64 or BASE64URL by the alphabet, then by the padding (base64url drops it); None for a
/// mixed alphabet or a JWT's segment (the secrets scanner reports JWTs).
fn base64_kind(b: &[u8], s: usize, e: usize, core: &[u8]) -> Option<usize> {
    let std_chars = core.iter().any(|&c| c == b'+' || c == b'/');
    let url_chars = core.iter().any(|&c| c == b'-' || c == b'_');
    if std_chars && url_chars {
        return None;
    }
    if core.starts_with(b"eyJ") && (b.get(e) == Some(&b'.') || (s > 0 && b[s - 1] == b'.')) {
        return None;
    }
    if url_chars || (!std_chars && e - s == core.len() && core.len() % 4 != 0) {
        return Some(BASE64URL);
    }
    Some(BASE64)
}

/// Every candidate run, finder by finder, in the Python twin's order.
fn payloads<'a>(text: &'a str, enabled: &[bool; 5]) -> Vec<Payload<'a>> {
    let b = text.as_bytes();
    let c = compiled();
    let res = &c.res;
    let regions = c.regions.find(b);
    let found = |i: usize| matches_in(&res[i], text, &regions);
    let with_byte = |x: u8| -> Vec<(usize, usize)> {
        regions
            .iter()
            .copied()
            .filter(|&(a, e)| memchr::memchr(x, &b[a..e]).is_some())
            .collect()
    };
    let mut out = Vec::new();
    let mut push = |kind, start, end, encoded, decoded| {
        out.push(Payload {
            kind,
            start,
            end,
            encoded,
            decoded,
        })
    };
    if enabled[ESCAPED] {
        // escapes need a backslash: runs without one are skipped unsearched
        for (ms, me) in matches_in(&res[0], text, &with_byte(b'\\')) {
            let enc = &b[ms..me];
            push(ESCAPED, ms, me, enc.into(), Some(decode::escapes(enc)));
        }
    }
    if enabled[PERCENT_ENCODED] {
        // a run without `%` would be dropped below: it is skipped unsearched
        for (ms, me) in matches_in(&res[1], text, &with_byte(b'%')) {
            let enc = &b[ms..me];
            if enc.iter().filter(|&&x| x == b'%').count() >= MIN_ESCAPES {
                push(
                    PERCENT_ENCODED,
                    ms,
                    me,
                    enc.into(),
                    Some(decode::percent(enc)),
                );
            }
        }
    }
    if enabled[HEX] {
        // hex split into DNS labels (`6a6f686e20446f65.40.1.evil.example`): the labels, joined;
        // the first holds 8 digits at least (tunnels send long labels; shorter runs are words)
        // the labels need two dots at least: most runs (words, tokens, payloads) have fewer
        let dotted: Vec<(usize, usize)> = regions
            .iter()
            .copied()
            .filter(|&(a, e)| memchr::memchr_iter(b'.', &b[a..e]).nth(1).is_some())
            .collect();
        for (ms, me) in matches_in(&res[4], text, &dotted) {
            if ms > 0 && b[ms - 1].is_ascii_alphanumeric() {
                continue; // the end of a longer run
            }
            let mut labels: Vec<&[u8]> = b[ms..me].split(|&x| x == b'.').collect();
            while labels
                .last()
                .is_some_and(|l| !l.iter().all(u8::is_ascii_hexdigit))
            {
                labels.pop();
            }
            let mut dec = decode::hex(&labels.concat());
            if dec.as_deref().and_then(decode::as_text).is_none() && labels.len() > 2 {
                labels.pop(); // a counter or nonce label after the data
                dec = decode::hex(&labels.concat());
            }
            let joined: Vec<u8> = labels.concat();
            if joined.len() >= MIN_HEX_LABELS {
                let e = ms + joined.len() + labels.len() - 1;
                push(HEX, ms, e, joined.into(), dec);
            }
        }
        for (ms, me) in found(2) {
            let enc = &b[ms..me];
            push(HEX, ms, me, enc.into(), decode::hex(enc));
        }
    }
    if enabled[BASE64] || enabled[BASE64URL] {
        for (ms, me) in found(3) {
            let enc = &b[ms..me];
            let core = &enc[..enc.iter().position(|&x| x == b'=').unwrap_or(enc.len())];
            let Some(kind) = base64_kind(b, ms, me, core) else {
                continue;
            };
            if enabled[kind] {
                push(
                    kind,
                    ms,
                    me,
                    enc.into(),
                    decode::base64(core, kind == BASE64URL),
                );
            }
        }
    }
    out
}

/// Every encoded payload in `text` that scores at least the threshold; where payloads overlap
/// the higher score wins.
pub fn scan(text: &str, config: &ExfilConfig) -> Vec<Finding> {
    let t = Text::new(text);
    let mut out = Vec::new();
    for p in payloads(text, &config.enabled) {
        let Some(dec) = p.decoded else { continue };
        if let Some((score, detail)) = score(p.kind, &p.encoded, &dec, config) {
            if score >= config.score_threshold {
                out.push(Candidate::of(&KINDS, p.kind, p.start, p.end, score, detail));
            }
        }
    }
    resolve(&t, out, Claim::Score)
}
