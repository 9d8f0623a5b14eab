"""Fetching a knowledge base's sources into raw documents (bytes, content type, ETag).

Inline text, ConfigMap keys (through the Kubernetes API, in a cluster), local files (for
`switchboard up`), HTTP(S) URLs and S3-compatible buckets. Every network wait has a timeout and
every download a size limit; a document over the limit is reported, not read. URLs go through
the tenant's egress policy (a malformed URL is a `SourceError` with the reason): the host is
resolved once, every address checked, and the request sent to the checked address (Host header
and TLS SNI keep the name), so DNS rebinding gains nothing. Redirects
are followed by hand, each hop checked the same way.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from switchboard_api.common import SecretKeyRef, secret_env_name
from switchboard_api.egress import (
    Address,
    EgressPolicy,
    EgressRefusedError,
    Target,
    destination,
    parse_address,
    unmapped,
)
from switchboard_api.knowledgebase import (
    ConfigMapSource,
    FilesSource,
    KnowledgeSource,
    S3Source,
    UrlSource,
    outside_directory,
)
from switchboard_indexer.documents import Skipped

FETCH_TIMEOUT_S = 30.0
MAX_REDIRECTS = 5
#: Content types a URL may answer with (anything else is skipped before the body is read).
ACCEPTED_TYPES = (
    "text/",
    "application/pdf",
    "application/xhtml+xml",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/octet-stream",
)
_INLINE_SUFFIX = {"text": ".txt", "markdown": ".md", "html": ".html"}

Resolver = Callable[[str, int], list[str]]
ConfigMapReader = Callable[[str], Mapping[str, bytes]]


class S3Paginator(Protocol):
    """The part of a boto3 paginator the reader uses."""

    def paginate(self, **kwargs: str) -> Iterable[dict[str, Any]]:
        """Pages of a listing."""
        ...


class S3Api(Protocol):
    """The part of a boto3 S3 client the reader uses."""

    def get_paginator(self, operation: str) -> S3Paginator:
        """A paginator for `operation`."""
        ...

    def get_object(self, **kwargs: str) -> dict[str, Any]:
        """One object: `Body`, `ETag`, `ContentType`."""
        ...


class SourceError(RuntimeError):
    """A whole source could not be read (its `failurePolicy` decides what happens next)."""


@dataclass(frozen=True)
class RawDocument:
    """One document as fetched, before parsing."""

    #: Unique within the knowledge base: it names the document in reports and citations.
    name: str
    data: bytes
    content_type: str | None = None
    #: The server's ETag when there is one (URLs, S3), for change detection.
    etag: str | None = None
    title: str | None = None


def _system_resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _secret(ref: SecretKeyRef, env: Mapping[str, str]) -> str:
    name = secret_env_name(ref)
    value = env.get(name)
    if value is None:
        raise SourceError(f"Secret {ref.name} key {ref.key} is not available (${name} is unset)")
    return value


@dataclass
class SourceReader:
    """Reads sources with the limits and credentials of one indexing run."""

    max_bytes: int
    egress: EgressPolicy
    base_dir: Path | None = None
    config_maps: ConfigMapReader | None = None
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    resolve: Resolver = _system_resolve
    timeout_s: float = FETCH_TIMEOUT_S
    s3_client_factory: Callable[[S3Source, Mapping[str, str]], S3Api] | None = None

    def read(self, source: KnowledgeSource) -> tuple[list[RawDocument], list[Skipped]]:
        """The source's documents, and the ones skipped before parsing (with reasons)."""
        if source.inline is not None:
            inline = source.inline
            name = f"{source.name}{_INLINE_SUFFIX[inline.format]}"
            return [RawDocument(name, inline.text.encode(), title=inline.title)], []
        if source.config_map_ref is not None:
            return self._config_map(source.config_map_ref), []
        if source.files is not None:
            return self._files(source.files)
        if source.url is not None:
            return self._url(source.url)
        if source.s3 is not None:
            return self._s3(source.s3)
        raise SourceError(f"source {source.name} names no kind")

    def _config_map(self, ref: ConfigMapSource) -> list[RawDocument]:
        if self.config_maps is None:
            raise SourceError("ConfigMap sources need the Kubernetes API (a cluster)")
        data = self.config_maps(ref.name)
        keys = [ref.key] if ref.key else sorted(data)
        missing = [k for k in keys if k not in data]
        if missing:
            raise SourceError(f"ConfigMap {ref.name} has no key {missing[0]!r}")
        return [RawDocument(f"configmap/{ref.name}/{key}", data[key]) for key in keys]

    def _files(self, spec: FilesSource) -> tuple[list[RawDocument], list[Skipped]]:
        """Read a `files:` source, refused if it leaves `base_dir` (the manifest's directory).

        Every file read must lie inside `base_dir` once symlinks are followed.
        """
        path = Path(spec.path)
        if not path.is_absolute():
            path = (self.base_dir or Path.cwd()) / path
        if not path.exists():
            raise SourceError(f"{path}: no such file or directory")
        self._confined(spec, path)
        files = [path] if path.is_file() else sorted(p for p in path.glob(spec.pattern))
        documents, skipped = [], []
        for file in files:
            if not file.is_file() or any(part.startswith(".") for part in file.parts[-1:]):
                continue
            self._confined(spec, file)
            name = file.name if file == path else file.relative_to(path).as_posix()
            size = file.stat().st_size
            if size > self.max_bytes:
                skipped.append(_too_large(name, size, self.max_bytes))
                continue
            documents.append(RawDocument(name, file.read_bytes()))
        return documents, skipped

    def _confined(self, spec: FilesSource, file: Path) -> None:
        if self.base_dir is not None and outside_directory(file, self.base_dir):
            raise SourceError(
                f"files.path {spec.path!r}: {file} resolves to {file.resolve()}, outside the "
                f"manifest's directory {self.base_dir.resolve()}"
            )

    def check(self, url: str) -> tuple[Target, Address]:
        """Where a request for `url` may go; `SourceError` for a malformed URL or a refused address.

        IP literals are checked as written, names resolved once and every address checked.
        """
        try:
            target = destination(url)
            if target.address is not None:
                addresses = [str(target.address)]
            else:
                addresses = self.resolve(target.host, target.port)
            refused = self.egress.refused(addresses)
        except EgressRefusedError as error:
            raise SourceError(f"{url}: refused: {error}") from None
        except OSError as error:
            raise SourceError(f"{url}: cannot resolve {target.host}: {error}") from None
        if not addresses:
            raise SourceError(f"{url}: {target.host} resolves to no address")
        if refused:
            raise SourceError(
                f"{url}: {target.host} resolves to {refused[0]}, which the tenant's egress "
                "policy refuses (add it to Tenant spec.egress.allowCIDRs to allow it)"
            )
        return target, unmapped(parse_address(addresses[0]))

    def _checked_request(
        self, client: httpx.Client, url: str, headers: dict[str, str]
    ) -> httpx.Response:
        target, address = self.check(url)
        parts = urlsplit(url)
        host = f"[{address}]" if address.version == 6 else str(address)
        pinned = urlunsplit(
            (target.scheme, f"{host}:{target.port}", parts.path or "/", parts.query, "")
        )
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        request = client.build_request(
            "GET", pinned, headers={**headers, "Host": parts.netloc}, extensions=extensions
        )
        return client.send(request, stream=True)

    def _url(self, source: UrlSource) -> tuple[list[RawDocument], list[Skipped]]:
        headers = {"Accept": "text/html, text/markdown, text/plain, application/pdf, */*;q=0.5"}
        if source.headers_secret_ref is not None:
            headers |= _header_lines(_secret(source.headers_secret_ref, self.env))
        url = source.url
        with httpx.Client(timeout=self.timeout_s, follow_redirects=False) as client:
            for _ in range(MAX_REDIRECTS + 1):
                try:
                    response = self._checked_request(client, url, headers)
                except httpx.HTTPError as error:
                    raise SourceError(f"{source.url}: {type(error).__name__}: {error}") from None
                try:
                    if response.is_redirect and "location" in response.headers:
                        url = urljoin(url, response.headers["location"])
                        continue
                    return self._download(source.url, response)
                finally:
                    response.close()
        raise SourceError(f"{source.url}: more than {MAX_REDIRECTS} redirects")

    def _download(
        self, name: str, response: httpx.Response
    ) -> tuple[list[RawDocument], list[Skipped]]:
        if response.status_code != 200:
            raise SourceError(f"{name}: HTTP {response.status_code}")
        content_type = response.headers.get("content-type", "")
        base = content_type.split(";", 1)[0].strip().lower()
        if base and not base.startswith(ACCEPTED_TYPES):
            return [], [Skipped(name, f"content type {base} is not a document")]
        declared = int(response.headers.get("content-length") or 0)
        if declared > self.max_bytes:
            return [], [_too_large(name, declared, self.max_bytes)]
        body = bytearray()
        try:
            for piece in response.iter_bytes():
                body.extend(piece)
                if len(body) > self.max_bytes:
                    return [], [_too_large(name, len(body), self.max_bytes, at_least=True)]
        except httpx.HTTPError as error:
            raise SourceError(f"{name}: {type(error).__name__}: {error}") from None
        etag = response.headers.get("etag")
        return [RawDocument(name, bytes(body), base or None, etag)], []

    def _s3(self, spec: S3Source) -> tuple[list[RawDocument], list[Skipped]]:
        factory = self.s3_client_factory or s3_client
        client = factory(spec, self.env)
        documents, skipped = [], []
        try:
            for item in _s3_objects(client, spec):
                key, size = item["Key"], int(item.get("Size", 0))
                name = f"s3://{spec.bucket}/{key}"
                if size > self.max_bytes:
                    skipped.append(_too_large(name, size, self.max_bytes))
                    continue
                answer = client.get_object(Bucket=spec.bucket, Key=key)
                data = answer["Body"].read(self.max_bytes + 1)
                if len(data) > self.max_bytes:
                    skipped.append(_too_large(name, len(data), self.max_bytes, at_least=True))
                    continue
                etag = str(answer.get("ETag") or item.get("ETag") or "") or None
                documents.append(RawDocument(name, data, answer.get("ContentType"), etag))
        except Exception as error:  # botocore's errors share no useful base with the network's
            if isinstance(error, SourceError):
                raise
            raise SourceError(
                f"s3://{spec.bucket}/{spec.prefix}: {type(error).__name__}: {error}"
            ) from None
        return documents, skipped


def _s3_objects(client: S3Api, spec: S3Source) -> Iterator[dict[str, Any]]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=spec.bucket, Prefix=spec.prefix)
    for page in pages:
        for item in page.get("Contents", []):
            if not str(item["Key"]).endswith("/") and PurePosixPath(item["Key"]).name:
                yield item


def s3_client(spec: S3Source, env: Mapping[str, str]) -> S3Api:
    """A boto3 S3 client for `spec` (timeouts and retries bounded)."""
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {
        "endpoint_url": spec.endpoint,
        "region_name": spec.region or "us-east-1",
        "config": Config(
            connect_timeout=10, read_timeout=FETCH_TIMEOUT_S, retries={"max_attempts": 3}
        ),
    }
    if spec.credentials_secret_ref is not None:
        raw = _secret(spec.credentials_secret_ref, env)
        try:
            credentials = json.loads(raw)
            options["aws_access_key_id"] = credentials["accessKeyId"]
            options["aws_secret_access_key"] = credentials["secretAccessKey"]
            options["aws_session_token"] = credentials.get("sessionToken")
        except (ValueError, KeyError, TypeError):
            raise SourceError(
                f"Secret {spec.credentials_secret_ref.name} key {spec.credentials_secret_ref.key} "
                "must hold JSON with accessKeyId and secretAccessKey"
            ) from None
    client: S3Api = boto3.client("s3", **options)
    return client


def _header_lines(text: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in text.splitlines():
        if line.strip():
            name, separator, value = line.partition(":")
            if not separator or not name.strip():
                raise SourceError("the headers Secret must hold `Name: value` lines")
            headers[name.strip()] = value.strip()
    return headers


def _too_large(name: str, size: int, limit: int, *, at_least: bool = False) -> Skipped:
    more = "over " if at_least else ""
    return Skipped(name, f"too large ({more}{size} bytes, limit {limit})")
