//! Check digits and structural validators: Luhn, IBAN mod-97, Verhoeff, ISO 7064 MOD 11,10,
//! INSEE key, SSN and NINO rules, IP addresses, calendar dates.

/// The ASCII digits of `s` as values 0..=9, separators dropped.
pub(crate) fn digits(s: &[u8]) -> Vec<u8> {
    s.iter()
        .filter(|b| b.is_ascii_digit())
        .map(|b| b - b'0')
        .collect()
}

pub(crate) fn luhn(d: &[u8]) -> bool {
    let mut sum = 0u32;
    for (i, &x) in d.iter().rev().enumerate() {
        let mut v = x as u32;
        if i % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum % 10 == 0
}

fn prefix(d: &[u8], n: usize) -> u32 {
    d.iter().take(n).fold(0u32, |acc, &x| acc * 10 + x as u32)
}

/// The card network of a digit string, by issuer prefix and length.
pub(crate) fn card_brand(d: &[u8]) -> Option<&'static str> {
    let n = d.len();
    let (p1, p2, p3, p4) = (prefix(d, 1), prefix(d, 2), prefix(d, 3), prefix(d, 4));
    if p2 == 34 || p2 == 37 {
        return (n == 15).then_some("amex");
    }
    if p1 == 4 {
        return matches!(n, 13 | 16 | 19).then_some("visa");
    }
    if (51..=55).contains(&p2) || (2221..=2720).contains(&p4) {
        return (n == 16).then_some("mastercard");
    }
    if p4 == 6011 || p2 == 65 || (644..=649).contains(&p3) {
        return (16..=19).contains(&n).then_some("discover");
    }
    if (3528..=3589).contains(&p4) {
        return (16..=19).contains(&n).then_some("jcb");
    }
    if (300..=305).contains(&p3) || p2 == 36 || p2 == 38 || p2 == 39 {
        return (14..=19).contains(&n).then_some("diners");
    }
    if p2 == 62 {
        return (16..=19).contains(&n).then_some("unionpay");
    }
    if MAESTRO.contains(&p4) || (56..=58).contains(&p2) {
        return (12..=19).contains(&n).then_some("maestro");
    }
    None
}

const MAESTRO: [u32; 10] = [5018, 5020, 5038, 5893, 6304, 6390, 6759, 6761, 6762, 6763];

const IBAN_LENGTHS: [(&str, usize); 42] = [
    ("AD", 24),
    ("AE", 23),
    ("AT", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BR", 29),
    ("CH", 21),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DK", 18),
    ("EE", 20),
    ("ES", 24),
    ("FI", 18),
    ("FR", 27),
    ("GB", 22),
    ("GR", 27),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IS", 26),
    ("IT", 27),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("MC", 27),
    ("MT", 31),
    ("NL", 18),
    ("NO", 15),
    ("PL", 28),
    ("PT", 25),
    ("RO", 24),
    ("SA", 24),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("TR", 26),
    ("UA", 29),
];

pub(crate) fn iban_length(country: &[u8]) -> Option<usize> {
    IBAN_LENGTHS
        .iter()
        .find(|(c, _)| c.as_bytes() == country)
        .map(|&(_, n)| n)
}

/// ISO 13616 mod-97 on a compact upper-case IBAN.
pub(crate) fn iban_mod97(iban: &[u8]) -> bool {
    let mut r = 0u32;
    for &c in iban[4..].iter().chain(iban[..4].iter()) {
        if c.is_ascii_digit() {
            r = (r * 10 + (c - b'0') as u32) % 97;
        } else {
            r = (r * 100 + (c - b'A') as u32 + 10) % 97;
        }
    }
    r == 1
}

const VERHOEFF_D: [[u8; 10]; 10] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 2, 3, 4, 0, 6, 7, 8, 9, 5],
    [2, 3, 4, 0, 1, 7, 8, 9, 5, 6],
    [3, 4, 0, 1, 2, 8, 9, 5, 6, 7],
    [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
    [5, 9, 8, 7, 6, 0, 4, 3, 2, 1],
    [6, 5, 9, 8, 7, 1, 0, 4, 3, 2],
    [7, 6, 5, 9, 8, 2, 1, 0, 4, 3],
    [8, 7, 6, 5, 9, 3, 2, 1, 0, 4],
    [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const VERHOEFF_P: [[u8; 10]; 8] = [
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    [1, 5, 7, 6, 2, 8, 3, 0, 9, 4],
    [5, 8, 0, 3, 7, 9, 6, 1, 4, 2],
    [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
    [9, 4, 5, 3, 1, 2, 6, 8, 7, 0],
    [4, 2, 8, 6, 5, 7, 3, 9, 0, 1],
    [2, 7, 9, 3, 8, 0, 6, 4, 1, 5],
    [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

pub(crate) fn verhoeff(d: &[u8]) -> bool {
    let mut c = 0u8;
    for (i, &x) in d.iter().rev().enumerate() {
        c = VERHOEFF_D[c as usize][VERHOEFF_P[i % 8][x as usize] as usize];
    }
    c == 0
}

/// German Steuer-ID: one digit twice or thrice (never three in a row) in the first ten, the
/// rest at most once, and the ISO 7064 MOD 11,10 check digit.
pub(crate) fn de_tax_id(d: &[u8]) -> bool {
    if d.len() != 11 || d[0] == 0 {
        return false;
    }
    let mut counts = [0u8; 10];
    for &x in &d[..10] {
        counts[x as usize] += 1;
    }
    let repeated: Vec<u8> = counts.iter().copied().filter(|&c| c > 1).collect();
    if repeated.len() != 1 || repeated[0] > 3 {
        return false;
    }
    if repeated[0] == 3 && d[..10].windows(3).any(|w| w[0] == w[1] && w[1] == w[2]) {
        return false;
    }
    let mut product = 10u32;
    for &x in &d[..10] {
        let mut s = (x as u32 + product) % 10;
        if s == 0 {
            s = 10;
        }
        product = (s * 2) % 11;
    }
    let mut check = 11 - product;
    if check == 10 {
        check = 0;
    }
    check == d[10] as u32
}

/// French NIR: key = 97 - (first 13 digits mod 97), Corsica's 2A/2B read as 19/18.
pub(crate) fn insee(compact: &[u8]) -> bool {
    if compact.len() != 15 {
        return false;
    }
    let mut n = 0u64;
    for (i, &c) in compact[..13].iter().enumerate() {
        let v = match (i, c) {
            (6, b'A') => {
                n = n / 10 * 10 + 1; // "2A" -> "19"
                9
            }
            (6, b'B') => {
                n = n / 10 * 10 + 1; // "2B" -> "18"
                8
            }
            (_, c) if c.is_ascii_digit() => (c - b'0') as u64,
            _ => return false,
        };
        n = n * 10 + v;
    }
    if !compact[13..].iter().all(u8::is_ascii_digit) {
        return false;
    }
    let key = ((compact[13] - b'0') * 10 + (compact[14] - b'0')) as u64;
    key == 97 - n % 97
}

pub(crate) fn us_ssn(d: &[u8]) -> bool {
    if d.len() != 9 {
        return false;
    }
    let area = prefix(d, 3);
    let group = prefix(&d[3..], 2);
    let serial = prefix(&d[5..], 4);
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

pub(crate) fn nino_prefix_ok(p: &[u8]) -> bool {
    !matches!(p, b"BG" | b"GB" | b"KN" | b"NK" | b"NT" | b"TN" | b"ZZ")
}

pub(crate) fn ipv4(s: &[u8]) -> bool {
    let parts: Vec<&[u8]> = s.split(|&b| b == b'.').collect();
    parts.len() == 4
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.len() <= 3
                && p.iter().all(u8::is_ascii_digit)
                && !(p.len() > 1 && p[0] == b'0')
                && prefix(&digits(p), 3) <= 255
        })
}

fn hex_group(g: &[u8]) -> bool {
    !g.is_empty() && g.len() <= 4 && g.iter().all(u8::is_ascii_hexdigit)
}

fn groups(s: &[u8]) -> Option<usize> {
    if s.is_empty() {
        return Some(0);
    }
    let mut n = 0;
    for g in s.split(|&b| b == b':') {
        if !hex_group(g) {
            return None;
        }
        n += 1;
    }
    Some(n)
}

/// RFC 4291 text form: eight groups, or fewer around one `::`, optionally ending in a dotted
/// IPv4 address (counted as two groups).
pub(crate) fn ipv6(s: &[u8]) -> bool {
    if !s.iter().any(u8::is_ascii_hexdigit) {
        return false;
    }
    let (head, extra) = match s.iter().position(|&b| b == b'.') {
        Some(_) => {
            let colon = match s.iter().rposition(|&b| b == b':') {
                Some(i) => i,
                None => return false,
            };
            if !ipv4(&s[colon + 1..]) {
                return false;
            }
            // keep a trailing "::" intact, drop a single trailing ':'
            let head = if colon > 0 && s[colon - 1] == b':' {
                &s[..=colon]
            } else {
                &s[..colon]
            };
            (head, 2)
        }
        None => (s, 0),
    };
    if head.windows(3).any(|w| w == b":::") {
        return false;
    }
    let doubles = head.windows(2).filter(|w| *w == b"::").count();
    match doubles {
        0 => groups(head).is_some_and(|n| n + extra == 8),
        1 => {
            let at = head.windows(2).position(|w| w == b"::").unwrap_or(0);
            match (groups(&head[..at]), groups(&head[at + 2..])) {
                (Some(l), Some(r)) => l + r + extra <= 7,
                _ => false,
            }
        }
        _ => false,
    }
}

pub(crate) fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

pub(crate) fn valid_date(year: u32, month: u32, day: u32) -> bool {
    (1..=12).contains(&month) && day >= 1 && day <= days_in_month(year, month)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_accepts_test_cards() {
        assert!(luhn(&digits(b"4111 1111 1111 1111")));
        assert!(!luhn(&digits(b"4111 1111 1111 1112")));
        assert_eq!(card_brand(&digits(b"378282246310005")), Some("amex"));
    }

    #[test]
    fn iban_examples() {
        assert!(iban_mod97(b"DE89370400440532013000"));
        assert!(iban_mod97(b"GB82WEST12345698765432"));
        assert!(!iban_mod97(b"GB82WEST12345698765433"));
    }

    #[test]
    fn verhoeff_examples() {
        assert!(verhoeff(&[2, 3, 6, 3]));
        assert!(!verhoeff(&[2, 3, 6, 4]));
    }

    #[test]
    fn ipv6_forms() {
        for ok in [
            "::1",
            "2001:db8::1",
            "fe80::1ff:fe23:4567:890a",
            "::ffff:192.0.2.128",
            "2001:0db8:85a3:0000:0000:8a2e:0370:7334",
            "1::",
        ] {
            assert!(ipv6(ok.as_bytes()), "{ok}");
        }
        for bad in [
            "::",
            "1:2:3",
            "1::2::3",
            "12345::1",
            "1:2:3:4:5:6:7:8:9",
            ":::1",
        ] {
            assert!(!ipv6(bad.as_bytes()), "{bad}");
        }
    }
}
