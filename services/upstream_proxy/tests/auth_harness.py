"""Helpers for upstream credential tests: sealed gateways, the authprobe, certificates."""

from __future__ import annotations

import datetime
import ipaddress
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from proxy_harness import call, text_of, tool_call

from forge.core.bus import Bus
from forge.core.sealing import Keyring, new_key_spec
from forge.proto.catalog import Gateway, UpstreamAuth
from forge.proto.envelope import Envelope, Principal

# The keyring the test proxies open credentials with (FORGE_SECRET_KEYS).
SECRET_KEYS = new_key_spec("test")
KEYRING = Keyring.parse(SECRET_KEYS)


def sealed_gateway(url: str, auth: UpstreamAuth, transport: str = "streamablehttp") -> Gateway:
    """A gateway whose credentials are sealed as the registry seals them (context: its id)."""
    gateway_id = uuid.uuid4().hex[:12]
    sealed = KEYRING.seal(msgspec.json.encode(auth), gateway_id.encode())
    name = f"probe-{gateway_id[:4]}"
    return Gateway(
        id=gateway_id,
        name=name,
        slug=name,
        url=url,
        transport=transport,
        auth_type=auth.type,
        auth=sealed,
    )


def as_user(
    envelope: Envelope, subject: str, *, token: str | None = None, token_id: str | None = None
) -> Envelope:
    principal = Principal(
        subject=subject, token_id=token_id, subject_token=token, auth_method="jwt"
    )
    return msgspec.structs.replace(envelope, principal=principal)


def call_as(
    subject: str, tool: str = "whoami", *, token: str | None = None, token_id: str | None = None
) -> Envelope:
    return as_user(tool_call(tool), subject, token=token, token_id=token_id)


async def whoami(bus: Bus, gw: Gateway, envelope: Envelope | None = None) -> dict[str, Any]:
    """What the authprobe saw on the request that carried the call."""
    result = await call(bus, gw, envelope or tool_call("whoami"))
    seen: dict[str, Any] = msgspec.json.decode(text_of(result))
    return seen


async def seen(bus: Bus, gw: Gateway, envelope: Envelope | None = None) -> list[dict[str, Any]]:
    """Every request the authprobe has received so far."""
    env = envelope or tool_call("seen")
    records: list[dict[str, Any]] = msgspec.json.decode(text_of(await call(bus, gw, env)))
    return records


@dataclass
class Pki:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, as PEM text."""

    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str

    def write_server(self, folder: Path) -> tuple[str, str, str]:
        """(cert, key, client CA) files for the authprobe's --tls-* options."""
        paths = []
        for name, text in (("server.pem", self.server_cert), ("server.key", self.server_key)):
            path = folder / name
            path.write_text(text)
            paths.append(str(path))
        ca = folder / "ca.pem"
        ca.write_text(self.ca)
        return paths[0], paths[1], str(ca)


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Name | None,
    signer: ec.EllipticCurvePrivateKey,
    *,
    ca: bool = False,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        usage = x509.KeyUsage(False, False, False, False, False, True, True, False, False)
        builder = builder.add_extension(usage, critical=True)
    if server:
        san = x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(signer, hashes.SHA256())


def make_pki() -> Pki:
    ca_key, server_key, client_key = _key(), _key(), _key()
    ca = _certificate("forge-test-ca", ca_key, None, ca_key, ca=True)
    server = _certificate("127.0.0.1", server_key, ca.subject, ca_key, server=True)
    client = _certificate("forge-client", client_key, ca.subject, ca_key)

    def pem(cert: x509.Certificate) -> str:
        return cert.public_bytes(serialization.Encoding.PEM).decode()

    return Pki(pem(ca), pem(server), _pem_key(server_key), pem(client), _pem_key(client_key))
