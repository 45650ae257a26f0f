"""Dates of birth, the pure-Python twin of forge-filters-core's `dob.rs`: a calendar date shortly
after a birth cue ("DOB", "born", "Geburtsdatum", "né le", "生年月日", ...), or in a table
column whose header is one. Dates alone are everywhere; only the first date after a cue is
taken as a birth date."""

from __future__ import annotations

import re
from bisect import bisect_right

from forge.plugins.scanners import checks
from forge.plugins.scanners.text import after_ok, ascii_lower, before_ok, ci, header_cell

# Month names (lowercase) in English, German, French, Spanish, Italian, Portuguese and Dutch,
# with English abbreviations, and their month numbers.
MONTH_NAMES: tuple[tuple[str, int], ...] = (
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
)  # fmt: skip
_MONTH_OF = dict(MONTH_NAMES)
# longest first, so that the alternation takes the whole name
MONTH = "(?:" + "|".join(sorted(_MONTH_OF, key=lambda n: (-len(n), n))) + ")"
_DAY = "(?:3[01]|[12][0-9]|0?[1-9])"
_MON_NUM = "(?:1[0-2]|0?[1-9])"
_YEAR = "(?:19|20)[0-9]{2}"
ORDINAL = "(?:st|nd|rd|th)"
CUES = (
    "(?:date[ _]?of[ _]?birth|birth[ _]?date|birthday|born|dob|d\\.o\\.b|geburtsdatum|geboren"
    "|geb\\.|date de naissance|naissance|née? le|fecha de nacimiento|nacimiento|nacid[oa] el"
    "|data di nascita|nascita|nat[oa] il|data de nascimento|nascimento|nascid[oa] em"
    "|geboortedatum|生年月日)"
)
# a cue right after the date (German puts the verb last: "am 3. Mai 1980 geboren")
AFTER_CUE = " geboren"
# a table column whose header holds one of these is a column of birth dates
HEADER_CUES = (
    "birth", "dob", "geburt", "naissance", "nacimiento", "nascita", "nascimento", "geboorte",
    "生年月日",
)  # fmt: skip


def date_pattern_lower() -> str:
    return (
        f"{_YEAR}[-/.]{_MON_NUM}[-/.]{_DAY}|{_DAY}[-/.]{_DAY}[-/.]{_YEAR}"
        f"|{_DAY}\\.? (?:de )?{MONTH}\\.?,? (?:de )?{_YEAR}"
        f"|{MONTH}\\.? {_DAY}{ORDINAL}?,? {_YEAR}"
        f"|{_YEAR}年{_MON_NUM}月{_DAY}日"
    )


def date_pattern() -> str:
    return ci(date_pattern_lower())


_NUMBERS = re.compile(r"[0-9]+")
_WORD_SPLIT = re.compile(r"[0-9 .,/-]+")


def date_ok(m: str) -> bool:
    nums = _NUMBERS.findall(m)
    for word in _WORD_SPLIT.split(ascii_lower(m)):
        month = _MONTH_OF.get(word)
        if month is not None:
            return checks.valid_date(int(nums[-1]), month, int(nums[0]))
    a, b, c = int(nums[0]), int(nums[1]), int(nums[2])
    if len(nums[0]) == 4:
        return checks.valid_date(a, b, c)
    return checks.valid_date(c, b, a) or checks.valid_date(c, a, b)


def find(
    text: str, date_re: re.Pattern[str], cue_re: re.Pattern[str], window: int
) -> list[tuple[int, int]]:
    """The spans of dates of birth: a date in a table column headed by a birth cue; else each
    cue claims the first date after it (on the same line inside a table), if that date is
    valid and at most `window` characters away."""
    cues = [
        m.end()
        for m in cue_re.finditer(text)
        if before_ok(text, m.start()) and after_ok(text, m.end())
    ]
    out: list[tuple[int, int]] = []
    consumed = -1  # a cue announces only the first date after it
    for m in date_re.finditer(text):
        s, e = m.span()
        if not before_ok(text, s) or not after_ok(text, e):
            continue
        i = bisect_right(cues, s)
        cell = header_cell(text, s)
        if cell is not None:
            if any(c in cell for c in HEADER_CUES):
                if i > 0:
                    consumed = i - 1
                if date_ok(m.group()):
                    out.append((s, e))
                continue
            if i > 0 and cues[i - 1] <= text.rfind("\n", 0, s):
                continue  # inside a table, only a cue on the date's own line counts
        if ascii_lower(text[e : e + len(AFTER_CUE)]) == AFTER_CUE:
            if date_ok(m.group()):
                out.append((s, e))
            continue
        if i == 0 or i - 1 == consumed:
            continue
        consumed = i - 1
        if date_ok(m.group()) and s - cues[i - 1] <= window:
            out.append((s, e))
    return out
