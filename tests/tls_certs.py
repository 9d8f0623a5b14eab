"""Throwaway certificate authorities and server certificates for TLS tests (never reused)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class Issued:
    """A certificate (PEM, leaf then CA) and its key (PEM)."""

    cert: bytes
    key: bytes

    def write(self, cert_file: Path, key_file: Path) -> None:
        """Replace both files by rename, as the kubelet swaps a Secret's files."""
        for path, data in ((cert_file, self.cert), (key_file, self.key)):
            staged = path.with_name(f".{path.name}.new")
            staged.write_bytes(data)
            os.replace(staged, path)


class TestCa:
    """A CA that signs server certificates for the names given."""

    __test__ = False  # not a pytest class

    def __init__(self, name: str = "switchboard-test-ca") -> None:
        """A fresh key and self-signed certificate."""
        self._key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(self._key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        """The CA certificate, for clients to trust."""
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def write(self, path: Path) -> Path:
        """The CA certificate in `path`; returns `path`."""
        path.write_bytes(self.pem)
        return path

    def issue(self, *names: str) -> Issued:
        """A server certificate for DNS names and IP addresses `names` (first: the CN)."""
        key = ec.generate_private_key(ec.SECP256R1())
        sans: list[x509.GeneralName] = []
        for name in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(name)))
            except ValueError:
                sans.append(x509.DNSName(name))
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self._key, hashes.SHA256())
        )
        chain = cert.public_bytes(serialization.Encoding.PEM) + self.pem
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return Issued(chain, key_pem)


def leaf_der(issued: Issued) -> bytes:
    """The leaf certificate of `issued` in DER (what `getpeercert(True)` returns)."""
    return x509.load_pem_x509_certificate(issued.cert).public_bytes(serialization.Encoding.DER)
