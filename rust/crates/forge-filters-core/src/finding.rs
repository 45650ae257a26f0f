//! Findings, and the one rule that settles overlapping candidates (shared by every scanner).

use std::cmp::Ordering;
use std::collections::BTreeMap;

use crate::text::Text;

/// One detected item. `start`/`end` are code-point offsets (Python `str` indices).
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub kind: &'static str,
    pub start: usize,
    pub end: usize,
    pub score: f64,
    pub detail: String,
}

/// A detector's raw match, in byte offsets until `resolve` converts it.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub rank: u8,
    pub kind: &'static str,
    pub start: usize,
    pub end: usize,
    pub score: f64,
    pub detail: String,
}

impl Candidate {
    /// A match of the `rank`-th of a scanner's `kinds`.
    pub fn of(
        kinds: &[&'static str],
        rank: usize,
        start: usize,
        end: usize,
        score: f64,
        detail: String,
    ) -> Candidate {
        Candidate {
            rank: rank as u8,
            kind: kinds[rank],
            start,
            end,
            score,
            detail,
        }
    }
}

/// Who claims a span first when candidates overlap.
#[derive(Clone, Copy)]
pub(crate) enum Claim {
    /// by the kind's rank, then position (PII, secrets)
    Rank,
    /// by score (highest first), then rank, then position (encoded payloads)
    Score,
}

fn claim_order(claim: Claim, a: &Candidate, b: &Candidate) -> Ordering {
    let by_rank = a.rank.cmp(&b.rank).then(a.start.cmp(&b.start));
    match claim {
        Claim::Rank => by_rank,
        Claim::Score => b
            .score
            .partial_cmp(&a.score)
            .unwrap_or(Ordering::Equal)
            .then(by_rank),
    }
}

/// Converts to code-point offsets, keeps each candidate that overlaps none claimed before it,
/// and returns the survivors ordered by start, then kind.
pub(crate) fn resolve(text: &Text, mut cands: Vec<Candidate>, claim: Claim) -> Vec<Finding> {
    for c in cands.iter_mut() {
        c.start = text.char_pos(c.start);
        c.end = text.char_pos(c.end);
    }
    cands.sort_by(|a, b| claim_order(claim, a, b));
    // claimed spans: start -> end, pairwise disjoint
    let mut claimed: BTreeMap<usize, usize> = BTreeMap::new();
    let mut kept: Vec<Candidate> = Vec::with_capacity(cands.len());
    for c in cands {
        let clashes_before = claimed
            .range(..=c.start)
            .next_back()
            .is_some_and(|(_, &e)| e > c.start);
        let clashes_after = claimed.range(c.start..c.end).next().is_some();
        if !clashes_before && !clashes_after {
            claimed.insert(c.start, c.end);
            kept.push(c);
        }
    }
    kept.sort_by(|a, b| a.start.cmp(&b.start).then(a.kind.cmp(b.kind)));
    kept.into_iter()
        .map(|c| Finding {
            kind: c.kind,
            start: c.start,
            end: c.end,
            score: c.score,
            detail: c.detail,
        })
        .collect()
}
