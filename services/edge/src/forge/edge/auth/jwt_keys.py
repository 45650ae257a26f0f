"""The keys JWTs are verified with: the HS256 secret, and RS256/ES256 public keys from files."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any, cast

from joserfc.errors import JoseError
from joserfc.jwk import ECKey, Key, KeySet, KeySetSerialization, OctKey, RSAKey

from forge.core.config import ConfigError

# The algorithms Forge knows, and the key type each one needs. `none` is never among them.
KEY_TYPES = {"HS256": "oct", "RS256": "RSA", "ES256": "EC"}
_ES256_CURVE = "P-256"


def parse_algorithms(spec: str) -> frozenset[str]:
    """FORGE_EDGE_JWT_ALGORITHMS as a set; an unknown name (or `none`) fails at start."""
    names = {name.strip().upper() for name in spec.split(",") if name.strip()}
    unknown = sorted(names - KEY_TYPES.keys())
    if unknown:
        raise ConfigError(
            f"FORGE_EDGE_JWT_ALGORITHMS: unsupported algorithm(s) {', '.join(unknown)}"
            f" (choose among {', '.join(KEY_TYPES)})"
        )
    if not names:
        raise ConfigError("FORGE_EDGE_JWT_ALGORITHMS must name at least one algorithm")
    return frozenset(names)


def _import_file(path: Path) -> list[Key]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"FORGE_EDGE_JWT_PUBLIC_KEYS: cannot read {path}: {exc}") from exc
    try:
        if data.lstrip().startswith(b"{"):
            document = json.loads(data)
            if not (isinstance(document, dict) and "keys" in document):
                document = {"keys": [document]}  # one JWK
            return list(KeySet.import_key_set(cast(KeySetSerialization, document)).keys)
        for kind in (RSAKey, ECKey):
            try:
                return [kind.import_key(data)]
            except (JoseError, ValueError, TypeError):
                continue
    except (JoseError, ValueError, TypeError) as exc:
        raise ConfigError(f"FORGE_EDGE_JWT_PUBLIC_KEYS: {path} holds no usable key") from exc
    raise ConfigError(f"FORGE_EDGE_JWT_PUBLIC_KEYS: {path} is neither an RSA nor an EC PEM key")


def _fits(key: Key, alg: str) -> bool:
    """Whether `key` may verify `alg`: its type (and curve), and what a JWK says of itself."""
    if key.key_type != KEY_TYPES[alg] or key.get("use") == "enc":
        return False
    if key.alg is not None and key.alg != alg:
        return False
    return alg != "ES256" or (isinstance(key, ECKey) and key.curve_name == _ES256_CURVE)


class VerifyKeys:
    """Which key may verify a token signed with `alg` (and naming `kid`)."""

    def __init__(self, secret: str, public_keys: str, algorithms: frozenset[str]) -> None:
        self.algorithms = algorithms
        self.secret = OctKey.import_key(secret)
        found: list[Key] = []
        for name in (p.strip() for p in public_keys.split(",")):
            if name:
                found.extend(_import_file(Path(name)))
        self._by_alg: dict[str, list[Key]] = {
            alg: [key for key in found if _fits(key, alg)] for alg in algorithms if alg != "HS256"
        }
        if "HS256" in algorithms:
            self._by_alg["HS256"] = [self.secret]

    def candidates(self, alg: str, kid: str | None) -> list[Key]:
        """The keys to try: the one named by `kid` if any key carries that id, else all of the
        algorithm's type (PEM keys carry no id). Empty for an algorithm that is not accepted."""
        keys = self._by_alg.get(alg, [])
        if kid is not None:
            named = [key for key in keys if key.kid == kid]
            if named:
                return named
        return keys


def header_of(token: str) -> dict[str, Any] | None:
    """The JOSE header of a compact JWT, or None if it is not one."""
    head, dot, _ = token.partition(".")
    if not dot or not head:
        return None
    try:
        decoded = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (binascii.Error, ValueError):
        return None
    return decoded if isinstance(decoded, dict) else None
