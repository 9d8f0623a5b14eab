"""Certificates and kubeconfigs for the single-node cluster: one CA, one identity per component."""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: Component identities: file stem → (common name, organisation or "").
CLIENTS = {
    "admin": ("switchboard-tests", "system:masters"),
    "kcm": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
    "proxy": ("system:kube-proxy", ""),
    "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", "system:masters"),
}


@dataclass(frozen=True)
class Pki:
    """Where the certificates and kubeconfigs are."""

    directory: Path

    def path(self, name: str) -> Path:
        """A file of the PKI directory (`ca.crt`, `admin.kubeconfig`, ...)."""
        return self.directory / name


def _name(common_name: str, organisation: str = "") -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    return x509.Name(attributes)


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _issue(
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    subject: x509.Name,
    sans: list[x509.GeneralName],
    directory: Path,
    stem: str,
) -> None:
    now = dt.datetime.now(dt.UTC)
    key = ec.generate_private_key(ec.SECP256R1())
    usages = [ExtendedKeyUsageOID.CLIENT_AUTH] + ([ExtendedKeyUsageOID.SERVER_AUTH] if sans else [])
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca[0].subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca[1], hashes.SHA256())
    (directory / f"{stem}.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(directory / f"{stem}.key", key)


def _kubeconfig(pki: Pki, stem: str, server: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "node",
                "cluster": {"server": server, "certificate-authority": str(pki.path("ca.crt"))},
            }
        ],
        "users": [
            {
                "name": stem,
                "user": {
                    "client-certificate": str(pki.path(f"{stem}.crt")),
                    "client-key": str(pki.path(f"{stem}.key")),
                },
            }
        ],
        "contexts": [{"name": "node", "context": {"cluster": "node", "user": stem}}],
        "current-context": "node",
    }
    path = pki.path(f"{stem}.kubeconfig")
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)


def make_pki(directory: Path, node_name: str, node_ip: str, service_ip: str, server: str) -> Pki:
    """A fresh CA and every certificate the control plane, the node and the tests need."""
    directory.mkdir(parents=True, exist_ok=True)
    pki = Pki(directory)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("switchboard-node-ca")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    pki.path("ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    _write_key(pki.path("ca.key"), ca_key)
    ca = (ca_cert, ca_key)
    ips = [ipaddress.ip_address(a) for a in ("127.0.0.1", node_ip, service_ip)]
    names = ["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"]
    names.append("kubernetes.default.svc.cluster.local")
    _issue(
        ca,
        _name("kube-apiserver"),
        [*(x509.DNSName(n) for n in names), *(x509.IPAddress(ip) for ip in ips)],
        directory,
        "apiserver",
    )
    _issue(
        ca,
        _name(f"system:node:{node_name}", "system:nodes"),
        [x509.DNSName(node_name), x509.IPAddress(ipaddress.ip_address(node_ip))],
        directory,
        "kubelet",
    )
    for stem, (common_name, organisation) in CLIENTS.items():
        _issue(ca, _name(common_name, organisation), [], directory, stem)
    # kube-controller-manager signs ServiceAccount tokens with RSA or EC; RSA is what most
    # clients (and KubeRay's token review) expect.
    sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    _write_key(pki.path("sa.key"), sa_key)
    pki.path("sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    for stem in ("admin", "kcm", "scheduler", "proxy", "kubelet"):
        _kubeconfig(pki, stem, server)
    return pki
