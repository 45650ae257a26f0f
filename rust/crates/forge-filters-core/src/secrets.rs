//! Secrets detection: cloud provider keys (AWS, GCP, Azure), SaaS API tokens, PEM private
//! keys, JWTs, and generic high-entropy values after a cue such as `password=` or `token:`.
//!
//! Patterns are shared verbatim with the Python twin (`forge/plugins/scanners/secrets.py`); all
//! further checks are done in code, identically in both.

use std::sync::OnceLock;

use regex::Regex;

use crate::decode;
use crate::finding::{resolve, Candidate, Claim, Finding};
use crate::kinds::enabled_by_name;
use crate::text::{ci, entropy, Text};

/// (kind, pattern, score, detail); the span is capture group 1 when the pattern has one. An
/// earlier kind wins an overlap.
const SPECS: [(&str, &str, f64, &str); 23] = [
    (
        "PRIVATE_KEY",
        r"-----BEGIN (?:[A-Z0-9]{1,10} ){0,2}PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\r\n\t :,.\\-]*?-----END (?:[A-Z0-9]{1,10} ){0,2}PRIVATE KEY(?: BLOCK)?-----)?",
        1.0,
        "pem",
    ),
    (
        "GCP_SERVICE_ACCOUNT_KEY",
        r#""private_key_id" ?: ?"[0-9a-f]{40}""#,
        0.95,
        "gcp",
    ),
    (
        "AWS_ACCESS_KEY_ID",
        r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16}",
        0.95,
        "aws",
    ),
    ("AWS_SECRET_ACCESS_KEY", "", 0.9, "aws"),
    (
        "AZURE_CONNECTION_STRING",
        r"DefaultEndpointsProtocol=https?;AccountName=[A-Za-z0-9]{3,24};AccountKey=[A-Za-z0-9+/]{86}==(?:;EndpointSuffix=[A-Za-z0-9.]{1,64})?",
        0.95,
        "azure",
    ),
    (
        "AZURE_STORAGE_KEY",
        r"AccountKey=([A-Za-z0-9+/]{86}==)",
        0.9,
        "azure",
    ),
    (
        "GITHUB_TOKEN",
        r"(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}",
        0.95,
        "github",
    ),
    ("GITLAB_TOKEN", r"glpat-[A-Za-z0-9_-]{20}", 0.95, "gitlab"),
    (
        "SLACK_WEBHOOK",
        r"https://hooks\.slack\.com/services/T[A-Z0-9]{8,12}/B[A-Z0-9]{8,12}/[A-Za-z0-9]{24}",
        0.95,
        "slack",
    ),
    (
        "SLACK_TOKEN",
        r"xox[abposr]-[0-9]{6,15}-[A-Za-z0-9-]{10,}",
        0.95,
        "slack",
    ),
    (
        "STRIPE_KEY",
        r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{24,}",
        0.95,
        "stripe",
    ),
    (
        "ANTHROPIC_API_KEY",
        r"sk-ant-(?:api|admin)[0-9]{2}-[A-Za-z0-9_-]{80,}",
        0.95,
        "anthropic",
    ),
    (
        "OPENAI_API_KEY",
        r"sk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}|sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{40,}",
        0.95,
        "openai",
    ),
    ("GCP_API_KEY", r"AIza[0-9A-Za-z_-]{35}", 0.9, "google"),
    (
        "GOOGLE_OAUTH_SECRET",
        r"GOCSPX-[A-Za-z0-9_-]{28}",
        0.95,
        "google",
    ),
    (
        "GOOGLE_OAUTH_TOKEN",
        r"ya29\.[0-9A-Za-z_-]{20,}",
        0.9,
        "google",
    ),
    ("TWILIO_API_KEY", r"SK[0-9a-f]{32}", 0.8, "twilio"),
    (
        "SENDGRID_API_KEY",
        r"SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}",
        0.95,
        "sendgrid",
    ),
    ("NPM_TOKEN", r"npm_[A-Za-z0-9]{36}", 0.95, "npm"),
    (
        "PYPI_TOKEN",
        r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}",
        0.95,
        "pypi",
    ),
    (
        "HUGGINGFACE_TOKEN",
        r"hf_[A-Za-z0-9]{34}",
        0.9,
        "huggingface",
    ),
    (
        "JWT",
        r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*",
        0.9,
        "jwt",
    ),
    ("GENERIC_SECRET", "", 0.0, "generic"),
];

pub const KINDS: [&str; 23] = {
    let mut k = [""; 23];
    let mut i = 0;
    while i < 23 {
        k[i] = SPECS[i].0;
        i += 1;
    }
    k
};

const PRIVATE_KEY: usize = 0;
const AWS_SECRET_ACCESS_KEY: usize = 3;
const JWT: usize = 21;
const GENERIC_SECRET: usize = 22;

const AWS_CUE: &str =
    "(?:aws[_ .-]?secret(?:[_ .-]?access)?(?:[_ .-]?key)?|secret[_ .-]?access[_ .-]?key)";
const GENERIC_CUE: &str = "(?:pass(?:word|wd|phrase)|pwd|(?:client[_-]?)?secret(?:[_-]?key)?|(?:(?:access|auth|refresh)[_-]?)?token|(?:api|access|private)[_-]?key)";
const SEPARATOR: &str = r#"["']?[ \t]{0,4}(?:=>|:=|[:=])[ \t]{0,4}["']?"#;
const AWS_SEPARATOR: &str = r#"["']?[ \t]{0,4}(?:=>|:=|[:=])?[ \t]{0,4}["']?"#;
const PLACEHOLDERS: [&str; 10] = [
    "changeme",
    "password",
    "example",
    "redacted",
    "placeholder",
    "undefined",
    "secret",
    "null",
    "none",
    "notasecret",
];

#[derive(Debug, Clone)]
pub struct SecretsConfig {
    /// enabled kinds, by index into `KINDS`
    pub enabled: [bool; 23],
    /// minimum Shannon entropy (bits per character) of cue-found values
    pub entropy_threshold: f64,
    /// minimum length of a generic secret value
    pub min_generic_length: usize,
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            enabled: [true; 23],
            entropy_threshold: 3.0,
            min_generic_length: 8,
        }
    }
}

impl SecretsConfig {
    pub fn with_kinds<S: AsRef<str>>(
        kinds: &[S],
        entropy_threshold: f64,
        min_generic_length: usize,
    ) -> Result<Self, String> {
        Ok(SecretsConfig {
            enabled: enabled_by_name(&KINDS, kinds)?,
            entropy_threshold,
            min_generic_length,
        })
    }
}

/// (kind, pattern) of every secrets detector, in `KINDS` order: what the Python twin runs. The
/// Rust core runs the two cue patterns in lowercase form on the lowered text (same offsets).
pub fn patterns() -> Vec<(&'static str, String)> {
    patterns_with(ci)
}

fn patterns_with(case: fn(&str) -> String) -> Vec<(&'static str, String)> {
    SPECS
        .iter()
        .enumerate()
        .map(|(i, (kind, p, _, _))| {
            let p = match i {
                AWS_SECRET_ACCESS_KEY => {
                    format!("{}{}([A-Za-z0-9/+]{{40}})", case(AWS_CUE), AWS_SEPARATOR)
                }
                GENERIC_SECRET => format!(
                    "{}{}([A-Za-z0-9+/=_.!@#$%^*?~-]{{8,}})",
                    case(GENERIC_CUE),
                    SEPARATOR
                ),
                _ => p.to_string(),
            };
            (*kind, p)
        })
        .collect()
}

fn compiled() -> &'static Vec<Regex> {
    static RES: OnceLock<Vec<Regex>> = OnceLock::new();
    RES.get_or_init(|| {
        patterns_with(str::to_string)
            .iter()
            .map(|(_, p)| Regex::new(p).expect("secrets patterns compile"))
            .collect()
    })
}

fn jwt_ok(m: &[u8]) -> bool {
    let header = &m[..m.iter().position(|&b| b == b'.').unwrap_or(m.len())];
    decode::base64(header, true).is_some_and(|h| h.windows(5).any(|w| w == b"\"alg\""))
}

fn placeholder(v: &[u8]) -> bool {
    let lower = v.to_ascii_lowercase();
    PLACEHOLDERS.iter().any(|p| lower == p.as_bytes())
        || lower.windows(4).any(|w| w == b"xxxx" || w == b"****")
        || v.first() == Some(&b'$')
}

/// Every secret in `text`, overlaps settled, ordered by start then kind.
pub fn scan(text: &str, config: &SecretsConfig) -> Vec<Finding> {
    let t = Text::new(text);
    let res = compiled();
    let mut out = Vec::new();
    for (kind, re) in res.iter().enumerate() {
        if !config.enabled[kind] {
            continue;
        }
        let (_, _, score, detail) = SPECS[kind];
        if re.captures_len() == 1 {
            for m in re.find_iter(text) {
                let (s, e) = (m.start(), m.end());
                if kind != PRIVATE_KEY && (!t.before_ok(s) || !t.after_ok(e)) {
                    continue;
                }
                if kind == JWT && !jwt_ok(&t.b[s..e]) {
                    continue;
                }
                out.push(Candidate::of(&KINDS, kind, s, e, score, detail.to_string()));
            }
            continue;
        }
        // the cue patterns are lowercase and run on the lowered text
        let hay = if kind == AWS_SECRET_ACCESS_KEY || kind == GENERIC_SECRET {
            t.lower()
        } else {
            text
        };
        for caps in re.captures_iter(hay) {
            let (Some(whole), Some(value)) = (caps.get(0), caps.get(1)) else {
                continue;
            };
            if !t.before_ok(whole.start()) {
                continue;
            }
            let (s, mut e) = (value.start(), value.end());
            let mut score = score;
            match kind {
                GENERIC_SECRET => {
                    while e > s && t.b[e - 1] == b'.' {
                        e -= 1;
                    }
                    let v = &t.b[s..e];
                    if v.len() < config.min_generic_length || placeholder(v) {
                        continue;
                    }
                    let h = entropy(v);
                    if h < config.entropy_threshold {
                        continue;
                    }
                    score = (h / 5.0).min(1.0);
                }
                AWS_SECRET_ACCESS_KEY => {
                    if t.byte_at(e).is_some_and(|b| {
                        b.is_ascii_alphanumeric() || b == b'/' || b == b'+' || b == b'='
                    }) || entropy(&t.b[s..e]) < config.entropy_threshold
                    {
                        continue;
                    }
                }
                _ => {
                    if !t.after_ok(e) {
                        continue;
                    }
                }
            }
            out.push(Candidate::of(&KINDS, kind, s, e, score, detail.to_string()));
        }
    }
    resolve(&t, out, Claim::Rank)
}
