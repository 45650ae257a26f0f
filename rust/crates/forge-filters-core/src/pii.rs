//! PII detection: emails, phone numbers, payment cards (Luhn), IBANs (mod-97), national ids
//! (US SSN, UK NINO, French INSEE, German Steuer-ID, Indian Aadhaar), IP addresses and dates of
//! birth (a date shortly after a birth cue).
//!
//! Every pattern uses only what Python `re` and the `regex` crate read the same way: ASCII
//! classes, bounded or plain repetition, alternation, no lookaround; everything else is checked
//! in code, identically in the Python twin (`forge/plugins/scanners/pii.py`).

use std::sync::OnceLock;

use crate::checks;
use crate::dob::{self, date_pattern_lower, CUES};
use crate::finding::{resolve, Candidate, Claim, Finding};
use crate::kinds::enabled_by_name;
use crate::regions::{matches_in_counted, Compiled};
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
        ("CREDIT_CARD", r"[0-9](?:[ -]?[0-9]){11,18}".to_string()),
        ("IBAN", r"[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?".to_string()),
        ("US_SSN", r"[0-9]{3}-[0-9]{2}-[0-9]{4}|[0-9]{3} [0-9]{2} [0-9]{4}|[0-9]{9}".to_string()),
        ("UK_NINO", r"[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D]".to_string()),
        ("FR_INSEE", r"[12] ?[0-9]{2} ?(?:0[1-9]|1[0-2]|[2-9][0-9]) ?(?:[0-9]{2}|2[AB]) ?[0-9]{3} ?[0-9]{3} ?[0-9]{2}".to_string()),
        ("DE_TAX_ID", r"[1-9][0-9] ?[0-9]{3} ?[0-9]{3} ?[0-9]{3}".to_string()),
        ("IN_AADHAAR", r"[2-9][0-9]{3}[ -]?[0-9]{4}[ -]?[0-9]{4}".to_string()),
        ("IPV6", r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.[0-9]{1,3}){0,3}".to_string()),
        ("IPV4", r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}".to_string()),
        ("DATE_OF_BIRTH", date_pattern_lower()),
        ("PHONE", r"\+?\(?[0-9][0-9 ()./-]{5,24}[0-9]".to_string()),
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
/// The fewest digits a finding of each kind holds (its checks refuse matches with fewer), so a
/// region with fewer digits is not searched for that kind.
const MIN_DIGITS: [usize; 12] = [0, 12, 2, 9, 6, 13, 11, 12, 0, 4, 0, 8];
/// Kinds searched in the lowered text with their lowercase patterns.
const LOWERED: [usize; 2] = [DATE_OF_BIRTH, BIRTH_CUE];

/// Cue words (lowercase) just before a value, or in its table column's header.
const PHONE_CUES: [&str; 26] = [
    "phone",
    "tel",
    "mobil",
    "cell",
    "fax",
    "handy",
    "celular",
    "móvil",
    "movil",
    "whatsapp",
    "tél",
    "call",
    "contact",
    "reach",
    "chiam",
    "llam",
    "llám",
    "appel",
    "ligue",
    "liga",
    "anruf",
    "rufen",
    "erreichbar",
    "bel me",
    "電話",
    "携帯",
];
const CARD_CUES: [&str; 14] = [
    "card",
    "karte",
    "carte",
    "tarjeta",
    "cartão",
    "cartao",
    "carta",
    "kaart",
    "visa",
    "maestro",
    "mastercard",
    "amex",
    "credit",
    "カード",
];
const SSN_CUES: [&str; 4] = [
    "ssn",
    "social security",
    "social_security",
    "socialsecurity",
];
const AADHAAR_CUES: [&str; 4] = ["aadhaar", "aadhar", "uid", "आधार"];
const VERSION_WORDS: [&str; 9] = [
    "version", "ver", "ver.", "build", "release", "rev", "rv", "firmware", "kernel",
];
const URL_STOP: &[u8] = b" \t\r\n\"'<>()[]{},;";

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
    // the userinfo of a URL (`https://user:token@host`, a Sentry DSN) is no address
    let mut i = s;
    while i > 0 && !URL_STOP.contains(&t.b[i - 1]) {
        i -= 1;
    }
    if t.b[i..s].windows(3).any(|w| w == b"://") {
        return;
    }
    push(out, EMAIL, s, e, "");
}

/// Grouped the way cards are printed: 4 digits first, then groups of 4 (or 6, Amex and Diners),
/// the last one 1 to 6 digits.
fn card_groups(p: &[u8]) -> bool {
    // the groups' lengths, without allocating (this runs per candidate)
    let mut lens = p.split(|&b| b == b' ' || b == b'-').map(<[u8]>::len);
    let Some(first) = lens.next() else {
        return false;
    };
    let mut last = first;
    let mut middle_ok = true;
    for (index, n) in (1..).zip(lens) {
        // `last` is a middle group once it is not the first
        if index >= 2 && last != 4 && last != 6 {
            middle_ok = false;
        }
        last = n;
    }
    first == 4 && middle_ok && (1..=6).contains(&last)
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
        if d.len() < 12 {
            break;
        }
        if d.len() > 19 || !checks::luhn(&d) {
            continue;
        }
        let Some(brand) = checks::card_brand(&d) else {
            continue;
        };
        if p.len() != d.len() && !card_groups(p) {
            continue;
        }
        // 12 digits (Maestro) and a compact 13 (EAN-13 barcodes, msisdns; the 13-digit Visa is
        // long gone) only after a card cue
        if (d.len() == 12 || p.len() == 13) && !t.cue_before(s, &CARD_CUES) {
            continue;
        }
        push(out, CREDIT_CARD, s, s + cut, brand);
        return;
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
    if t.byte_at(e) == Some(b'.') && t.byte_at(e + 1).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return;
    }
    if !t.after_ok(e) || !checks::ipv4(&t.b[s..e]) {
        return;
    }
    // a four-part version number (`version 10.0.19041.1`, `Build 4.18.0.553`) is no address,
    // nor is a product's (`Chrome/120.0.6099.109`)
    if s > 1 && t.b[s - 1] == b'/' && t.b[s - 2].is_ascii_alphabetic() {
        return;
    }
    let before = t
        .lower_before(s, 24)
        .trim_end_matches([' ', '\t', ':', '=', '[', '(', '#']);
    for word in VERSION_WORDS {
        if before.ends_with(word)
            && !before.as_bytes()[..before.len() - word.len()]
                .last()
                .is_some_and(|b| b.is_ascii_alphanumeric())
        {
            return;
        }
    }
    push(out, IPV4, s, e, "");
}

fn is_phone_sep(b: u8) -> bool {
    matches!(b, b' ' | b'.' | b'/' | b'-')
}

const DATE_SHAPES: [[usize; 3]; 5] = [[4, 2, 2], [2, 2, 4], [1, 2, 4], [2, 1, 4], [1, 1, 4]];

/// (detail, needs a cue) of a phone-number candidate, or None when it is none.
fn phone_shape(p: &[u8]) -> Option<(&'static str, bool)> {
    if p.windows(2)
        .any(|w| is_phone_sep(w[0]) && is_phone_sep(w[1]))
    {
        return None;
    }
    let opens = p.iter().filter(|&&b| b == b'(').count();
    let closes = p.iter().filter(|&&b| b == b')').count();
    if opens > 1 || opens != closes {
        return None;
    }
    if opens == 1 {
        let o = p.iter().position(|&b| b == b'(')?;
        let c = p.iter().position(|&b| b == b')')?;
        if o > c || !(1..=5).contains(&(c - o - 1)) || !p[o + 1..c].iter().all(u8::is_ascii_digit) {
            return None;
        }
    }
    // the digit runs' lengths, and the first digits (no allocation: this runs per candidate)
    let mut runs = [0usize; 32];
    let mut first = [0u8; 4];
    let (mut ng, mut cur, mut n) = (0usize, 0usize, 0usize);
    for &b in p {
        if b.is_ascii_digit() {
            if n < 4 {
                first[n] = b;
            }
            n += 1;
            cur += 1;
        } else if cur > 0 {
            runs[ng.min(31)] = cur;
            ng += 1;
            cur = 0;
        }
    }
    if cur > 0 {
        runs[ng.min(31)] = cur;
        ng += 1;
    }
    let lens = &runs[..ng.min(32)];
    let ds = first;
    if n < 8 {
        return None;
    }
    if p[0] == b'+' {
        if p.windows(3).any(|w| w == b"(0)") {
            n -= 1;
        }
        return ((8..=15).contains(&n) && ds[0] != b'0').then_some(("international", false));
    }
    if ng > 1 && lens[ng - 1] == 1 {
        return None; // no national number ends in a one-digit group (ISBN-10s do)
    }
    if ds[0] == b'0' {
        let compact = ng == 1; // bare digits: a phone number only after a cue
        if ds[1] == b'0' {
            // an international call prefix, then a country code
            if !p.starts_with(b"00") || !(10..=17).contains(&n) || ds[2] == b'0' {
                return None;
            }
            return Some(("international", compact));
        }
        if !(9..=12).contains(&n) || (ng > 1 && lens[0] == 1) {
            return None; // the trunk 0 is written with its area code (`0-582-...` is an ISBN)
        }
        return Some(("national", compact));
    }
    if lens.len() >= 3 && DATE_SHAPES.iter().any(|d| d[..] == lens[..3]) {
        return None;
    }
    if lens.len() == 4
        && lens.iter().all(|&l| l <= 3)
        && p.iter().filter(|&&b| b == b'.').count() == 3
    {
        return None; // a dotted quad: an address or a version, never a phone number
    }
    if !(9..=11).contains(&n) {
        return None;
    }
    if lens == [1, 3, 3, 4] && ds[0] == b'1' {
        return Some(("nanp", false));
    }
    if lens == [3, 3, 4] {
        // NANP: area code and exchange start with 2-9
        return (!matches!(ds[0], b'0' | b'1') && !matches!(ds[3], b'0' | b'1'))
            .then_some(("nanp", false));
    }
    if lens.len() >= 3 && lens.iter().all(|&l| l >= 2) && lens[0] <= 5 && lens != [3, 2, 4] {
        return Some(("local", false));
    }
    Some(("local", true))
}

fn phone(t: &Text, s: usize, e: usize, out: &mut Vec<Candidate>) {
    let m = &t.b[s..e];
    // the whole match first, then shorter prefixes cut before a space (a run joined by - . /
    // is one token: `84-612-4906-2` is an ISBN, not a phone number and a digit)
    let mut cuts: Vec<usize> = vec![m.len()];
    cuts.extend(
        (1..m.len())
            .rev()
            .filter(|&i| m[i] == b' ' && m[i - 1].is_ascii_digit()),
    );
    let mut cued: Option<bool> = None;
    // a token that goes on past the match (`84-505-4324-X`, an ISBN) is no phone number
    if matches!(t.byte_at(e), Some(b'-' | b'.' | b'/'))
        && t.byte_at(e + 1).is_some_and(|b| b.is_ascii_alphanumeric())
    {
        cuts.remove(0);
    }
    for cut in cuts {
        if m[..cut].iter().filter(|b| b.is_ascii_digit()).count() < 8 {
            break; // every shorter prefix has fewer digits still
        }
        if cut == m.len() && !t.after_ok(e) {
            // an extension right after the number (`555-0100x123`)
            let ext = matches!(t.b[e], b'x' | b'X')
                && t.byte_at(e + 1).is_some_and(|b| b.is_ascii_digit());
            if !ext {
                continue;
            }
        }
        let Some((detail, needs_cue)) = phone_shape(&m[..cut]) else {
            continue;
        };
        if needs_cue && !*cued.get_or_insert_with(|| t.cued(s, &PHONE_CUES)) {
            continue;
        }
        push(out, PHONE, s, s + cut, detail);
        return;
    }
}

fn ssn(t: &Text, s: usize, e: usize, out: &mut Vec<Candidate>) {
    // nine bare digits only after a cue (`"ssn": "123456789"`)
    if e - s == 9 && !t.cued(s, &SSN_CUES) {
        return;
    }
    if checks::us_ssn(&checks::digits(&t.b[s..e])) {
        push(out, US_SSN, s, e, "US");
    }
}

fn aadhaar(t: &Text, s: usize, e: usize, out: &mut Vec<Candidate>) {
    // grouped 4-4-4 (one separator), or twelve bare digits after a cue; never the tail of a
    // longer number or an E.164 phone number
    let m = &t.b[s..e];
    if m.len() == 12 {
        if !t.cued(s, &AADHAAR_CUES) {
            return;
        }
    } else if m.len() != 14 || m[4] != m[9] {
        return;
    }
    if t.byte_before(s) == Some(b'+') {
        return;
    }
    let sep = |b: Option<u8>| matches!(b, Some(b' ' | b'-'));
    let digit = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_digit());
    if s > 1 && sep(t.byte_before(s)) && digit(t.byte_before(s - 1)) {
        return;
    }
    if sep(t.byte_at(e)) && digit(t.byte_at(e + 1)) {
        return;
    }
    if checks::verhoeff(&checks::digits(m)) {
        push(out, IN_AADHAAR, s, e, "IN");
    }
}

/// Every PII finding in `text`, overlaps settled, ordered by start then kind.
#[allow(clippy::needless_range_loop)] // a kind indexes several tables
pub fn scan(text: &str, config: &PiiConfig) -> Vec<Finding> {
    let t = Text::new(text);
    let c = compiled();
    let regions = if IN_REGIONS.iter().any(|&k| config.enabled[k]) {
        c.regions.find_counted(t.b)
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
            matches_in_counted(&c.res[kind], text, &regions, MIN_DIGITS[kind])
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
                US_SSN => ssn(&t, s, e, &mut out),
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
                IN_AADHAAR => aadhaar(&t, s, e, &mut out),
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
        assert_eq!(patterns()[DATE_OF_BIRTH].1, ci(&date_pattern_lower()));
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
