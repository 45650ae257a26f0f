"""What a service loads only when it is used, not at start (issue 16: idle memory): each module
here costs every process that imports it some MiB, and an idle mesh needs none of them."""

from __future__ import annotations

import subprocess
import sys

import pytest

# service -> modules its start (its __main__ and its app, which the __main__ may import late)
# must not import: each loads where it is first needed.
# cryptography: at the first secret sealed or opened (forge.core.sealing); the edge's bearer
# tokens (joserfc) need it at start.
LAZY = {
    "edge": ("httpx2", "authlib.integrations"),  # SSO's client: at the first sign-in
    "registry": ("cryptography", "httpx2"),  # httpx2: at the first agent card fetched
    "upstream_proxy": ("cryptography",),
    "a2a_bridge": ("cryptography",),
}


@pytest.mark.parametrize("service", sorted(LAZY))
def test_a_service_imports_no_module_it_needs_only_when_used(service: str) -> None:
    probe = (
        f"import sys, forge.{service}.__main__, forge.{service}.app\n"
        f"print(' '.join(m for m in {LAZY[service]!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.split() == []
