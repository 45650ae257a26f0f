"""The Rust scanners for the tests that need them, and the skip for where they are not built.

Without the extension those tests skip, with the reason, rather than pass by comparing the
Python twins with themselves. CI builds it (cargo is there): test_scanner_differential's
`test_the_rust_extension_is_built_in_ci` keeps a broken build from hiding behind the skip.
"""

from __future__ import annotations

import pytest

from forge.plugins.scanners import implementation

NOT_BUILT = (
    "the Rust scanners (forge_filters_native) are not importable: "
    "`make install` builds them when cargo is present"
)


def _rust() -> implementation.Scanners | None:
    try:
        return implementation.rust()
    except ImportError:
        return None


RUST = _rust()
PYTHON = implementation.python()
needs_rust = pytest.mark.skipif(RUST is None, reason=NOT_BUILT)

# Both implementations as parameters: the Python twin always runs, Rust skips when not built.
BOTH = [pytest.param(PYTHON, id="python"), pytest.param(RUST, id="rust", marks=needs_rust)]
