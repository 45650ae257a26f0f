//! A prefilter that skips most of a text cheaply: a pattern made only of ASCII bytes from a
//! set S can only match inside a run of bytes from S, so searching each long-enough run on its
//! own finds exactly the matches a search of the whole text finds (the patterns here use no
//! anchors or other assertions). One table scan replaces one regex pass per pattern.

use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind};

fn collect(h: &Hir, set: &mut [bool; 256]) -> bool {
    match h.kind() {
        HirKind::Empty => true,
        HirKind::Literal(lit) => lit.0.iter().all(|&b| {
            set[b as usize] = true;
            b < 0x80
        }),
        HirKind::Class(Class::Unicode(c)) => c.ranges().iter().all(|r| {
            if r.end() as u32 >= 0x80 {
                return false;
            }
            (r.start() as u8..=r.end() as u8).for_each(|b| set[b as usize] = true);
            true
        }),
        HirKind::Class(Class::Bytes(c)) => c.ranges().iter().all(|r| {
            if r.end() >= 0x80 {
                return false;
            }
            (r.start()..=r.end()).for_each(|b| set[b as usize] = true);
            true
        }),
        HirKind::Look(_) => false,
        HirKind::Repetition(r) => collect(&r.sub, set),
        HirKind::Capture(c) => collect(&c.sub, set),
        HirKind::Concat(v) | HirKind::Alternation(v) => v.iter().all(|h| collect(h, set)),
    }
}

/// The runs of a text in which any of a group of patterns can match.
pub(crate) struct Regions {
    allowed: [bool; 256],
    min_len: usize,
}

impl Regions {
    /// The union of the patterns' byte sets; panics (at first use, in every test) when a pattern
    /// could match a non-ASCII byte or uses an assertion.
    pub fn of(patterns: &[&str]) -> Regions {
        let mut allowed = [false; 256];
        let mut min_len = usize::MAX;
        for p in patterns {
            let hir = regex_syntax::Parser::new()
                .parse(p)
                .expect("pattern parses");
            assert!(
                collect(&hir, &mut allowed),
                "pattern {p:?} is not plain ASCII"
            );
            min_len = min_len.min(hir.properties().minimum_len().unwrap_or(0));
        }
        Regions {
            allowed,
            min_len: min_len.max(1),
        }
    }

    /// Maximal runs of allowed bytes at least as long as the shortest possible match.
    pub fn find(&self, b: &[u8]) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, &x) in b.iter().enumerate() {
            match (self.allowed[x as usize], start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    if i - s >= self.min_len {
                        out.push((s, i));
                    }
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            if b.len() - s >= self.min_len {
                out.push((s, b.len()));
            }
        }
        out
    }
}

impl Regions {
    /// As `find`, with the count of ASCII digits in each run.
    pub fn find_counted(&self, b: &[u8]) -> Vec<(usize, usize, usize)> {
        let mut out = Vec::new();
        let mut start = None;
        let mut digits = 0;
        for (i, &x) in b.iter().enumerate() {
            match (self.allowed[x as usize], start) {
                (true, None) => {
                    start = Some(i);
                    digits = usize::from(x.is_ascii_digit());
                }
                (true, Some(_)) => digits += usize::from(x.is_ascii_digit()),
                (false, Some(s)) => {
                    if i - s >= self.min_len {
                        out.push((s, i, digits));
                    }
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            if b.len() - s >= self.min_len {
                out.push((s, b.len(), digits));
            }
        }
        out
    }
}

/// Every match of `re` in `text` inside the `regions` that hold at least `min_digits` digits
/// (a kind whose every finding needs that many digits skips the others: its matches there
/// would all be refused), as absolute byte offsets.
pub(crate) fn matches_in_counted(
    re: &Regex,
    text: &str,
    regions: &[(usize, usize, usize)],
    min_digits: usize,
) -> Vec<(usize, usize)> {
    let kept: Vec<(usize, usize)> = regions
        .iter()
        .filter(|r| r.2 >= min_digits)
        .map(|&(a, e, _)| (a, e))
        .collect();
    matches_in(re, text, &kept)
}

/// A scanner's patterns, compiled in order, and the regions of the group of them that is searched
/// only inside those.
pub(crate) struct Compiled {
    pub res: Vec<Regex>,
    pub regions: Regions,
}

impl Compiled {
    /// The (name, pattern) `patterns` compiled; `grouped` are the indices of the group's.
    pub fn new(patterns: &[(&str, String)], grouped: &[usize]) -> Compiled {
        let group: Vec<&str> = grouped.iter().map(|&k| patterns[k].1.as_str()).collect();
        Compiled {
            res: patterns
                .iter()
                .map(|(_, p)| Regex::new(p).expect("scanner patterns compile"))
                .collect(),
            regions: Regions::of(&group),
        }
    }
}

/// Regions per KiB of text above which one pass over the whole text is cheaper than a search
/// per region (each search has a fixed cost; finding-dense text has many short regions).
const DENSE_PER_KIB: usize = 4;

/// Every match of `re` in `text`, searching only inside `regions`, as absolute byte offsets.
///
/// Where the regions are many, the whole text is searched at once instead: the matches are the
/// very same (a match holds only region bytes, so it lies inside one maximal run, and a run
/// shorter than the shortest match holds none).
pub(crate) fn matches_in(
    re: &Regex,
    text: &str,
    regions: &[(usize, usize)],
) -> Vec<(usize, usize)> {
    if regions.len() > DENSE_PER_KIB * (text.len() / 1024 + 1) {
        return re.find_iter(text).map(|m| (m.start(), m.end())).collect();
    }
    let mut out = Vec::new();
    for &(a, e) in regions {
        out.extend(
            re.find_iter(&text[a..e])
                .map(|m| (a + m.start(), a + m.end())),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_runs_of_pattern_bytes() {
        let r = Regions::of(&[r"[0-9]{3}-[0-9]{4}"]);
        assert_eq!(r.find(b"call 555-0132 or 12-3"), vec![(5, 13)]);
    }

    #[test]
    #[should_panic]
    fn non_ascii_patterns_are_refused() {
        Regions::of(&[r"[^0-9]+"]);
    }
}
