//! Secrets detection: cloud provider keys (AWS, GCP, Azure), SaaS API tokens, PEM private
//! keys, JWTs, and generic high-entropy values after a cue such as `password=`,
//! `sessionToken:` or `SMTP_PASS=`, or where a secret stands with no key (URL userinfo,
//! `Authorization: Basic/Bearer`, `.netrc`, `mysql -p…`, CLI flags, "the password is …").
//! Placeholders (`your-api-key-here`, `ghp_xxxx…`) and code that names a secret without holding
//! it (`settings.API_KEY`, `os.environ[`) are not reported.
//!
//! Patterns are shared verbatim with the Python twin (`forge/plugins/scanners/secrets.py`); all
//! further checks are done in code, identically in both.

use std::sync::OnceLock;

use regex::{Regex, RegexSet};

use crate::decode;
use crate::finding::{resolve, Candidate, Claim, Finding};
use crate::kinds::enabled_by_name;
use crate::text::{ci, entropy, is_alnum, Text};

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
const AZURE_CONNECTION_STRING: usize = 4;
const JWT: usize = 21;
const GENERIC_SECRET: usize = 22;

const AWS_CUE: &str =
    "(?:aws[_ .-]?secret(?:[_ .-]?access)?(?:[_ .-]?key)?|secret[_ .-]?access[_ .-]?key)";
/// key names that announce a secret value (`DB_PASSWORD=`, `"clientSecret":`, `SMTP_PASS:`)
const GENERIC_CUE: &str = concat!(
    "(?:pgpassword|pass(?:word|wd|phrase|code)?|pwd",
    "|(?:client[_-]?|api[_-]?|app[_-]?)?secret(?:[_-]?key(?:[_-]?base)?)?",
    "|(?:(?:access|auth|refresh|session|id|api)[_-]?)?token",
    "|(?:api|access|private|encryption|signing|master|hmac|jwt|session|app)[_-]?key)"
);
const SEPARATOR: &str = r#"(?:["']?[ \t]{0,4}(?:=>|:=|[:=])[ \t]{0,4}["']?|>|\(["'])"#;
const AWS_SEPARATOR: &str = r#"["']?[ \t]{0,4}(?:=>|:=|[:=])?[ \t]{0,4}["']?"#;
/// a value: printable ASCII up to a space, quote, comma, semicolon, colon or backslash
const VALUE: &str = r"([A-Za-z0-9+/=_.!@#$%^&*()?~\[\]{}<>|-]+)";
const URL_VALUE: &str = r"([A-Za-z0-9._~!$&()*+=%#^-]+)";
const TOKEN_VALUE: &str = r"([A-Za-z0-9._~+/-]+=*)";

/// How the value of a generic match is checked (see `generic_ok`).
#[derive(Clone, Copy, PartialEq)]
enum Context {
    Key,
    Userinfo,
    Auth,
    Netrc,
    Mysql,
    Cli,
    Curl,
    Prose,
}

/// Secrets with no `key=value` cue: (context, the pattern before the value, after it); the
/// context says how the value is checked (see `generic_ok`).
const CONTEXTS: [(Context, &str, &str); 7] = [
    // postgres://user:pw@host/db
    (
        Context::Userinfo,
        "[A-Za-z][A-Za-z0-9+.-]{1,15}://[A-Za-z0-9._~%!$&()*+=-]{0,64}:",
        "@",
    ),
    // Authorization: Basic dXNlcjpwdw== / Bearer <token>
    (
        Context::Auth,
        r#"(?:authorization["']?[ \t]*[:=][ \t]*["']?)?(?:basic|bearer|token)[ \t]+"#,
        "",
    ),
    (
        Context::Netrc,
        r"login[ \t]+[^ \t\r\n]+[ \t\r\n]+password[ \t]+",
        "",
    ),
    (
        Context::Mysql,
        r#"(?:mysql|mysqldump|mysqladmin|mariadb)[^\n]{0,80}? -p["']?"#,
        "",
    ),
    (
        Context::Cli,
        r#"(?:sshpass -p|--password|--pass|--token|--api-key|--secret)[ \t]+["']?"#,
        "",
    ),
    // curl -u user:pw (wget --user=u --password=pw is a cue already)
    (
        Context::Curl,
        r#"curl[^\n]{0,80}? (?:-u|--user)[ =]["']?[A-Za-z0-9._@+-]{1,64}:"#,
        "",
    ),
    // "the password is Summer2024!"
    (
        Context::Prose,
        concat!(
            r"(?:password|passphrase|passcode|pwd|token|secret|api key)",
            r"(?: for(?: [^ \t\r\n]{1,40}){1,3})?",
            r#"(?: is| was| to|:)(?: now| set to| still)?[ \t]+["'`]?"#
        ),
        "",
    ),
];
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
/// words before a token cue that make it no secret (`nextPageToken`, `csrf_token`)
const NOT_SECRET_BEFORE: [&str; 8] = [
    "page",
    "next",
    "sync",
    "continuation",
    "resume",
    "cursor",
    "csrf",
    "xsrf",
];
const PLACEHOLDER_WORDS: [&str; 11] = [
    "your",
    "-here",
    "_here",
    "placeholder",
    "example",
    "changeme",
    "redacted",
    "replace",
    "dummy",
    "sample",
    "insert",
];
const TEMPLATE_STARTS: [&str; 6] = ["${", "$(", "{{", "%(", "#{", "<%"];

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

/// (kind, pattern) of every secrets detector, in `KINDS` order, then the generic secrets' other
/// contexts: what the Python twin runs. The Rust core runs the cue patterns (every one with a
/// group) in lowercase form on the lowered text (same offsets).
pub fn patterns() -> Vec<(&'static str, String)> {
    patterns_with(ci)
}

fn context_value(c: Context) -> &'static str {
    match c {
        Context::Userinfo => URL_VALUE,
        Context::Auth => TOKEN_VALUE,
        _ => VALUE,
    }
}

fn patterns_with(case: fn(&str) -> String) -> Vec<(&'static str, String)> {
    let mut out: Vec<(&'static str, String)> = SPECS
        .iter()
        .enumerate()
        .map(|(i, (kind, p, _, _))| {
            let p = match i {
                AWS_SECRET_ACCESS_KEY => {
                    format!("{}{}([A-Za-z0-9/+]{{40}})", case(AWS_CUE), AWS_SEPARATOR)
                }
                GENERIC_SECRET => format!("{}{}{}", case(GENERIC_CUE), SEPARATOR, VALUE),
                _ => p.to_string(),
            };
            (*kind, p)
        })
        .collect();
    for (c, before, after) in CONTEXTS {
        let p = format!("{before}{}{after}", context_value(c));
        out.push(("GENERIC_SECRET", case(&p)));
    }
    out
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

/// Texts up to this long are first searched with two `RegexSet`s (one pass each) so that only
/// the patterns that match at all run: a decoded payload (the exfiltration scanner asks about
/// each) then costs two passes instead of one per pattern. Longer texts skip the gate.
const GATE_MAX: usize = 1024;

/// Whether pattern `i` runs on the lowered text (the cue patterns).
fn on_lowered(i: usize) -> bool {
    i == AWS_SECRET_ACCESS_KEY || i >= GENERIC_SECRET
}

/// (patterns on the text, patterns on the lowered text), each with the indices it holds.
fn gates() -> &'static [(RegexSet, Vec<usize>); 2] {
    static SETS: OnceLock<[(RegexSet, Vec<usize>); 2]> = OnceLock::new();
    SETS.get_or_init(|| {
        let pats = patterns_with(str::to_string);
        let set = |lowered: bool| {
            let idx: Vec<usize> = (0..pats.len())
                .filter(|&i| on_lowered(i) == lowered)
                .collect();
            let set = RegexSet::new(idx.iter().map(|&i| pats[i].1.as_str()))
                .expect("secrets patterns compile");
            (set, idx)
        };
        [set(false), set(true)]
    })
}

/// Which patterns can match in `t`: all of them for long texts, else those the gates find.
fn may_match(t: &Text) -> Vec<bool> {
    let n = compiled().len();
    if t.b.len() > GATE_MAX {
        return vec![true; n];
    }
    let mut out = vec![false; n];
    let [(plain, plain_idx), (lower, lower_idx)] = gates();
    for m in plain.matches(t.s).iter() {
        out[plain_idx[m]] = true;
    }
    for m in lower.matches(t.lower()).iter() {
        out[lower_idx[m]] = true;
    }
    out
}

fn jwt_ok(m: &[u8]) -> bool {
    let header = &m[..m.iter().position(|&b| b == b'.').unwrap_or(m.len())];
    decode::base64(header, true).is_some_and(|h| h.windows(5).any(|w| w == b"\"alg\""))
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// No letter or digit right before `s`, or only the end of a `%XX` or `\n` escape.
fn starts_clean(t: &Text, s: usize) -> bool {
    if t.before_ok(s) {
        return true;
    }
    let b = t.b;
    if s >= 3 && b[s - 3] == b'%' && b[s - 2].is_ascii_hexdigit() && b[s - 1].is_ascii_hexdigit() {
        return true;
    }
    s >= 2 && b[s - 2] == b'\\' && matches!(b[s - 1], b'n' | b'r' | b't')
}

/// `ghp_xxxx...`, `AKIAXXXXXXXXXXXXXXXX`: a token's shape filled with a placeholder.
fn low_entropy_token(v: &[u8]) -> bool {
    contains(&v.to_ascii_lowercase(), b"xxxx") || entropy(v) < 3.0
}

/// `$TOKEN`, `$db_pass`: a whole value that is one shell variable of one case.
fn env_name(v: &[u8]) -> bool {
    let Some((&b'$', rest)) = v.split_first() else {
        return false;
    };
    let Some(&first) = rest.first() else {
        return false;
    };
    let upper = |c: u8| c.is_ascii_uppercase() || c == b'_';
    let lower = |c: u8| c.is_ascii_lowercase() || c == b'_';
    (upper(first) && rest.iter().all(|&c| upper(c) || c.is_ascii_digit()))
        || (lower(first) && rest.iter().all(|&c| lower(c) || c.is_ascii_digit()))
}

fn placeholder(v: &[u8]) -> bool {
    let lower = v.to_ascii_lowercase();
    if PLACEHOLDERS.iter().any(|p| lower == p.as_bytes())
        || contains(&lower, b"xxxx")
        || contains(&lower, b"****")
        || contains(v, b"...")
    {
        return true;
    }
    if PLACEHOLDER_WORDS
        .iter()
        .any(|w| contains(&lower, w.as_bytes()))
    {
        return true;
    }
    if TEMPLATE_STARTS.iter().any(|p| v.starts_with(p.as_bytes())) || env_name(v) {
        return true;
    }
    if interpolation(v) {
        return true; // a template: s3cr3t-{digits}, ghp_{token}, {password}
    }
    if v.iter()
        .all(|&c| c.is_ascii_alphabetic() || c == b'-' || c == b'_')
        && CUE_WORDS.iter().any(|w| contains(&lower, w.as_bytes()))
    {
        return true; // words naming the secret: admin-password, my_secret_token
    }
    v[0] == b'<' && v[v.len() - 1] == b'>'
}

/// `{name}` somewhere in the value: `{` then one or more of `A-Za-z0-9_.()`, then `}`.
fn interpolation(v: &[u8]) -> bool {
    let inner = |c: u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'(' | b')');
    v.iter().enumerate().any(|(i, &c)| {
        if c != b'{' {
            return false;
        }
        let n = v[i + 1..].iter().take_while(|&&x| inner(x)).count();
        n > 0 && v.get(i + 1 + n) == Some(&b'}')
    })
}

fn code_segment(p: &[u8]) -> bool {
    let word = |c: u8| c.is_ascii_alphabetic() || c == b'_' || c == b'$';
    match p.split_first() {
        Some((&first, rest)) => word(first) && rest.iter().all(|&c| word(c) || c.is_ascii_digit()),
        None => false,
    }
}

/// Names, numbers, dots, `=` and brackets only: arguments, subscripts and attributes.
fn code_chars(rest: &[u8]) -> bool {
    rest.iter().all(|&c| {
        c.is_ascii_alphanumeric()
            || matches!(c, b'_' | b'$' | b'.' | b'=' | b'(' | b')' | b'[' | b']')
    })
}

fn code_path(p: &[u8]) -> bool {
    p.split(|&c| c == b'.')
        .all(|part| code_segment(part) && part.iter().filter(|c| c.is_ascii_digit()).count() <= 2)
}

/// `settings.OPENAI_API_KEY`, `os.environ[`, `System.getenv(`, `uuid.uuid4().hex`,
/// `(query.get(`, `DB_PASSWORD`, `db_password`: code that names a secret without holding it.
fn code_reference(v: &[u8]) -> bool {
    if v[0] == b'(' {
        // an expression in brackets: a name of three characters at least, then a call, a
        // subscript, an attribute or the end
        let w = &v[v.iter().take_while(|&&c| c == b'(').count()..];
        let n = w
            .iter()
            .take_while(|&&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'.'))
            .count();
        return n >= 3
            && (n == w.len() || matches!(w[n], b'(' | b'[' | b')'))
            && code_path(&w[..n]);
    }
    let (head, bracket) = match v.iter().position(|&c| c == b'(' || c == b'[') {
        // a call or subscript: its argument stops the value (a quote) or is code too
        Some(i)
            if matches!(&v[i + 1..], b"" | b")" | b"]") || (i >= 3 && code_chars(&v[i + 1..])) =>
        {
            (&v[..i], true)
        }
        Some(_) => return false,
        None => (v, false),
    };
    if !code_path(head) {
        return false;
    }
    if bracket || head.contains(&b'.') {
        return true;
    }
    if head.contains(&b'_')
        && !head.iter().any(|c| c.is_ascii_lowercase())
        && !head.iter().any(|c| c.is_ascii_digit())
    {
        return true;
    }
    // a variable named after what it holds: password=db_password, token=accessToken
    let lower = head.to_ascii_lowercase();
    CUE_WORDS.iter().any(|w| contains(&lower, w.as_bytes()))
}

const CUE_WORDS: [&str; 7] = [
    "password",
    "passwd",
    "secret",
    "token",
    "key",
    "pwd",
    "credential",
];

/// The cue at `s` starts a word inside an identifier: `sessionToken`, `SMTPPassword`.
fn camel_boundary(t: &Text, s: usize) -> bool {
    let b = t.b;
    if !b[s].is_ascii_uppercase() {
        return false;
    }
    let prev = b[s - 1];
    if prev.is_ascii_lowercase() || prev.is_ascii_digit() {
        return true;
    }
    prev.is_ascii_uppercase() && s + 1 < b.len() && b[s + 1].is_ascii_lowercase()
}

fn word_before_is_not_secret(t: &Text, s: usize) -> bool {
    let b = t.b;
    let mut i = s;
    while i > 0 && s - i < 32 && (is_alnum(b[i - 1]) || b[i - 1] == b'_' || b[i - 1] == b'-') {
        i -= 1;
    }
    let mut word = b[i..s].to_ascii_lowercase();
    while word.last().is_some_and(|&c| c == b'_' || c == b'-') {
        word.pop();
    }
    NOT_SECRET_BEFORE
        .iter()
        .any(|w| word.ends_with(w.as_bytes()))
}

/// The key at `s` is a variable inside `${...}` (`${DB_PASSWORD:?}`), not an assignment.
fn in_braces(t: &Text, s: usize) -> bool {
    let b = t.b;
    let mut i = s;
    while i > 0 && s - i < 32 && (is_alnum(b[i - 1]) || b[i - 1] == b'_' || b[i - 1] == b'-') {
        i -= 1;
    }
    i > 0 && b[i - 1] == b'{'
}

/// The value's end without trailing full stops or unbalanced closing brackets.
fn trim(b: &[u8], s: usize, mut e: usize) -> usize {
    while e > s {
        let c = b[e - 1];
        let opener = match c {
            b')' => b'(',
            b']' => b'[',
            b'}' => b'{',
            b'>' => b'<',
            b'.' => {
                e -= 1;
                continue;
            }
            _ => break,
        };
        let count = |x: u8| b[s..e].iter().filter(|&&y| y == x).count();
        if count(c) > count(opener) {
            e -= 1;
        } else {
            break;
        }
    }
    e
}

/// Has a digit, a symbol or an inner capital in mixed case: prose words ("required",
/// "UNAUTHENTICATED") have none.
fn password_like(v: &[u8]) -> bool {
    v.iter().any(|c| c.is_ascii_digit())
        || v.iter()
            .any(|&c| !c.is_ascii_alphanumeric() && c != b'-' && c != b'.')
        || (v[1..].iter().any(|c| c.is_ascii_uppercase())
            && v.iter().any(|c| c.is_ascii_lowercase()))
}

/// Whether the cue of a generic match stands where a key or a command starts.
fn generic_ok(t: &Text, context: Context, ws: usize, s: usize, e: usize) -> bool {
    let b = t.b;
    match context {
        Context::Key => {
            (starts_clean(t, ws) || camel_boundary(t, ws))
                && !word_before_is_not_secret(t, ws)
                && !in_braces(t, ws)
        }
        Context::Userinfo => true,
        Context::Auth => {
            if !starts_clean(t, ws) {
                return false;
            }
            let v = &b[s..e];
            let head = b[ws..s].to_ascii_lowercase();
            let bare = !head.starts_with(b"authorization");
            if bare && head.starts_with(b"token") {
                return false; // "token <word>" is prose; only a header names the token scheme
            }
            !bare
                || (v.iter().any(|c| c.is_ascii_digit())
                    && v.iter().any(|c| c.is_ascii_alphabetic()))
        }
        Context::Netrc | Context::Cli | Context::Curl => starts_clean(t, ws),
        Context::Mysql => {
            if !starts_clean(t, ws) {
                return false;
            }
            // the rule runs on any case; only a lowercase -p is a password (-P is the port)
            let mut i = s - 1;
            if b[i] == b'"' || b[i] == b'\'' {
                i -= 1;
            }
            b[i] == b'p'
        }
        Context::Prose => starts_clean(t, ws) && password_like(&b[s..e]),
    }
}

fn path_segment(p: &[u8]) -> bool {
    p.iter()
        .all(|&c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
}

/// The score of a generic value, None when it is too short, a placeholder, a code reference,
/// a path or too regular.
fn value_score(v: &[u8], config: &SecretsConfig) -> Option<f64> {
    if v.len() < config.min_generic_length || placeholder(v) || code_reference(v) {
        return None;
    }
    let pathlike = v.starts_with(b"/") || v.starts_with(b"~/") || v.starts_with(b"./");
    if pathlike && v.split(|&c| c == b'/').all(path_segment) {
        return None; // a path (PWD=/home/ops/app)
    }
    let h = entropy(v);
    if h < config.entropy_threshold {
        return None;
    }
    Some((h / 5.0).min(1.0))
}

fn generic(t: &Text, config: &SecretsConfig, may: &[bool], out: &mut Vec<Candidate>) {
    let res = compiled();
    let contexts = std::iter::once(Context::Key).chain(CONTEXTS.iter().map(|c| c.0));
    for (i, (context, re)) in contexts.zip(res[GENERIC_SECRET..].iter()).enumerate() {
        if !may[GENERIC_SECRET + i] {
            continue;
        }
        // the cue patterns are lowercase and run on the lowered text
        for caps in re.captures_iter(t.lower()) {
            let (Some(whole), Some(value)) = (caps.get(0), caps.get(1)) else {
                continue;
            };
            let s = value.start();
            let e = trim(t.b, s, value.end());
            if e <= s || !generic_ok(t, context, whole.start(), s, e) {
                continue;
            }
            if let Some(score) = value_score(&t.b[s..e], config) {
                out.push(Candidate::of(
                    &KINDS,
                    GENERIC_SECRET,
                    s,
                    e,
                    score,
                    "generic".to_string(),
                ));
            }
        }
    }
}

/// Every secret in `text`, overlaps settled, ordered by start then kind.
pub fn scan(text: &str, config: &SecretsConfig) -> Vec<Finding> {
    let t = Text::new(text);
    let res = compiled();
    let may = may_match(&t);
    let mut out = Vec::new();
    for (kind, re) in res.iter().enumerate().take(KINDS.len()) {
        if !config.enabled[kind] {
            continue;
        }
        if kind == GENERIC_SECRET {
            generic(&t, config, &may, &mut out);
            continue;
        }
        if !may[kind] {
            continue;
        }
        let (_, _, score, detail) = SPECS[kind];
        if re.captures_len() == 1 {
            for m in re.find_iter(text) {
                let (s, e) = (m.start(), m.end());
                if kind != PRIVATE_KEY && (!starts_clean(&t, s) || !t.after_ok(e)) {
                    continue;
                }
                if kind == JWT && !jwt_ok(&t.b[s..e]) {
                    continue;
                }
                if kind != PRIVATE_KEY
                    && kind != AZURE_CONNECTION_STRING
                    && low_entropy_token(&t.b[s..e])
                {
                    continue;
                }
                out.push(Candidate::of(&KINDS, kind, s, e, score, detail.to_string()));
            }
            continue;
        }
        // the AWS cue pattern is lowercase and runs on the lowered text
        let hay = if kind == AWS_SECRET_ACCESS_KEY {
            t.lower()
        } else {
            text
        };
        for caps in re.captures_iter(hay) {
            let (Some(whole), Some(value)) = (caps.get(0), caps.get(1)) else {
                continue;
            };
            if !starts_clean(&t, whole.start()) {
                continue;
            }
            let (s, e) = (value.start(), value.end());
            if kind == AWS_SECRET_ACCESS_KEY {
                if t.byte_at(e).is_some_and(|b| {
                    b.is_ascii_alphanumeric() || b == b'/' || b == b'+' || b == b'='
                }) || entropy(&t.b[s..e]) < config.entropy_threshold
                {
                    continue;
                }
            } else if !t.after_ok(e) {
                continue;
            }
            out.push(Candidate::of(&KINDS, kind, s, e, score, detail.to_string()));
        }
    }
    resolve(&t, out, Claim::Rank)
}
