"""Sources fetched for real: HTTP(S) URLs behind the egress guard, S3 (boto3 against a moto
server), and `python -m switchboard_indexer` as the Job runs it."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

from switchboard_api.egress import EgressPolicy
from switchboard_api.knowledgebase import KnowledgeSource
from switchboard_indexer.sources import SourceError, SourceReader
from tests.knowledge.corpus import documents
from tests.ports import free_port
from tests.unit.indexer.corpus import pdf_bytes

pytestmark = pytest.mark.storage

PAGES = {
    "/hours.html": ("text/html; charset=utf-8", documents()["prices.html"]),
    "/menu.pdf": ("application/pdf", pdf_bytes([["Lunch is served at noon."]])),
    "/logo.png": ("image/png", b"\x89PNG not a document"),
    "/big.txt": ("text/plain", b"x" * 5000),
}


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/moved":
            self.send_response(302)
            self.send_header("Location", "/hours.html")
            self.end_headers()
            return
        if self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        if self.path not in PAGES:
            self.send_response(404)
            self.end_headers()
            return
        kind, body = PAGES[self.path]
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("ETag", f'"{len(body)}"')
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def site() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://site.test:{server.server_address[1]}"
    finally:
        server.shutdown()


def reader(max_bytes: int = 1_000_000, allow: tuple[str, ...] = ("127.0.0.0/8",)) -> SourceReader:
    # site.test resolves to loopback: the guard sees a private address, as with a real DNS name.
    return SourceReader(
        max_bytes=max_bytes, egress=EgressPolicy(allow), resolve=lambda h, p: ["127.0.0.1"]
    )


def url_source(url: str) -> KnowledgeSource:
    return KnowledgeSource.model_validate({"name": "web", "url": {"url": url}})


def test_a_url_is_fetched_with_its_etag_and_redirects_are_followed(site: str) -> None:
    fetched, skipped = reader().read(url_source(f"{site}/moved"))
    assert skipped == []
    (page,) = fetched
    assert page.content_type == "text/html"
    assert page.etag == f'"{len(PAGES["/hours.html"][1])}"'
    assert b"95 dollars" in page.data


def test_the_egress_guard_refuses_private_addresses_and_redirects_to_metadata(site: str) -> None:
    with pytest.raises(SourceError, match="egress policy"):
        reader(allow=()).read(url_source(f"{site}/hours.html"))
    guarded = SourceReader(
        max_bytes=1_000_000,
        egress=EgressPolicy(["127.0.0.0/8"]),
        resolve=lambda host, port: (
            ["169.254.169.254"] if host.startswith("169.") else ["127.0.0.1"]
        ),
    )
    with pytest.raises(SourceError, match=r"169\.254\.169\.254"):
        guarded.read(url_source(f"{site}/to-metadata"))


def test_non_documents_and_oversized_bodies_are_skipped_with_reasons(site: str) -> None:
    assert (
        reader().read(url_source(f"{site}/logo.png"))[1][0].reason
        == "content type image/png is not a document"
    )
    _, skipped = reader(max_bytes=1024).read(url_source(f"{site}/big.txt"))
    assert "too large" in skipped[0].reason


def test_an_unreachable_url_is_a_source_error(site: str) -> None:
    with pytest.raises(SourceError, match="HTTP 404"):
        reader().read(url_source(f"{site}/missing"))


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def test_s3_objects_under_a_prefix_are_read_with_credentials_from_a_secret(
    s3_endpoint: str,
) -> None:
    import boto3

    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        region_name="us-east-1",
        aws_access_key_id="k",
        aws_secret_access_key="s",  # noqa: S106 (moto accepts any)
    )
    client.create_bucket(Bucket="handbooks")
    corpus = documents()
    for name in ("hours.md", "services.pdf", "faq.docx"):
        client.put_object(Bucket="handbooks", Key=f"clinic/{name}", Body=corpus[name])
    client.put_object(Bucket="handbooks", Key="clinic/huge.txt", Body=b"y" * 200_000)
    client.put_object(Bucket="handbooks", Key="other/secret.txt", Body=b"not under the prefix")
    source = KnowledgeSource.model_validate(
        {
            "name": "bucket",
            "s3": {
                "bucket": "handbooks",
                "prefix": "clinic/",
                "endpoint": s3_endpoint,
                "credentialsSecretRef": {"name": "s3", "key": "credentials"},
            },
        }
    )
    env = {
        "SWITCHBOARD_SECRET_S3_CREDENTIALS": json.dumps(
            {"accessKeyId": "k", "secretAccessKey": "s"}
        )
    }
    fetched, skipped = SourceReader(max_bytes=1_000_000, egress=EgressPolicy(), env=env).read(
        source
    )
    assert sorted(d.name for d in fetched) == [
        "s3://handbooks/clinic/faq.docx",
        "s3://handbooks/clinic/hours.md",
        "s3://handbooks/clinic/huge.txt",
        "s3://handbooks/clinic/services.pdf",
    ]
    assert all(d.etag for d in fetched)
    assert skipped == []
    _, skipped = SourceReader(max_bytes=100_000, egress=EgressPolicy(), env=env).read(source)
    assert [s.source for s in skipped] == ["s3://handbooks/clinic/huge.txt"]
    with pytest.raises(SourceError, match=r"\$SWITCHBOARD_SECRET_S3_CREDENTIALS is unset"):
        SourceReader(max_bytes=4000, egress=EgressPolicy(), env={}).read(source)


def _job(kb: dict[str, object], tmp_path: Path, store: str) -> subprocess.CompletedProcess[str]:
    manifest = tmp_path / "kb.yaml"
    manifest.write_text(yaml.safe_dump(kb))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "switchboard_indexer",
            "--knowledge-base",
            str(manifest),
            "--store",
            store,
            "--allow-cidr",
            "127.0.0.0/8",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env={"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1"},
    )


def test_the_job_entrypoint_reports_its_result_and_a_failed_run_keeps_the_version(
    tmp_path: Path,
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "hours.md").write_bytes(documents()["hours.md"])
    (docs / "bad.pdf").write_bytes(b"%PDF-1.4 broken")
    store = f"sqlite:///{tmp_path / 'index'}"
    kb: dict[str, object] = {
        "apiVersion": "switchboard.dev/v1alpha1",
        "kind": "KnowledgeBase",
        "metadata": {"name": "handbook", "namespace": "acme"},
        "spec": {"sources": [{"name": "docs", "files": {"path": "docs"}}]},
    }
    done = _job(kb, tmp_path, store)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert (result["documents"], result["embedded"], result["skippedTotal"]) == (
        1,
        result["chunks"],
        1,
    )
    assert result["skipped"][0]["name"] == "bad.pdf"
    assert "version " + result["indexVersion"] + " is live" in done.stderr
    kb["spec"] = {
        "sources": [
            {"name": "docs", "files": {"path": "docs"}},
            {"name": "web", "url": {"url": f"http://127.0.0.1:{free_port()}/gone.html"}},
        ]
    }
    failed = _job(kb, tmp_path, store)
    assert failed.returncode == 1
    assert "indexing failed: source web:" in failed.stderr.splitlines()[-1]
    from switchboard_knowledge.store import open_store

    live = open_store(store, "acme")
    try:
        version = live.live_version("handbook")
        assert version is not None
        assert version.name == result["indexVersion"]
    finally:
        live.close()
    assert _job({"kind": "nonsense"}, tmp_path, store).returncode == 2
