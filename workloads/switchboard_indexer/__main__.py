"""`python -m switchboard_indexer`: build one knowledge base's index (the indexing Job).

Reads the KnowledgeBase (YAML), indexes it into the store, prints a JSON report, and, in a
Job, writes the `IndexResult` into the ConfigMap the operator reads. Exit 0: a new version is
live; exit 1: the build failed and the previous version stays live (the reason is logged and
is the last line of output); exit 2: bad arguments or configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from datetime import UTC, datetime
from pathlib import Path

import yaml
from pydantic import ValidationError

from switchboard_api.egress import EgressPolicy
from switchboard_api.indexing import (
    EGRESS_ALLOW_ENV,
    JOB_NAME_ENV,
    MAX_SKIPPED_REPORTED,
    MODEL_PLANE_URL_ENV,
    NAMESPACE_ENV,
    RESULT_KEY,
    STORE_URL_ENV,
    IndexResult,
    SkippedDocument,
    result_configmap,
)
from switchboard_api.resources import KnowledgeBase
from switchboard_indexer.build import BuildError, BuildReport, build_index
from switchboard_indexer.embedding import (
    Embedder,
    EmbeddingError,
    InProcessEmbedder,
    ModelPlaneEmbedder,
    token_counter,
)
from switchboard_indexer.kube import KubeClient, KubeError
from switchboard_indexer.sources import SourceReader
from switchboard_knowledge.store import StoreError, open_store

log = logging.getLogger("switchboard_indexer")
EXIT_FAILED, EXIT_USAGE = 1, 2
#: A Job often starts before its tenant's model pool serves (KubeRay creates the serve Service
#: once the application is up): the first embedding waits this long for it.
MODEL_PLANE_WAIT_S = 1200.0


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m switchboard_indexer", description=__doc__)
    parser.add_argument("--knowledge-base", type=Path, required=True, help="KnowledgeBase YAML")
    parser.add_argument(
        "--store", default=os.environ.get(STORE_URL_ENV), help=f"index store URL (${STORE_URL_ENV})"
    )
    parser.add_argument(
        "--model-plane",
        default=os.environ.get(MODEL_PLANE_URL_ENV),
        help=f"embed through this model plane (${MODEL_PLANE_URL_ENV}); unset: in-process",
    )
    parser.add_argument("--namespace", default=os.environ.get(NAMESPACE_ENV))
    parser.add_argument("--job-name", default=os.environ.get(JOB_NAME_ENV))
    parser.add_argument(
        "--allow-cidr",
        action="append",
        default=[c for c in os.environ.get(EGRESS_ALLOW_ENV, "").split(",") if c.strip()],
        help="a CIDR URL sources may reach despite the SSRF guard (repeatable)",
    )
    parser.add_argument("--log-level", default="INFO")
    return parser.parse_args(argv)


def result(report: BuildReport) -> IndexResult:
    """The IndexResult of a successful build."""
    if report.version is None:
        raise ValueError("the build has no version")
    skipped = [SkippedDocument(name=s.source, reason=s.reason) for s in report.skipped]
    skipped += [SkippedDocument(name=f"source {n}", reason=r) for n, r in report.failed_sources]
    return IndexResult(
        index_version=report.version.name,
        documents=report.documents,
        chunks=report.chunks,
        completed_at=datetime.now(UTC),
        embedded=report.embedded,
        reused=report.reused,
        skipped=skipped[:MAX_SKIPPED_REPORTED],
        skipped_total=len(skipped),
    )


def _embedder(args: argparse.Namespace, kb: KnowledgeBase) -> Embedder:
    spec = kb.spec.embedding
    if args.model_plane:
        return ModelPlaneEmbedder(
            args.model_plane,
            spec.model,
            batch_size=spec.batch_size,
            ready_wait_s=MODEL_PLANE_WAIT_S,
        )
    return InProcessEmbedder(spec.model, spec.batch_size)


def main(argv: list[str] | None = None) -> int:
    """Run one build; returns the exit status."""
    args = _arguments(argv)
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        kb = KnowledgeBase.model_validate(yaml.safe_load(args.knowledge_base.read_text()))
    except (OSError, yaml.YAMLError, ValidationError) as error:
        print(f"indexer: cannot read {args.knowledge_base}: {error}", file=sys.stderr)
        return EXIT_USAGE
    namespace = args.namespace or kb.metadata.namespace or "default"
    if not args.store:
        print(f"indexer: no index store (--store or ${STORE_URL_ENV})", file=sys.stderr)
        return EXIT_USAGE
    kube = KubeClient.in_cluster(namespace)
    try:
        store = open_store(args.store, namespace)
        embedder = _embedder(args, kb)
    except (StoreError, EmbeddingError) as error:
        log.error("indexing failed: %s", error)
        return EXIT_FAILED
    reader = SourceReader(
        max_bytes=kb.spec.parsing.max_document_bytes,
        egress=EgressPolicy(args.allow_cidr),
        base_dir=args.knowledge_base.parent,
        config_maps=kube.config_map if kube else None,
    )
    log.info("indexing %s/%s into %s", namespace, kb.metadata.name, store.__class__.__name__)
    try:
        report = build_index(kb, store, embedder, reader, token_counter(kb.spec.embedding.model))
        outcome = result(report)
        if kube is not None and args.job_name:
            kube.apply_config_map(
                result_configmap(args.job_name),
                {RESULT_KEY: outcome.model_dump_json(by_alias=True)},
                {"app.kubernetes.io/managed-by": "switchboard-indexer"},
            )
    except (BuildError, StoreError, KubeError) as error:
        log.error("indexing failed: %s", error)
        return EXIT_FAILED
    finally:
        store.close()
        if kube is not None:
            kube.close()
    print(json.dumps(outcome.model_dump(mode="json", by_alias=True), indent=2))
    log.info(
        "version %s is live: %d documents, %d chunks (%d embedded, %d reused), %d skipped",
        outcome.index_version,
        outcome.documents,
        outcome.chunks,
        outcome.embedded,
        outcome.reused,
        outcome.skipped_total,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
