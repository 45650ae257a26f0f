//! Dates of birth: a calendar date shortly after a birth cue ("DOB", "born", "Geburtsdatum",
//! ...). Dates alone are everywhere; only the first date after a cue is taken as a birth date.

use regex::Regex;

use crate::checks;
use crate::text::Text;

pub(crate) const MONTH: &str = "(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)";
const DAY: &str = "(?:3[01]|[12][0-9]|0?[1-9])";
const MON_NUM: &str = "(?:1[0-2]|0?[1-9])";
const YEAR: &str = "(?:19|20)[0-9]{2}";
pub(crate) const CUES: &str = "(?:date of birth|birth ?date|birthday|born|dob|d\\.o\\.b|geburtsdatum|geboren|date de naissance|naissance|fecha de nacimiento|nacimiento|data di nascita|nascita)";

pub(crate) fn date_pattern(month: &str, ordinal: &str) -> String {
    format!(
        "{YEAR}[-/.]{MON_NUM}[-/.]{DAY}|{DAY}[-/.]{DAY}[-/.]{YEAR}|{DAY}\\.? {month}\\.?,? {YEAR}|{month}\\.? {DAY}{ordinal}?,? {YEAR}"
    )
}

pub(crate) const ORDINAL: &str = "(?:st|nd|rd|th)";

/// Runs of ASCII digits and of ASCII letters in a date match.
fn tokens(m: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < m.len() {
        let digit = m[i].is_ascii_digit();
        if !digit && !m[i].is_ascii_alphabetic() {
            i += 1;
            continue;
        }
        let j = (i..m.len())
            .find(|&j| {
                if digit {
                    !m[j].is_ascii_digit()
                } else {
                    !m[j].is_ascii_alphabetic()
                }
            })
            .unwrap_or(m.len());
        out.push(&m[i..j]);
        i = j;
    }
    out
}

fn number(tok: &[u8]) -> u32 {
    tok.iter().fold(0, |acc, &b| acc * 10 + (b - b'0') as u32)
}

const MONTHS: [&[u8; 3]; 12] = [
    b"jan", b"feb", b"mar", b"apr", b"may", b"jun", b"jul", b"aug", b"sep", b"oct", b"nov", b"dec",
];

fn date_ok(m: &[u8]) -> bool {
    let toks = tokens(m);
    let nums: Vec<&[u8]> = toks
        .iter()
        .copied()
        .filter(|t| t[0].is_ascii_digit())
        .collect();
    if let Some(word) = toks.iter().find(|t| t[0].is_ascii_alphabetic()) {
        let key = [
            word[0].to_ascii_lowercase(),
            word[1].to_ascii_lowercase(),
            word[2].to_ascii_lowercase(),
        ];
        let month = MONTHS
            .iter()
            .position(|m| **m == key)
            .map_or(0, |i| i as u32 + 1);
        return checks::valid_date(number(nums[nums.len() - 1]), month, number(nums[0]));
    }
    let (a, b, c) = (number(nums[0]), number(nums[1]), number(nums[2]));
    if nums[0].len() == 4 {
        return checks::valid_date(a, b, c);
    }
    checks::valid_date(c, b, a) || checks::valid_date(c, a, b)
}

/// The spans of dates of birth: each cue (from `cue_re`, on the lowered text) claims the first
/// date (from `date_re`, idem) after it, if that date is valid and at most `window` code points
/// away.
pub(crate) fn find(
    t: &Text,
    date_re: &Regex,
    cue_re: &Regex,
    window: usize,
) -> Vec<(usize, usize)> {
    let lower = t.lower();
    let cues: Vec<usize> = cue_re
        .find_iter(lower)
        .filter(|m| t.before_ok(m.start()) && t.after_ok(m.end()))
        .map(|m| m.end())
        .collect();
    let mut out = Vec::new();
    if cues.is_empty() {
        return out;
    }
    // a cue announces only the first date after it
    let mut consumed = usize::MAX;
    for m in date_re.find_iter(lower) {
        let (s, e) = (m.start(), m.end());
        if !t.before_ok(s) || !t.after_ok(e) {
            continue;
        }
        let i = cues.partition_point(|&c| c <= s);
        if i == 0 || i - 1 == consumed {
            continue;
        }
        consumed = i - 1;
        if date_ok(&t.b[s..e]) && t.char_pos(s) - t.char_pos(cues[i - 1]) <= window {
            out.push((s, e));
        }
    }
    out
}
