"""RFC 6570 level-1 matching: does a concrete uri fit a resource template's `{var}` slots?"""

from __future__ import annotations

import functools
import re

# A level-1 expression is one variable name: letters, digits, `_`, `.` and percent escapes.
_EXPRESSION = re.compile(r"\{([^{}]*)\}")
_VARNAME = re.compile(r"^(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2})(?:\.?(?:[A-Za-z0-9_]|%[0-9A-Fa-f]{2}))*$")
# Simple expansion percent-encodes everything but unreserved characters, so a slot never spans
# a `/`, `?` or `#`; it does take percent escapes and sub-delimiters a client left as they were.
_SLOT = r"[^/?#]+"


@functools.lru_cache(maxsize=4096)
def compile_template(template: str) -> re.Pattern[str] | None:
    """A regex for the template, or None when it uses more than level-1 `{var}` expressions."""
    parts: list[str] = []
    position = 0
    for match in _EXPRESSION.finditer(template):
        if not _VARNAME.match(match.group(1)):
            return None  # an operator ({+x}, {?x}, ...) or several variables: not level 1
        parts.append(re.escape(template[position : match.start()]))
        parts.append(_SLOT)
        position = match.end()
    rest = template[position:]
    if "{" in rest or "}" in rest:
        return None  # an unbalanced brace: not a template we can read
    parts.append(re.escape(rest))
    return re.compile("".join(parts))


def matches(template: str, uri: str) -> bool:
    """True when `uri` is an expansion of the level-1 `template`."""
    pattern = compile_template(template)
    return pattern is not None and pattern.fullmatch(uri) is not None
