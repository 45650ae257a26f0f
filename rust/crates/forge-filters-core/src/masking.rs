//! Masking findings out of a text: `redact` (`[REDACTED:KIND]`), `partial` (keep a few edge
//! characters, star the other letters and digits) and `hash` (`[KIND:` + 8 hex digits of the
//! SHA-256 of the value + `]`).

use std::fmt;

use crate::sha256::sha256_hex_prefix;
use crate::text::CharCursor;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskMode {
    Redact,
    Partial,
    Hash,
}

impl MaskMode {
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "redact" => Some(MaskMode::Redact),
            "partial" => Some(MaskMode::Partial),
            "hash" => Some(MaskMode::Hash),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MaskError(pub String);

impl fmt::Display for MaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MaskError {}

/// Letters and digits kept at the (start, end) of a value in `partial` mode; never more than
/// half of them.
fn keep(kind: &str) -> (usize, usize) {
    match kind {
        "CREDIT_CARD" | "US_SSN" | "IN_AADHAAR" => (0, 4),
        "IBAN" => (2, 4),
        "PHONE" | "DE_TAX_ID" => (0, 2),
        "IPV4" => (3, 0),
        "IPV6" => (4, 0),
        "DATE_OF_BIRTH" => (0, 0),
        "UK_NINO" => (2, 1),
        "FR_INSEE" => (1, 0),
        "EMAIL" => (1, 0),
        _ => (4, 0),
    }
}

fn partial(kind: &str, value: &str, out: &mut String) {
    // an email keeps its domain: only the local part is starred
    let (head, tail) = match (kind, value.find('@')) {
        ("EMAIL", Some(at)) => value.split_at(at),
        _ => (value, ""),
    };
    let (keep_start, keep_end) = keep(kind);
    let n = head.chars().filter(char::is_ascii_alphanumeric).count();
    let budget = n / 2;
    let keep_end = keep_end.min(budget);
    let keep_start = keep_start.min(budget - keep_end);
    let mut i = 0;
    for c in head.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(if i < keep_start || i >= n - keep_end {
                c
            } else {
                '*'
            });
            i += 1;
        } else {
            out.push(c);
        }
    }
    out.push_str(tail);
}

/// `text` with each (kind, start, end) span replaced; spans are code-point offsets, taken in
/// order of start, and one that overlaps an earlier span is left out.
pub fn mask<K: AsRef<str>>(
    text: &str,
    spans: &[(K, usize, usize)],
    mode: MaskMode,
) -> Result<String, MaskError> {
    let total = text.chars().count();
    for (_, s, e) in spans {
        if s >= e || *e > total {
            return Err(MaskError(format!(
                "span {s}..{e} is not inside a text of {total} characters"
            )));
        }
    }
    let mut order: Vec<&(K, usize, usize)> = spans.iter().collect();
    order.sort_by(|a, b| {
        a.1.cmp(&b.1)
            .then(a.2.cmp(&b.2))
            .then(a.0.as_ref().cmp(b.0.as_ref()))
    });
    let mut cursor = CharCursor::new(text);
    let mut out = String::with_capacity(text.len());
    let (mut done_chars, mut done_bytes) = (0usize, 0usize);
    for (kind, s, e) in order {
        let kind = kind.as_ref();
        if *s < done_chars {
            continue;
        }
        let (bs, be) = (cursor.byte_of(*s), cursor.byte_of(*e));
        out.push_str(&text[done_bytes..bs]);
        let value = &text[bs..be];
        match mode {
            MaskMode::Redact => {
                out.push_str("[REDACTED:");
                out.push_str(kind);
                out.push(']');
            }
            MaskMode::Partial => partial(kind, value, &mut out),
            MaskMode::Hash => {
                out.push('[');
                out.push_str(kind);
                out.push(':');
                out.push_str(&sha256_hex_prefix(value.as_bytes(), 8));
                out.push(']');
            }
        }
        done_chars = *e;
        done_bytes = be;
    }
    out.push_str(&text[done_bytes..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let text = "mail é john.doe@example.com, card 4111 1111 1111 1111.";
        let spans = [("EMAIL", 7, 27), ("CREDIT_CARD", 34, 53)];
        assert_eq!(
            mask(text, &spans, MaskMode::Redact).unwrap(),
            "mail é [REDACTED:EMAIL], card [REDACTED:CREDIT_CARD]."
        );
        assert_eq!(
            mask(text, &spans, MaskMode::Partial).unwrap(),
            "mail é j***.***@example.com, card **** **** **** 1111."
        );
        assert!(mask(text, &[("X", 3, 99)], MaskMode::Hash).is_err());
    }
}
