//! PII detection: emails, phone numbers, payment cards (Luhn), IBANs (mod-97), national ids
//! (US SSN, UK NINO, French INSEE, German Steuer-ID, Indian Aadhaar), IP addresses and dates of
//! birth (a date shortly after a birth cue).
//!
//! Every pattern uses only what Python `re` and the `regex` crate read the same way: ASCII
//! classes, bounded or plain repetition, alternation, no lookaround; everything else is checked
//! in code, identically in the Python twin (`forge/plugins/scanners/pii.py`).

use std::sync::OnceLock;

use crate::checks;
use crate::dob::{self, date_pattern, CUES, MONTH, ORDINAL};
use crate::finding::{resolve, Candidate, Claim, Finding};
use crate::kinds::enabled_by_name;
use crate::regions::{matches_in, Compiled};
use crate::text::{ci, Text};

/// The kinds, in claiming order: an earlier kind wins an overlap.
pub const KINDS: [&str; 12] = [
    "EMAIL",
    "CREDIT_CARD",
    "IBAN",
    "US_SSN",
    "UK_NINO",
    "FR_INSEE",
    "DE_TAX_ID",
    "IN_AADHAAR",
    "IPV6",
    "IPV4",
    "DATE_OF_BIRTH",
    "PHONE",
];
const SCORES: [f64; 12] = [
    0.95, 0.95, 0.95, 0.85, 0.85, 0.9, 0.8, 0.85, 0.9, 0.9, 0.8, 0.7,
];

const EMAIL: usize = 0;
const CREDIT_CARD: usize = 1;
const IBAN: usize = 2;
const US_SSN: usize = 3;
const UK_NINO: usize = 4;
const FR_INSEE: usize = 5;
const DE_TAX_ID: usize = 6;
const IN_AADHAAR: usize = 7;
const IPV6: usize = 8;
const IPV4: usize = 9;
const DATE_OF_BIRTH: usize = 10;
const PHONE: usize = 11;
const BIRTH_CUE: usize = 12;

#[derive(Debug, Clone)]
pub struct PiiConfig {
    /// enabled kinds, by index into `KINDS`
    pub enabled: [bool; 12],
    /// how many code points may separate a birth cue from the date it announces
    pub dob_window: usize,
}

impl Default for PiiConfig {
    fn default() -> Self {
        PiiConfig {
            enabled: [true; 12],
            dob_window: 40,
        }
    }
}

impl PiiConfig {
    /// A config with only the named kinds; an unknown name is returned as the error.
    pub fn with_kinds<S: AsRef<str>>(kinds: &[S], dob_window: usize) -> Result<Self, String> {
        Ok(PiiConfig {
            enabled: enabled_by_name(&KINDS, kinds)?,
            dob_window,
        })
    }
}

/// (name, pattern) of every PII detector, in `KINDS` order, then the birth cue. The Python twin
/// uses these verbatim; the Rust core runs the case-insensitive ones (date, cue) in their
/// lowercase form on the lowered text, which matches at the very same offsets.
pub fn patterns() -> Vec<(&'static str, String)> {
    let mut out = plain_patterns();
    for k in LOWERED {
        out[k].1 = ci(&out[k].1);
    }
    out
}

fn plain_patterns() -> Vec<(&'static str, String)> {
    vec![
        ("EMAIL", r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}".to_string()),
        ("CREDIT_CARD", r"[0-9](?:[ -]?[0-9]){12,18}".to_string()),
        ("IBAN", r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?".to_string()),
        ("US_SSN", r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}".to_string()),
        ("UK_NINO", r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]".to_string()),
        ("FR_INSEE", r"[12] ?[0-9]{2} ?(?:0[1-9]|1[0-2]|[2-9][0-9]) ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}".to_string()),
        ("DE_TAX_ID", r"[1-9][0-9] ?[0-9]{3} ?[0-9]{3} ?[0-9]{3}".to_string()),
        ("IN_AADHAAR", r"[2-9][0-9]{3} ?[0-9]{4} ?[0-9]{4}".to_string()),
        ("IPV6", r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3}".to_string()),
        ("IPV4", r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}".to_string()),
        ("DATE_OF_BIRTH", date_pattern(MONTH, ORDINAL)),
        ("PHONE", r"\+[1-9][0-9 ().-]{6,20}[0-9]|(?:\([2-9][0-9]{2}\) ?|[2-9][0-9]{2}[ .-])[2-9][0-9]{2}[ .-][0-9]{4}|0[1-9](?:[ .-]?[0-9]{2}){4}|0[1-9][0-9]{1,3}[ /-]?[0-9]{3,4}[ -]?[0-9]{3,4}".to_string()),
        ("BIRTH_CUE", CUES.to_string()),
    ]
}

/// Kinds searched only inside runs of the bytes they can match (digits, separators, capitals):
/// in ordinary prose those runs are short and few.
const IN_REGIONS: [usize; 9] = [
    CREDIT_CARD,
    IBAN,
    US_SSN,
    UK_NINO,
    FR_INSEE,
    DE_TAX_ID,
    IN_AADHAAR,
    IPV4,
    PHONE,
];
/// Kinds searched in the lowered text with their lowercase patterns.
const LOWERED: [usize; 2] = [DATE_OF_BIRTH, BIRTH_CUE];

fn compiled() -> &'static Compiled {
    static C: OnceLock<Compiled> = OnceLock::new();
    C.get_or_init(|| Compiled::new(&plain_patterns(), &IN_REGIONS))
}

fn push(out: &mut Vec<Candidate>, kind: usize, start: usize, end: usize, detail: &str) {
    out.push(Candidate::of(
        &KINDS,
        kind,
        start,
        end,
        SCORES[kind],
        detail.to_string(),
    ));
}

fn email(t: &Text, s: usize, e: usize, out: &mut Vec<Candidate>) {
    let m = &t.b[s..e];
    let at = m.iter().position(|&b| b == b'@').unwrap_or(0);
    let local = &m[..at];
    if local.first() == Some(&b'.')
        || local.last() == Some(&b'.')
        || local.windows(2).any(|w| w == b"..")
    {
        return;
    }
    if m[at + 1..]
        .split(|&b| b == b'.')
        .any(|l| l.first() == Some(&b'-') || l.last() == Some(&b'-'))
    {
        return;
    }
    push(out, EMAIL, s, e, "");
}

fn card(t: &Text, s: usize, e: usize, out: &mut Vec<Candidate>) {
    let m = &t.b[s..e];
    // the whole match first, then shorter prefixes cut at a separator
    let mut ends: Vec<usize> = vec![m.len()];
    ends.extend((0..m.len()).rev().filter(|&i| m[i] == b' ' || m[i] == b'-'));
    for cut in ends {
        let p = &m[..cut];
        if cut == m.len() && !t.after_ok(e) {
            continue;
        }
        if p.contains(&b' ') && p.contains(&b'-') {
            continue;
        }
        let d = checks::digits(p);
        if d.len() < 13 {
            break;
        }
        if d.len() > 19 || !checks::luhn(&d) {
            continue;
        }
        if let Some(brand) = checks::card_brand(&d) {
            push(out, CREDIT_CARD, s, s + cut, brand);
            return;
        }
    }
}

fn iban(t: &Text, s: usize, e: usize, out: &mut Vec<Candidate>) {
    let m = &t.b[s..e];
    let Some(len) = checks::iban_length(&m[..2]) else {
        return;
    };
    let compact: Vec<u8> = m.iter().copied().filter(|&b| b != b' ').collect();
    if compact.len() < len || !checks::iban_mod97(&compact[..len]) {
        return;
    }
    // the end of the `len`-th non-space character
    let mut seen = 0;
    let mut cut = m.len();
    for (i, &b) in m.iter().enumerate() {
        if b != b' ' {
            seen += 1;
            if seen == len {
                cut = i + 1;
                break;
            }
        }
    }
    if !t.after_ok(s + cut) {
        return;
    }
    push(
        out,
        IBAN,
        s,
        s + cut,
        std::str::from_utf8(&m[..2]).unwrap_or(""),
    );
}

fn ipv6(t: &Text, s: usize, mut e: usize, out: &mut Vec<Candidate>) {
    if t.b[e - 1] == b':' && t.b[e - 2] != b':' {
        e -= 1;
    }
    if t.after_ok(e) && checks::ipv6(&t.b[s..e]) {
        push(out, IPV6, s, e, "");
    }
}

fn ipv4(t: &Text, s: usize, e: usize, out: &mut Vec<Candidate>) {
    if t.byte_before(s) == Some(b'.') {
        return;
    }
    if t.byte_at(e) == Some(b'.') && t.byte_at(e + 1).is_some_and(|b| b.is_ascii_digit()) {
        return;
    }
    if t.after_ok(e) && checks::ipv4(&t.b[s..e]) {
        push(out, IPV4, s, e, "");
    }
}

fn phone(t: &Text, s: usize, e: usize, out: &mut Vec<Candidate>) {
    if !t.after_ok(e) {
        return;
    }
    let m = &t.b[s..e];
    let detail = match m[0] {
        b'+' => {
            let n = checks::digits(m).len();
            let seps = |b: u8| matches!(b, b' ' | b'.' | b'-');
            if !(8..=15).contains(&n) || m.windows(2).any(|w| seps(w[0]) && seps(w[1])) {
                return;
            }
            let opens = m.iter().filter(|&&b| b == b'(').count();
            let closes = m.iter().filter(|&&b| b == b')').count();
            let open_at = m.iter().position(|&b| b == b'(');
            let close_at = m.iter().position(|&b| b == b')');
            if opens > 1 || closes > 1 || opens != closes || open_at > close_at {
                return;
            }
            "international"
        }
        b'0' => "national",
        _ => "nanp",
    };
    push(out, PHONE, s, e, detail);
}

/// Every PII finding in `text`, overlaps settled, ordered by start then kind.
pub fn scan(text: &str, config: &PiiConfig) -> Vec<Finding> {
    let t = Text::new(text);
    let c = compiled();
    let regions = if IN_REGIONS.iter().any(|&k| config.enabled[k]) {
        c.regions.find(t.b)
    } else {
        Vec::new()
    };
    let mut out = Vec::new();
    for kind in 0..KINDS.len() {
        if !config.enabled[kind] {
            continue;
        }
        if kind == DATE_OF_BIRTH {
            for (s, e) in dob::find(
                &t,
                &c.res[DATE_OF_BIRTH],
                &c.res[BIRTH_CUE],
                config.dob_window,
            ) {
                push(&mut out, DATE_OF_BIRTH, s, e, "");
            }
            continue;
        }
        let found: Vec<(usize, usize)> = if IN_REGIONS.contains(&kind) {
            matches_in(&c.res[kind], text, &regions)
        } else {
            c.res[kind]
                .find_iter(text)
                .map(|m| (m.start(), m.end()))
                .collect()
        };
        for (s, e) in found {
            if !t.before_ok(s) {
                continue;
            }
            let d = &t.b[s..e];
            match kind {
                EMAIL if t.after_ok(e) => email(&t, s, e, &mut out),
                EMAIL => {}
                CREDIT_CARD => card(&t, s, e, &mut out),
                IBAN => iban(&t, s, e, &mut out),
                IPV6 => ipv6(&t, s, e, &mut out),
                IPV4 => ipv4(&t, s, e, &mut out),
                PHONE => phone(&t, s, e, &mut out),
                _ if !t.after_ok(e) => {}
                US_SSN if checks::us_ssn(&checks::digits(d)) => push(&mut out, US_SSN, s, e, "US"),
                UK_NINO if checks::nino_prefix_ok(&d[..2]) => push(&mut out, UK_NINO, s, e, "GB"),
                FR_INSEE => {
                    let compact: Vec<u8> = d.iter().copied().filter(|&b| b != b' ').collect();
                    if checks::insee(&compact) {
                        push(&mut out, FR_INSEE, s, e, "FR");
                    }
                }
                DE_TAX_ID if checks::de_tax_id(&checks::digits(d)) => {
                    push(&mut out, DE_TAX_ID, s, e, "DE")
                }
                IN_AADHAAR if checks::verhoeff(&checks::digits(d)) => {
                    push(&mut out, IN_AADHAAR, s, e, "IN")
                }
                _ => {}
            }
        }
    }
    resolve(&t, out, Claim::Rank)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowered_patterns_are_the_case_insensitive_ones() {
        // ci() of the whole date pattern touches only the month names and ordinals
        assert_eq!(
            patterns()[DATE_OF_BIRTH].1,
            date_pattern(&ci(MONTH), &ci(ORDINAL))
        );
    }

    #[test]
    fn finds_in_unicode_text() {
        let text = "é 😀 DOB: 1990-04-12, mail a.b@example.com, card 4111 1111 1111 1111";
        let kinds: Vec<&str> = scan(text, &PiiConfig::default())
            .iter()
            .map(|f| f.kind)
            .collect();
        assert_eq!(kinds, ["DATE_OF_BIRTH", "EMAIL", "CREDIT_CARD"]);
    }
}
