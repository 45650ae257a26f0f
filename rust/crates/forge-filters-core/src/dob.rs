//! Dates of birth: a calendar date shortly after a birth cue ("DOB", "born", "Geburtsdatum",
//! "né le", "生年月日", ...), or in a table column whose header is one. Dates alone are
//! everywhere; only the first date after a cue is taken as a birth date.

use regex::Regex;

use crate::checks;
use crate::text::Text;

/// Month names (lowercase) in English, German, French, Spanish, Italian, Portuguese and Dutch,
/// with English abbreviations, and their month numbers.
#[rustfmt::skip]
pub(crate) const MONTH_NAMES: &[(&str, u32)] = &[
    ("january", 1), ("february", 2), ("march", 3), ("april", 4), ("may", 5), ("june", 6),
    ("july", 7), ("august", 8), ("september", 9), ("october", 10), ("november", 11),
    ("december", 12),
    ("jan", 1), ("feb", 2), ("mar", 3), ("apr", 4), ("jun", 6), ("jul", 7), ("aug", 8),
    ("sep", 9), ("sept", 9), ("oct", 10), ("nov", 11), ("dec", 12),
    ("januar", 1), ("februar", 2), ("märz", 3), ("mai", 5), ("juni", 6), ("juli", 7),
    ("oktober", 10), ("dezember", 12),
    ("janvier", 1), ("février", 2), ("fevrier", 2), ("mars", 3), ("avril", 4), ("juin", 6),
    ("juillet", 7), ("août", 8), ("aout", 8), ("septembre", 9), ("octobre", 10),
    ("novembre", 11), ("décembre", 12), ("decembre", 12),
    ("enero", 1), ("febrero", 2), ("marzo", 3), ("abril", 4), ("mayo", 5), ("junio", 6),
    ("julio", 7), ("agosto", 8), ("septiembre", 9), ("setiembre", 9), ("octubre", 10),
    ("noviembre", 11), ("diciembre", 12),
    ("gennaio", 1), ("febbraio", 2), ("aprile", 4), ("maggio", 5), ("giugno", 6),
    ("luglio", 7), ("settembre", 9), ("ottobre", 10), ("dicembre", 12),
    ("janeiro", 1), ("fevereiro", 2), ("março", 3), ("maio", 5), ("junho", 6), ("julho", 7),
    ("setembro", 9), ("outubro", 10), ("dezembro", 12),
    ("januari", 1), ("februari", 2), ("maart", 3), ("mei", 5), ("augustus", 8),
];
const DAY: &str = "(?:3[01]|[12][0-9]|0?[1-9])";
const MON_NUM: &str = "(?:1[0-2]|0?[1-9])";
const YEAR: &str = "(?:19|20)[0-9]{2}";
pub(crate) const ORDINAL: &str = "(?:st|nd|rd|th)";
pub(crate) const CUES: &str = "(?:date[ _]?of[ _]?birth|birth[ _]?date|birthday|born|dob|d\\.o\\.b|geburtsdatum|geboren|geb\\.|date de naissance|naissance|née? le|fecha de nacimiento|nacimiento|nacid[oa] el|data di nascita|nascita|nat[oa] il|data de nascimento|nascimento|nascid[oa] em|geboortedatum|生年月日)";
/// A cue right after the date (German puts the verb last: "am 3. Mai 1980 geboren").
const AFTER_CUE: &str = " geboren";
/// A table column whose header holds one of these is a column of birth dates.
const HEADER_CUES: [&str; 9] = [
    "birth",
    "dob",
    "geburt",
    "naissance",
    "nacimiento",
    "nascita",
    "nascimento",
    "geboorte",
    "生年月日",
];

fn names() -> impl Iterator<Item = (&'static str, u32)> {
    MONTH_NAMES.iter().copied()
}

/// The month-name alternation, longest name first (by code points, then by name).
pub(crate) fn month() -> String {
    let mut all: Vec<&str> = names().map(|(n, _)| n).collect();
    all.sort_by(|a, b| b.chars().count().cmp(&a.chars().count()).then(a.cmp(b)));
    format!("(?:{})", all.join("|"))
}

/// The date pattern, lowercase (run on the lowered text).
pub(crate) fn date_pattern_lower() -> String {
    let month = month();
    format!(
        "{YEAR}[-/.]{MON_NUM}[-/.]{DAY}|{DAY}[-/.]{DAY}[-/.]{YEAR}|{DAY}\\.? (?:de )?{month}\\.?,? (?:de )?{YEAR}|{month}\\.? {DAY}{ORDINAL}?,? {YEAR}|{YEAR}年{MON_NUM}月{DAY}日"
    )
}

fn number(tok: &str) -> u32 {
    tok.bytes().fold(0u32, |acc, b| {
        acc.saturating_mul(10).saturating_add((b - b'0') as u32)
    })
}

fn date_ok(m: &str) -> bool {
    let nums: Vec<&str> = m
        .split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .collect();
    let lower = m.to_ascii_lowercase();
    for word in
        lower.split(|c: char| c.is_ascii_digit() || matches!(c, ' ' | '.' | ',' | '/' | '-'))
    {
        if word.is_empty() {
            continue;
        }
        if let Some((_, month)) = names().find(|(n, _)| *n == word) {
            return checks::valid_date(number(nums[nums.len() - 1]), month, number(nums[0]));
        }
    }
    let (a, b, c) = (number(nums[0]), number(nums[1]), number(nums[2]));
    if nums[0].len() == 4 {
        return checks::valid_date(a, b, c);
    }
    checks::valid_date(c, b, a) || checks::valid_date(c, a, b)
}

/// The spans of dates of birth: a date in a table column headed by a birth cue; else each cue
/// (from `cue_re`, on the lowered text) claims the first date (from `date_re`, idem) after it
/// (on the same line inside a table), if that date is valid and at most `window` code points
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
    // a cue announces only the first date after it
    let mut consumed = usize::MAX;
    for m in date_re.find_iter(lower) {
        let (s, e) = (m.start(), m.end());
        if !t.before_ok(s) || !t.after_ok(e) {
            continue;
        }
        let i = cues.partition_point(|&c| c <= s);
        if let Some(cell) = t.header_cell(s) {
            if HEADER_CUES.iter().any(|c| cell.contains(c)) {
                if i > 0 {
                    consumed = i - 1;
                }
                if date_ok(&t.s[s..e]) {
                    out.push((s, e));
                }
                continue;
            }
            // inside a table, only a cue on the date's own line counts
            if i > 0 && t.s[..s].rfind('\n').is_some_and(|nl| cues[i - 1] <= nl) {
                continue;
            }
        }
        if lower[e..].starts_with(AFTER_CUE) {
            if date_ok(&t.s[s..e]) {
                out.push((s, e));
            }
            continue;
        }
        if i == 0 || i - 1 == consumed {
            continue;
        }
        consumed = i - 1;
        if date_ok(&t.s[s..e]) && t.char_pos(s) - t.char_pos(cues[i - 1]) <= window {
            out.push((s, e));
        }
    }
    out
}
