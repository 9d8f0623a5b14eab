"""Read Switchboard manifests from YAML files, with errors that name the file and the field.

YAML is read defensively: duplicate keys are an error (not a silent last-one-wins), and anchors
may not expand a document beyond `MAX_EXPANDED_NODES` nodes (an alias bomb fits in a few lines
and grows to gigabytes). Names follow the Kubernetes rules the API server applies.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from switchboard_api._base import API_VERSION
from switchboard_api.knowledgebase import outside_directory
from switchboard_api.resources import RESOURCES, KnowledgeBase, Tenant, VoiceAgent

Resource = Tenant | VoiceAgent | KnowledgeBase
_BY_KIND = {r.crd.kind: r for r in RESOURCES}
#: A document may hold at most this many YAML nodes once its aliases are expanded.
MAX_EXPANDED_NODES = 100_000
#: The API server's bound on all of an object's annotations together.
MAX_ANNOTATIONS_BYTES = 256 * 1024
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
#: DNS-1123 subdomain (object names) and label (namespaces), as the API server checks them.
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


class ManifestError(ValueError):
    """A manifest is not a valid Switchboard resource; the message names file, object and field."""


@dataclass(frozen=True)
class LoadedManifest:
    """One validated resource and where it came from."""

    path: Path
    index: int
    resource: Resource


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        path = _field_path(item["loc"])
        if item["type"] == "cel_rule":
            # A cross-field rule reports on the object; fieldPath narrows it, as on the server.
            relative = str(item.get("ctx", {}).get("field_path", ""))
            path = f"{path}{relative}" if path else relative.lstrip(".")
        lines.append(f"{path}: {item['msg']}")
    return "; ".join(lines)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                mark = key_node.start_mark
                raise ManifestError(f"line {mark.line + 1}: duplicate key {str(key)[:80]!r}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many nodes `node` stands for with every alias expanded (memoised per node)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = MAX_EXPANDED_NODES + 1  # a cycle counts as too big
    size = 1
    if isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    elif isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, sizes) for item in node.value)
    sizes[id(node)] = min(size, MAX_EXPANDED_NODES + 1)
    return sizes[id(node)]


def read_yaml_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, read strictly (see the module docstring)."""
    loader = _StrictLoader(text)
    try:
        documents: list[Any] = []
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                break
            if _expanded_size(node, {}) > MAX_EXPANDED_NODES:
                raise ManifestError(
                    f"document {len(documents) + 1}: anchors and aliases expand it beyond "
                    f"{MAX_EXPANDED_NODES} nodes"
                )
            documents.append(loader.construct_document(node))
        return documents
    except RecursionError:
        raise ManifestError("nested too deeply") from None
    finally:
        loader.dispose()


def _check_metadata(document: dict[str, Any], where: str, kind: str) -> str:
    metadata = document.get("metadata")
    if not isinstance(metadata, dict):
        raise ManifestError(f"{where}: {kind}: metadata must be a mapping with a name")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise ManifestError(f"{where}: {kind}: metadata.name is required")
    if len(name) > 253 or not _SUBDOMAIN.match(name):
        raise ManifestError(
            f"{where}: {kind} {name[:80]!r}: metadata.name must be a DNS-1123 subdomain "
            "(lower-case letters, digits, '-' and '.', starting and ending alphanumeric)"
        )
    namespace = metadata.get("namespace")
    if namespace is not None and (
        not isinstance(namespace, str) or len(namespace) > 63 or not _LABEL.match(namespace)
    ):
        raise ManifestError(
            f"{where}: {kind} {name}: metadata.namespace must be a DNS-1123 label "
            "(lower-case letters, digits and '-', at most 63)"
        )
    problem = _labels_problem(metadata.get("labels")) or _annotations_problem(
        metadata.get("annotations")
    )
    if problem:
        raise ManifestError(f"{where}: {kind} {name}: {problem}")
    return name


def _labels_problem(labels: object) -> str | None:
    """What the API server would refuse in `metadata.labels` (the rules of `kubectl`)."""
    if labels is None:
        return None
    if not isinstance(labels, dict):
        return "metadata.labels must be a mapping of strings"
    for key, value in labels.items():
        if not isinstance(key, str) or not isinstance(value, str):
            return "metadata.labels must be a mapping of strings"
        prefix, _, label = key.rpartition("/")
        if (prefix and not _SUBDOMAIN.match(prefix)) or not _LABEL_VALUE.match(label) or not label:
            return f"metadata.labels: {key[:80]!r} is not a valid label key"
        if len(label) > 63 or len(prefix) > 253:
            return f"metadata.labels: {key[:80]!r} is not a valid label key"
        if len(value) > 63 or not _LABEL_VALUE.match(value):
            return f"metadata.labels[{key[:80]!r}]: a label value has at most 63 characters"
    return None


def _annotations_problem(annotations: object) -> str | None:
    if annotations is None:
        return None
    if not isinstance(annotations, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
    ):
        return "metadata.annotations must be a mapping of strings"
    size = sum(len(k) + len(v) for k, v in annotations.items())
    if size > MAX_ANNOTATIONS_BYTES:
        return f"metadata.annotations: {size} characters in all; at most {MAX_ANNOTATIONS_BYTES}"
    return None


def parse_manifest(document: dict[str, Any], where: str) -> Resource:
    """Validate one decoded YAML document as a Switchboard resource."""
    if not isinstance(document, dict):
        raise ManifestError(f"{where}: expected a mapping, got {type(document).__name__}")
    api_version, kind = document.get("apiVersion"), document.get("kind")
    if api_version != API_VERSION:
        raise ManifestError(f"{where}: apiVersion must be {API_VERSION}, got {api_version!r}")
    model = _BY_KIND.get(str(kind))
    if model is None:
        raise ManifestError(f"{where}: kind must be one of {sorted(_BY_KIND)}, got {kind!r}")
    name = _check_metadata(document, where, str(kind))
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise ManifestError(f"{where}: {kind} {name}: {_describe(error)}") from None


def _yaml_files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            yield path


def _check_files_sources(base: KnowledgeBase, directory: Path, where: str) -> None:
    """`files:` sources stay inside the manifest's directory (symlinks and `..` resolved)."""
    for index, source in enumerate(base.spec.sources):
        if source.files is None:
            continue
        resolved = source.files.resolved(directory)
        if outside_directory(resolved, directory):
            raise ManifestError(
                f"{where}: KnowledgeBase {base.metadata.name}: spec.sources[{index}].files.path: "
                f"{source.files.path!r} resolves to {resolved}, outside the manifest's directory "
                f"{directory.resolve()}"
            )


def load_manifests(paths: Iterable[Path]) -> list[LoadedManifest]:
    """Load every document of every YAML file (directories are searched recursively)."""
    loaded = []
    for path in _yaml_files(paths):
        try:
            documents = read_yaml_documents(path.read_text(encoding="utf-8"))
        except UnicodeDecodeError as error:
            reason = f"{error.reason} at byte {error.start}"
            raise ManifestError(f"{path}: not UTF-8 text ({reason})") from None
        except ManifestError as error:
            raise ManifestError(f"{path}: {error}") from None
        except (OSError, yaml.YAMLError) as error:
            raise ManifestError(f"{path}: {error}") from None
        for index, document in enumerate(documents):
            if document is None:
                continue
            where = f"{path} (document {index + 1})"
            resource = parse_manifest(document, where)
            if isinstance(resource, KnowledgeBase):
                _check_files_sources(resource, path.parent, where)
            loaded.append(LoadedManifest(path, index, resource))
    return loaded
