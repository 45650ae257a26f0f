//! Decoders for encoded payloads (base64 and base64url, hex, percent-encoding, `\xNN` and
//! `\uNNNN` escapes) and the "is this printable text" test, shared by the JWT check and the
//! exfiltration scanner.

/// Decodes unpadded base64 (`url` picks the `-_` alphabet); None on a foreign character or a
/// length that no encoder produces. Leftover bits are ignored, as Python's binascii does.
pub(crate) fn base64(s: &[u8], url: bool) -> Option<Vec<u8>> {
    if s.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 2);
    let (mut acc, mut bits) = (0u32, 0u32);
    for &c in s {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' if !url => 62,
            b'/' if !url => 63,
            b'-' if url => 62,
            b'_' if url => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        _ => c - b'A' + 10,
    }
}

/// Even-length hex digits to bytes; None on an odd length.
pub(crate) fn hex(s: &[u8]) -> Option<Vec<u8>> {
    if s.len() % 2 == 1 {
        return None;
    }
    Some(
        s.chunks_exact(2)
            .map(|p| hex_value(p[0]) << 4 | hex_value(p[1]))
            .collect(),
    )
}

/// `%XX` to its byte; every other byte stays (no `+` to space).
pub(crate) fn percent(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && i + 2 < s.len()
            && s[i + 1].is_ascii_hexdigit()
            && s[i + 2].is_ascii_hexdigit()
        {
            out.push(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    out
}

fn push_char(out: &mut Vec<u8>, cp: u32) {
    let c = char::from_u32(cp).unwrap_or('\u{FFFD}');
    let mut buf = [0u8; 4];
    out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
}

/// A run of `\xNN` (one byte each) and `\uNNNN` (one UTF-16 unit each: a surrogate pair makes
/// one character, a lone surrogate becomes U+FFFD) escapes.
pub(crate) fn escapes(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() / 4);
    let mut i = 0;
    let unit = |at: usize| -> u32 {
        s[at..at + 4]
            .iter()
            .fold(0u32, |acc, &c| acc << 4 | hex_value(c) as u32)
    };
    while i + 1 < s.len() {
        if s[i + 1] == b'x' {
            out.push(hex_value(s[i + 2]) << 4 | hex_value(s[i + 3]));
            i += 4;
            continue;
        }
        let u = unit(i + 2);
        i += 6;
        if (0xD800..0xDC00).contains(&u) && i + 1 < s.len() && s[i + 1] == b'u' {
            let low = unit(i + 2);
            if (0xDC00..0xE000).contains(&low) {
                push_char(&mut out, 0x10000 + ((u - 0xD800) << 10) + (low - 0xDC00));
                i += 6;
                continue;
            }
        }
        push_char(&mut out, u);
    }
    out
}

/// The bytes as text when they are UTF-8 without control characters (tab, newline and carriage
/// return allowed).
pub(crate) fn as_text(b: &[u8]) -> Option<&str> {
    let s = std::str::from_utf8(b).ok()?;
    let bad = |c: char| {
        let cp = c as u32;
        (cp < 0x20 && c != '\t' && c != '\n' && c != '\r') || (0x7f..=0x9f).contains(&cp)
    };
    if s.is_empty() || s.chars().any(bad) {
        return None;
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        assert_eq!(base64(b"aGVsbG8", false).unwrap(), b"hello");
        assert_eq!(base64(b"aGVsbG8gd29ybGQ", false).unwrap(), b"hello world");
        assert!(base64(b"aGVsb", false).is_none());
        assert!(base64(b"a-b_", false).is_none());
    }

    #[test]
    fn escapes_decode_pairs() {
        assert_eq!(escapes(br"\x41\u0042\ud83d\ude00"), "AB😀".as_bytes());
        assert_eq!(escapes(br"\ud83d\x41"), "\u{FFFD}A".as_bytes());
    }
}
