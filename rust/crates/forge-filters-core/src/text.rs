//! Text helpers every scanner shares: ASCII case-insensitive patterns, word boundaries,
//! byte-to-code-point offsets, Shannon entropy.
//!
//! Offsets inside the crate are UTF-8 byte offsets; findings leave the crate as code-point
//! offsets, the unit of Python's `str` indices.

use std::cell::OnceCell;

/// Rewrites every ASCII letter outside a `[...]` class and not escaped as `[Xx]`.
///
/// Both regex engines then agree on case-insensitivity: no Unicode case folding (where Python
/// `re` and the `regex` crate differ, e.g. on the Kelvin sign) is ever involved.
pub(crate) fn ci(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() * 4);
    let (mut in_class, mut escaped) = (false, false);
    for c in pattern.chars() {
        if escaped {
            out.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' => {
                out.push(c);
                escaped = true;
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
            }
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            c if c.is_ascii_alphabetic() && !in_class => {
                out.push('[');
                out.push(c.to_ascii_uppercase());
                out.push(c.to_ascii_lowercase());
                out.push(']');
            }
            c => out.push(c),
        }
    }
    out
}

#[inline]
pub(crate) fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Shannon entropy in bits per symbol of an ASCII string (symbols visited in byte order, the
/// order the Python twin sorts its counts in, so both sum the same floats in the same order).
pub(crate) fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[b as usize] += 1;
    }
    let n = s.len() as f64;
    let mut h = 0.0f64;
    for &c in counts.iter() {
        if c > 0 {
            let p = c as f64 / n;
            h -= p * p.log2();
        }
    }
    h
}

/// The text being scanned, with lazy byte-to-code-point conversion.
pub(crate) struct Text<'a> {
    pub s: &'a str,
    pub b: &'a [u8],
    ascii: bool,
    // chars before each 256-byte block
    marks: OnceCell<Vec<u32>>,
    lower: OnceCell<String>,
    // the offsets of every "\n\n", ascending
    blanks: OnceCell<Vec<usize>>,
}

const BLOCK: usize = 256;

#[inline]
fn count_chars(b: &[u8]) -> usize {
    // every byte that is not a UTF-8 continuation byte starts a code point
    b.iter().filter(|&&x| (x as i8) >= -0x40).count()
}

impl<'a> Text<'a> {
    pub fn new(s: &'a str) -> Self {
        Text {
            s,
            b: s.as_bytes(),
            ascii: s.is_ascii(),
            marks: OnceCell::new(),
            lower: OnceCell::new(),
            blanks: OnceCell::new(),
        }
    }

    /// The text with A-Z lowered (same byte offsets): `ci(p)` matches the text exactly where
    /// the all-lowercase `p` matches this, and literal prefilters work on it.
    pub fn lower(&self) -> &str {
        self.lower.get_or_init(|| self.s.to_ascii_lowercase())
    }

    /// No ASCII letter or digit right before `start`.
    #[inline]
    pub fn before_ok(&self, start: usize) -> bool {
        start == 0 || !is_alnum(self.b[start - 1])
    }

    /// No ASCII letter or digit right at `end`.
    #[inline]
    pub fn after_ok(&self, end: usize) -> bool {
        end >= self.b.len() || !is_alnum(self.b[end])
    }

    #[inline]
    pub fn byte_before(&self, start: usize) -> Option<u8> {
        if start == 0 {
            None
        } else {
            Some(self.b[start - 1])
        }
    }

    #[inline]
    pub fn byte_at(&self, i: usize) -> Option<u8> {
        self.b.get(i).copied()
    }

    /// The code-point offset of a byte offset that lies on a char boundary.
    pub fn char_pos(&self, byte: usize) -> usize {
        if self.ascii {
            return byte;
        }
        let marks = self.marks.get_or_init(|| {
            let mut marks = Vec::with_capacity(self.b.len() / BLOCK + 1);
            let mut acc = 0u32;
            for chunk in self.b.chunks(BLOCK) {
                marks.push(acc);
                acc += count_chars(chunk) as u32;
            }
            marks.push(acc);
            marks
        });
        let block = byte / BLOCK;
        marks[block] as usize + count_chars(&self.b[block * BLOCK..byte])
    }
}

/// Code points before a value searched for a cue word.
pub(crate) const CUE_WINDOW: usize = 32;

impl<'a> Text<'a> {
    /// The byte offset `n` code points before `at` (or 0).
    fn chars_back(&self, at: usize, n: usize) -> usize {
        if self.ascii {
            return at.saturating_sub(n);
        }
        if n == 0 {
            return at;
        }
        self.s[..at]
            .char_indices()
            .rev()
            .nth(n - 1)
            .map_or(0, |(i, _)| i)
    }

    /// The start of the line `at` lies on.
    pub fn line_start(&self, at: usize) -> usize {
        self.s[..at].rfind('\n').map_or(0, |i| i + 1)
    }

    /// The lowered text of the `n` code points before `at` on its line.
    pub fn lower_before(&self, at: usize, n: usize) -> &str {
        let start = self.line_start(at).max(self.chars_back(at, n));
        &self.lower()[start..at]
    }

    /// A cue word (lowercase) in the `CUE_WINDOW` code points before `at` on the same line.
    pub fn cue_before(&self, at: usize, cues: &[&str]) -> bool {
        let near = self.lower_before(at, CUE_WINDOW);
        cues.iter().any(|c| near.contains(c))
    }

    /// The header of the table column `at` lies in, lowered, if it lies in a table: a block of
    /// lines (a blank line or the text's start before it) whose first line (the header) holds
    /// a delimiter: the first of `,` `;` tab `|` found in both the header and the line of `at`;
    /// the column is the count of delimiters before `at` on its line. None outside a table,
    /// and on the first line.
    pub fn header_cell(&self, at: usize) -> Option<String> {
        let line = self.s[..at].rfind('\n')? + 1;
        // the last blank line that ends before `line` (found once per text, not per value)
        let blanks = self.blanks.get_or_init(|| {
            self.b
                .windows(2)
                .enumerate()
                .filter(|(_, w)| w == b"\n\n")
                .map(|(i, _)| i)
                .collect()
        });
        let k = blanks.partition_point(|&i| i + 2 <= line);
        let top = if k == 0 { 0 } else { blanks[k - 1] + 2 };
        if top >= line {
            return None;
        }
        let end = top + self.s[top..].find('\n')?;
        let header = &self.b[top..end];
        let nl = self.s[at..].find('\n').map_or(self.b.len(), |i| at + i);
        let row = &self.b[line..nl];
        let delim = [b',', b';', b'\t', b'|']
            .into_iter()
            .find(|d| header.contains(d) && row.contains(d))?;
        let col = self.b[line..at].iter().filter(|&&b| b == delim).count();
        let cell = header.split(|&b| b == delim).nth(col)?;
        let cell = std::str::from_utf8(cell).ok()?;
        Some(
            cell.trim_matches(|c| matches!(c, ' ' | '\t' | '\r' | '"' | '\''))
                .to_ascii_lowercase(),
        )
    }

    /// A cue word before `at` on its line, or in the header of its table column.
    pub fn cued(&self, at: usize, cues: &[&str]) -> bool {
        self.cue_before(at, cues)
            || self
                .header_cell(at)
                .is_some_and(|cell| cues.iter().any(|c| cell.contains(c)))
    }
}

/// Code-point offsets to byte offsets, for offsets given in ascending order.
pub(crate) struct CharCursor<'a> {
    s: &'a str,
    ascii: bool,
    byte: usize,
    chars: usize,
}

impl<'a> CharCursor<'a> {
    pub fn new(s: &'a str) -> Self {
        CharCursor {
            s,
            ascii: s.is_ascii(),
            byte: 0,
            chars: 0,
        }
    }

    /// The byte offset of code point `target`; `target` never goes backwards.
    pub fn byte_of(&mut self, target: usize) -> usize {
        if self.ascii {
            return target;
        }
        let rest = &self.s[self.byte..];
        for (i, _) in rest.char_indices() {
            if self.chars == target {
                self.byte += i;
                return self.byte;
            }
            self.chars += 1;
        }
        // target is the end of the text
        self.byte = self.s.len();
        self.byte
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_leaves_classes_and_escapes_alone() {
        assert_eq!(ci(r"ab[a-z]\.t\t"), r"[Aa][Bb][a-z]\.[Tt]\t");
    }

    #[test]
    fn char_pos_counts_code_points() {
        let s = "é😀a".repeat(200);
        let t = Text::new(&s);
        let (byte, _) = s.char_indices().nth(451).unwrap();
        assert_eq!(t.char_pos(byte), 451);
        assert_eq!(t.char_pos(s.len()), 600);
    }

    #[test]
    fn cursor_maps_back() {
        let s = "aé😀b";
        let mut c = CharCursor::new(s);
        assert_eq!(c.byte_of(0), 0);
        assert_eq!(c.byte_of(2), 3);
        assert_eq!(c.byte_of(3), 7);
        assert_eq!(c.byte_of(4), 8);
    }

    #[test]
    fn entropy_of_uniform_symbols() {
        assert_eq!(entropy(b"abcd"), 2.0);
        assert_eq!(entropy(b"aaaa"), 0.0);
    }
}
