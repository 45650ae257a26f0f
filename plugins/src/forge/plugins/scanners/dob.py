"""Dates of birth, the pure-Python twin of forge-filters-core's `dob.rs`: a calendar date shortly
after a birth cue ("DOB", "born", "Geburtsdatum", ...). Dates alone are everywhere; only the
first date after a cue is taken as a birth date."""

from __future__ import annotations

import re
from bisect import bisect_right

from forge.plugins.scanners import checks
from forge.plugins.scanners.text import after_ok, before_ok, ci

MONTH = (
    "(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    "|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY = "(?:3[01]|[12][0-9]|0?[1-9])"
_MON_NUM = "(?:1[0-2]|0?[1-9])"
_YEAR = "(?:19|20)[0-9]{2}"
CUES = (
    "(?:date of birth|birth ?date|birthday|born|dob|d\\.o\\.b|geburtsdatum|geboren"
    "|date de naissance|naissance|fecha de nacimiento|nacimiento|data di nascita|nascita)"
)


def date_pattern() -> str:
    month, ordinal = ci(MONTH), ci("(?:st|nd|rd|th)")
    return (
        f"{_YEAR}[-/.]{_MON_NUM}[-/.]{_DAY}|{_DAY}[-/.]{_DAY}[-/.]{_YEAR}"
        f"|{_DAY}\\.? {month}\\.?,? {_YEAR}|{month}\\.? {_DAY}{ordinal}?,? {_YEAR}"
    )


_TOKENS = re.compile(r"[0-9]+|[A-Za-z]+")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


def date_ok(m: str) -> bool:
    toks = _TOKENS.findall(m)
    nums = [int(t) for t in toks if t[0].isdigit()]
    words = [t for t in toks if not t[0].isdigit()]
    if words:
        key = words[0][:3].lower()
        month = _MONTHS.index(key) + 1 if key in _MONTHS else 0
        return checks.valid_date(nums[-1], month, nums[0])
    a, b, c = nums[0], nums[1], nums[2]
    if len(toks[0]) == 4:
        return checks.valid_date(a, b, c)
    return checks.valid_date(c, b, a) or checks.valid_date(c, a, b)


def find(
    text: str, date_re: re.Pattern[str], cue_re: re.Pattern[str], window: int
) -> list[tuple[int, int]]:
    """The spans of dates of birth: each cue claims the first date after it, if that date is
    valid and at most `window` characters away."""
    cues = [
        m.end()
        for m in cue_re.finditer(text)
        if before_ok(text, m.start()) and after_ok(text, m.end())
    ]
    out: list[tuple[int, int]] = []
    if not cues:
        return out
    consumed = -1  # a cue announces only the first date after it
    for m in date_re.finditer(text):
        s, e = m.span()
        if not before_ok(text, s) or not after_ok(text, e):
            continue
        i = bisect_right(cues, s)
        if i == 0 or i - 1 == consumed:
            continue
        consumed = i - 1
        if date_ok(m.group()) and s - cues[i - 1] <= window:
            out.append((s, e))
    return out
