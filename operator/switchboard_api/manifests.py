"""Read Switchboard manifests from YAML files, with errors that name the file and the field."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from switchboard_api._base import API_VERSION
from switchboard_api.resources import RESOURCES, KnowledgeBase, Tenant, VoiceAgent

Resource = Tenant | VoiceAgent | KnowledgeBase
_BY_KIND = {r.crd.kind: r for r in RESOURCES}


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
    name = (document.get("metadata") or {}).get("name", "<unnamed>")
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


def load_manifests(paths: Iterable[Path]) -> list[LoadedManifest]:
    """Load every document of every YAML file (directories are searched recursively)."""
    loaded = []
    for path in _yaml_files(paths):
        try:
            documents = list(yaml.safe_load_all(path.read_text()))
        except (OSError, yaml.YAMLError) as error:
            raise ManifestError(f"{path}: {error}") from None
        for index, document in enumerate(documents):
            if document is None:
                continue
            resource = parse_manifest(document, f"{path} (document {index + 1})")
            loaded.append(LoadedManifest(path, index, resource))
    return loaded
