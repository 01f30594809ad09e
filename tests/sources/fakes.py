"""Stand-ins for the outside world in source tests: DNS answers, TLS certificates, images."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import socket
import ssl
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

# Real signatures, so the base64 forms classify as images; the rest is arbitrary.
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(255, -1, -1)) * 4
PNG_B64 = base64.b64encode(PNG).decode()
JPEG_B64 = base64.b64encode(JPEG).decode()


@dataclass
class FakeResolver:
    """Answers from a table; each call takes the next answer listed for the host."""

    answers: dict[str, list[list[str]]]
    calls: list[tuple[str, int]] = field(default_factory=list)

    @classmethod
    def fixed(cls, **hosts: str) -> FakeResolver:
        """One address per host, the same on every call (dots in names written as `_`)."""
        return cls({name.replace("_", "."): [[address]] for name, address in hosts.items()})

    async def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        answers = self.answers.get(host)
        if not answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers.pop(0) if len(answers) > 1 else answers[0]


@dataclass(frozen=True)
class TlsPair:
    server: ssl.SSLContext
    client: ssl.SSLContext


def make_tls_pair(directory: Path, hostname: str) -> TlsPair:
    """A self-signed certificate for `hostname` and contexts that serve and trust it."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(hostname)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / f"{hostname}.crt", directory / f"{hostname}.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return TlsPair(server, client)


def ipv6_forms(v4: ipaddress.IPv4Address) -> dict[str, ipaddress.IPv6Address]:
    """Every IPv6 spelling that carries `v4`: mapped, translated (SIIT), NAT64, 6to4 and
    Teredo (as client)."""
    value = int(v4)
    teredo_server = int(ipaddress.IPv4Address("65.54.227.120"))  # a public Teredo server
    return {
        "mapped": ipaddress.IPv6Address((0xFFFF << 32) | value),
        "translated": ipaddress.IPv6Address((0xFFFF << 48) | value),
        "nat64": ipaddress.IPv6Address(int(ipaddress.IPv6Address("64:ff9b::")) | value),
        "6to4": ipaddress.IPv6Address((0x2002 << 112) | (value << 80)),
        "teredo": ipaddress.IPv6Address(
            (0x20010000 << 96) | (teredo_server << 64) | (~value & 0xFFFFFFFF)
        ),
    }
