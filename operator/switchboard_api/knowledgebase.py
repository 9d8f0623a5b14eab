"""The `KnowledgeBase` resource: sources indexed by a Job into a versioned hybrid index."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from switchboard_api._base import (
    MAX_TEXT,
    ApiModel,
    ObjectName,
    ShortName,
    cel,
    check,
    list_map,
    validations,
)
from switchboard_api.common import ResourceStatus, SecretKeyRef
from switchboard_api.pipeline import ModelName

PACKAGED_EMBEDDING_MODEL = "all-MiniLM-L6-v2"


class InlineSource(ApiModel):
    """Text kept in the manifest itself (small documents, FAQs)."""

    text: Annotated[str, Field(min_length=1, max_length=65_536)]
    title: Annotated[str, Field(max_length=256)] | None = None
    format: Literal["text", "markdown", "html"] = "text"


class ConfigMapSource(ApiModel):
    """Documents in a ConfigMap of the same namespace: one key, or every key when unset."""

    name: ObjectName
    key: Annotated[str, Field(max_length=253)] | None = None


class UrlSource(ApiModel):
    """A document fetched over HTTP(S)."""

    url: Annotated[str, Field(max_length=2048, pattern=r"^https?://[^\s]+$")]
    headers_secret_ref: SecretKeyRef | None = None


#: `..` as a path component, or a home-directory (`~`) start: either may leave the manifest's
#: directory whatever the files there are. Symlinks are caught where the files are read.
_ESCAPING_PATH = "(^~|(^|/)[.][.](/|$))"  # [.]: CEL strings have no backslash-dot escape
_PATH_STAYS = cel(
    f"!self.path.matches('{_ESCAPING_PATH}')",
    message="files.path may not contain '..' components or start with '~'",
    field_path=".path",
    reason="FieldValueForbidden",
)
_PATTERN_STAYS = cel(
    f"!self.pattern.startsWith('/') && !self.pattern.matches('{_ESCAPING_PATH}')",
    message="files.pattern must be relative, without '..' components",
    field_path=".pattern",
    reason="FieldValueForbidden",
)


class FilesSource(ApiModel, json_schema_extra=validations(_PATH_STAYS, _PATTERN_STAYS)):
    """Local files for `switchboard up`: a file, or a directory read recursively.

    A relative path is resolved against the manifest's directory, and every file read must lie
    inside that directory after symlinks are followed (see `outside_directory`). Clusters have
    no such files: the operator stalls a KnowledgeBase that uses this source.
    """

    path: Annotated[str, Field(min_length=1, max_length=4096)]
    #: Which files of a directory to read (a `Path.glob` pattern).
    pattern: Annotated[str, Field(min_length=1, max_length=256)] = "**/*"

    @model_validator(mode="after")
    def _rules(self) -> FilesSource:
        check(_PATH_STAYS, not re.search(_ESCAPING_PATH, self.path))
        check(
            _PATTERN_STAYS,
            not self.pattern.startswith("/") and not re.search(_ESCAPING_PATH, self.pattern),
        )
        return self

    def resolved(self, base_dir: Path) -> Path:
        """The path, relative ones against `base_dir`, with symlinks and `..` resolved."""
        path = Path(self.path)
        return (path if path.is_absolute() else base_dir / path).resolve()


def outside_directory(path: Path, base_dir: Path) -> bool:
    """Whether `path`, after symlinks, lies outside `base_dir` (after symlinks too)."""
    return not path.resolve().is_relative_to(base_dir.resolve())


class S3Source(ApiModel):
    """Objects in S3-compatible storage under a prefix.

    The credentials Secret key holds JSON: `{"accessKeyId": …, "secretAccessKey": …}` (and an
    optional `sessionToken`); without it the default AWS credential chain applies.
    """

    bucket: Annotated[str, Field(min_length=3, max_length=63)]
    prefix: Annotated[str, Field(max_length=1024)] = ""
    endpoint: Annotated[str, Field(max_length=2048, pattern=r"^https?://[^\s]+$")] | None = None
    region: Annotated[str, Field(max_length=64)] | None = None
    credentials_secret_ref: SecretKeyRef | None = None


_ONE_SOURCE_KIND = cel(
    "[has(self.inline), has(self.configMapRef), has(self.url), has(self.s3), has(self.files)]"
    ".filter(x, x).size() == 1",
    message="set exactly one of inline, configMapRef, url, s3 or files",
)


class KnowledgeSource(ApiModel, json_schema_extra=validations(_ONE_SOURCE_KIND)):
    """One named source of documents."""

    name: ShortName
    inline: InlineSource | None = None
    config_map_ref: ConfigMapSource | None = None
    url: UrlSource | None = None
    s3: S3Source | None = None
    files: FilesSource | None = None
    failure_policy: Literal["fail", "skip"] = "fail"

    @model_validator(mode="after")
    def _rules(self) -> KnowledgeSource:
        kinds = (self.inline, self.config_map_ref, self.url, self.s3, self.files)
        check(_ONE_SOURCE_KIND, sum(k is not None for k in kinds) == 1)
        return self


class ParsingSpec(ApiModel):
    """Document parsing limits and options."""

    max_document_bytes: Annotated[int, Field(ge=1024, le=512 * 1024 * 1024)] = 20 * 1024 * 1024
    html_main_content_only: bool = True


_OVERLAP_BELOW_SIZE = cel(
    "self.overlapTokens < self.sizeTokens",
    message="overlapTokens must be below sizeTokens",
    field_path=".overlapTokens",
)


class ChunkingSpec(ApiModel, json_schema_extra=validations(_OVERLAP_BELOW_SIZE)):
    """How documents are split: token-aware, with overlap between neighbours."""

    strategy: Literal["recursive", "sentence", "fixed"] = "recursive"
    size_tokens: Annotated[int, Field(ge=32, le=8192)] = 256
    overlap_tokens: Annotated[int, Field(ge=0, le=4096)] = 32

    @model_validator(mode="after")
    def _rules(self) -> ChunkingSpec:
        check(_OVERLAP_BELOW_SIZE, self.overlap_tokens < self.size_tokens)
        return self


class EmbeddingSpec(ApiModel):
    """The embedding model, recorded in every index version it builds."""

    model: ModelName = PACKAGED_EMBEDDING_MODEL
    #: At most what the model plane takes in one embeddings request (switchboard_wire).
    batch_size: Annotated[int, Field(ge=1, le=64)] = 32


class PostgresStore(ApiModel):
    """A PostgreSQL+pgvector database; the Secret key holds a libpq connection URI."""

    connection_secret_ref: SecretKeyRef


_POSTGRES_IFF_TYPE = cel(
    "(self.type == 'postgres') == has(self.postgres)",
    message="postgres settings are required for type postgres and forbidden otherwise",
    field_path=".postgres",
)


class StoreSpec(ApiModel, json_schema_extra=validations(_POSTGRES_IFF_TYPE)):
    """Where the index lives; `default` uses the store configured at install time."""

    type: Literal["default", "sqlite", "postgres"] = "default"
    postgres: PostgresStore | None = None

    @model_validator(mode="after")
    def _rules(self) -> StoreSpec:
        check(_POSTGRES_IFF_TYPE, (self.type == "postgres") == (self.postgres is not None))
        return self


class RefreshSpec(ApiModel):
    """Re-indexing: on a cron schedule, and whenever `reindexToken` changes."""

    schedule: (
        Annotated[
            str,
            Field(
                max_length=128,
                pattern=r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|(\S+\s+){4}\S+)$",
            ),
        ]
        | None
    ) = None
    reindex_token: Annotated[str, Field(max_length=128)] | None = None


class RetrievalSpec(ApiModel):
    """How agents query the index."""

    top_k: Annotated[int, Field(ge=1, le=50)] = 4
    mode: Literal["hybrid", "vector", "keyword"] = "hybrid"
    fusion: Literal["rrf", "weighted"] = "rrf"
    vector_weight: Annotated[float, Field(ge=0, le=1)] = 0.5
    score_threshold: Annotated[float, Field(ge=0, le=1)] = 0.0


class KnowledgeBaseSpec(ApiModel):
    """Sources, parsing, chunking, embedding, store, refresh and retrieval settings."""

    sources: Annotated[
        list[KnowledgeSource],
        Field(min_length=1, max_length=64, json_schema_extra=list_map("name")),
    ]
    parsing: ParsingSpec = ParsingSpec()
    chunking: ChunkingSpec = ChunkingSpec()
    embedding: EmbeddingSpec = EmbeddingSpec()
    store: StoreSpec = StoreSpec()
    refresh: RefreshSpec = RefreshSpec()
    retrieval: RetrievalSpec = RetrievalSpec()


class JobRef(ApiModel):
    """An indexing Job and how it ended."""

    name: ObjectName
    result: Literal["Running", "Succeeded", "Failed"] = "Running"
    start_time: datetime | None = None
    completion_time: datetime | None = None


class KnowledgeBaseStatus(ResourceStatus):
    """Observed state: the live index version (never a half-built one), counts and jobs."""

    index_version: Annotated[str, Field(max_length=MAX_TEXT)] | None = None
    documents: Annotated[int, Field(ge=0)] = 0
    chunks: Annotated[int, Field(ge=0)] = 0
    last_indexed_time: datetime | None = None
    current_job: JobRef | None = None
    last_job: JobRef | None = None
