"""A real etcd + kube-apiserver on loopback for the `cluster` test tier ("envtest" in Python).

No kubelet, scheduler or controller-manager runs: tests see exactly what the API server itself
does (validation, defaulting, CEL, subresources, server-side apply), and simulate controllers by
writing status themselves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import secrets
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.ports import free_port
from tests.tools import cache_dir

REPO_ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_ROOT / "tests" / "cluster" / "build_binaries.sh"
STARTUP_TIMEOUT_S = 90.0


class ApiServerUnavailableError(RuntimeError):
    """The binaries are missing or the server did not become ready; the message says why."""


def binary_dir() -> Path:
    """Where build_binaries.sh caches etcd and kube-apiserver."""
    override = os.environ.get("SWITCHBOARD_KUBE_BIN_DIR")
    if override:
        return Path(override)
    return cache_dir() / "bin"


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write_certificates(directory: Path) -> None:
    """A CA, a serving certificate for 127.0.0.1/localhost, and a service-account key pair."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "switchboard-test-ca")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-apiserver")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.DNSName("localhost"),
                    x509.DNSName("kubernetes.default.svc"),
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                ]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    sa_key = ec.generate_private_key(ec.SECP256R1())
    (directory / "ca.crt").write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.crt").write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    (directory / "server.key").write_bytes(_pem_key(server_key))
    (directory / "sa.key").write_bytes(_pem_key(sa_key))
    (directory / "sa.pub").write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


@dataclass
class ApiServer:
    """A running etcd + kube-apiserver pair and how to reach it."""

    url: str
    token: str
    kubeconfig: Path
    ca_file: Path
    workdir: Path
    #: A kubeconfig whose user is the operator's ServiceAccount (the chart's RBAC applies to it).
    operator_kubeconfig: Path
    #: JSON lines, one per request (Metadata level): who did what to which resource.
    audit_log: Path

    def ssl_context(self) -> ssl.SSLContext:
        """A TLS context that trusts the test CA."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def get(
        self, path: str, headers: dict[str, str] | None = None, timeout: float = 5.0
    ) -> tuple[int, bytes]:
        """A raw authenticated GET (health endpoints, server-side tables)."""
        request = urllib.request.Request(  # noqa: S310 - https to our own loopback server
            self.url + path, headers={"Authorization": f"Bearer {self.token}", **(headers or {})}
        )
        try:
            with urllib.request.urlopen(  # noqa: S310
                request, timeout=timeout, context=self.ssl_context()
            ) as response:
                return int(response.status), bytes(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read()


def _wait_until(check: object, what: str, timeout: float, logs: list[Path]) -> None:
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        try:
            if check():  # type: ignore[operator]
                return
        except (OSError, ssl.SSLError) as error:
            last_error = str(error)
        time.sleep(0.25)
    tails = "\n".join(f"--- {p.name} ---\n{p.read_text()[-3000:]}" for p in logs if p.exists())
    raise ApiServerUnavailableError(
        f"{what} not ready after {timeout:.0f} s ({last_error})\n{tails}"
    )


#: The identity the chart's ClusterRoleBinding grants to (namespace `switchboard-system`).
OPERATOR_USER = "system:serviceaccount:switchboard-system:switchboard-operator"
_OPERATOR_GROUPS = "system:serviceaccounts,system:serviceaccounts:switchboard-system"

_AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata", "users": [OPERATOR_USER]}, {"level": "None"}],
}


def _write_kubeconfig(path: Path, url: str, ca_file: Path, token: str) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "test", "cluster": {"server": url, "certificate-authority": str(ca_file)}}
        ],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "test", "context": {"cluster": "test", "user": "admin"}}],
        "current-context": "test",
    }
    path.write_text(yaml.safe_dump(config))


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextlib.contextmanager
def running_apiserver(workdir: Path) -> Iterator[ApiServer]:
    """Start etcd and kube-apiserver under `workdir`; stop both (and remove etcd data) on exit."""
    bins = binary_dir()
    etcd_bin, apiserver_bin = bins / "etcd", bins / "kube-apiserver"
    for binary in (etcd_bin, apiserver_bin):
        if not binary.exists():
            raise ApiServerUnavailableError(f"{binary} is missing: run {BUILD_SCRIPT} first")
    workdir.mkdir(parents=True, exist_ok=True)
    _write_certificates(workdir)
    token = secrets.token_urlsafe(24)
    operator_token = secrets.token_urlsafe(24)
    # A static token may carry a ServiceAccount's user name: RBAC matches subjects by name, so
    # the operator authenticates here exactly as its pod would in a cluster.
    (workdir / "tokens.csv").write_text(
        f'{token},admin,admin-uid,"system:masters"\n'
        f'{operator_token},{OPERATOR_USER},operator-uid,"{_OPERATOR_GROUPS}"\n'
    )
    (workdir / "audit-policy.yaml").write_text(yaml.safe_dump(_AUDIT_POLICY))
    audit_log = workdir / "audit.log"
    etcd_port, peer_port, api_port = free_port(), free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{etcd_port}"
    etcd_log, api_log = workdir / "etcd.log", workdir / "kube-apiserver.log"
    processes: list[subprocess.Popen[bytes]] = []
    try:
        with etcd_log.open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        str(etcd_bin),
                        "--name=test",
                        f"--data-dir={workdir / 'etcd-data'}",
                        f"--listen-client-urls={etcd_url}",
                        f"--advertise-client-urls={etcd_url}",
                        f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                        f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                        f"--initial-cluster=test=http://127.0.0.1:{peer_port}",
                        "--unsafe-no-fsync",
                        "--log-level=warn",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

        def etcd_healthy() -> bool:
            with urllib.request.urlopen(f"{etcd_url}/health", timeout=2) as response:  # noqa: S310
                return b'"health":"true"' in response.read()

        _wait_until(etcd_healthy, "etcd", 30, [etcd_log])
        url = f"https://127.0.0.1:{api_port}"
        with api_log.open("wb") as log:
            processes.append(
                subprocess.Popen(
                    [
                        str(apiserver_bin),
                        f"--etcd-servers={etcd_url}",
                        "--bind-address=127.0.0.1",
                        "--advertise-address=127.0.0.1",
                        f"--secure-port={api_port}",
                        f"--cert-dir={workdir}",
                        f"--tls-cert-file={workdir / 'server.crt'}",
                        f"--tls-private-key-file={workdir / 'server.key'}",
                        f"--client-ca-file={workdir / 'ca.crt'}",
                        f"--token-auth-file={workdir / 'tokens.csv'}",
                        "--authorization-mode=RBAC",
                        f"--audit-policy-file={workdir / 'audit-policy.yaml'}",
                        f"--audit-log-path={audit_log}",
                        "--audit-log-format=json",
                        "--audit-log-mode=blocking",
                        f"--service-account-key-file={workdir / 'sa.pub'}",
                        f"--service-account-signing-key-file={workdir / 'sa.key'}",
                        "--service-account-issuer=https://kubernetes.default.svc",
                        "--service-cluster-ip-range=10.96.0.0/16",
                        # No controller-manager runs, so nothing would create SA tokens for pods.
                        "--disable-admission-plugins=ServiceAccount",
                        "--enable-priority-and-fairness=false",
                        "--v=1",
                    ],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        ca_file = workdir / "ca.crt"
        kubeconfig = workdir / "kubeconfig"
        _write_kubeconfig(kubeconfig, url, ca_file, token)
        operator_kubeconfig = workdir / "operator-kubeconfig"
        _write_kubeconfig(operator_kubeconfig, url, ca_file, operator_token)
        server = ApiServer(
            url=url,
            token=token,
            kubeconfig=kubeconfig,
            ca_file=ca_file,
            workdir=workdir,
            operator_kubeconfig=operator_kubeconfig,
            audit_log=audit_log,
        )

        def apiserver_ready() -> bool:
            for name, process in zip(("etcd", "kube-apiserver"), processes, strict=True):
                if process.poll() is not None:
                    raise ApiServerUnavailableError(f"{name} exited with {process.returncode}")
            status, _ = server.get("/readyz", timeout=2)
            return status == 200

        _wait_until(apiserver_ready, "kube-apiserver", STARTUP_TIMEOUT_S, [api_log, etcd_log])
        yield server
    finally:
        for process in reversed(processes):
            _stop(process)
        shutil.rmtree(workdir / "etcd-data", ignore_errors=True)
