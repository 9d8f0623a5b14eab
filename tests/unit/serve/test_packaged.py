"""Reassembling split model files: verified, atomic, reused."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from switchboard_serve.packaged import (
    PackagedModelError,
    SplitModel,
    assemble,
    embedding_model_files,
)

pytestmark = pytest.mark.unit

PARTS = (b"first half of the weights|", b"second half")


def _model(content: bytes = b"".join(PARTS)) -> SplitModel:
    return SplitModel(
        name="tiny",
        package="unused",
        part_packages=("a", "b"),
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        side_files=("config.json",),
    )


def _inputs(tmp_path: Path, parts: tuple[bytes, ...] = PARTS) -> tuple[list[Path], list[Path]]:
    paths = []
    for i, data in enumerate(parts, start=1):
        path = tmp_path / f"model.bin.part{i}"
        path.write_bytes(data)
        paths.append(path)
    side = tmp_path / "config.json"
    side.write_text("{}")
    return paths, [side]


def test_parts_are_joined_in_order_with_side_files(tmp_path: Path) -> None:
    parts, sides = _inputs(tmp_path)
    dest = assemble(parts, sides, _model(), tmp_path / "cache" / "tiny")
    assert (dest / "model.bin").read_bytes() == b"".join(PARTS)
    assert (dest / "config.json").read_text() == "{}"
    assert (dest / ".verified").exists()


def test_a_verified_directory_is_reused_without_reading_the_parts(tmp_path: Path) -> None:
    parts, sides = _inputs(tmp_path)
    dest = assemble(parts, sides, _model(), tmp_path / "cache" / "tiny")
    for part in parts:
        part.unlink()
    assert assemble(parts, sides, _model(), dest) == dest


def test_a_corrupted_part_is_refused_and_leaves_nothing_behind(tmp_path: Path) -> None:
    parts, sides = _inputs(tmp_path, (PARTS[0], b"second halF"))
    cache = tmp_path / "cache"
    with pytest.raises(PackagedModelError, match="SHA-256"):
        assemble(parts, sides, _model(), cache / "tiny")
    assert list(cache.iterdir()) == []


def test_a_missing_part_is_refused_by_size(tmp_path: Path) -> None:
    parts, sides = _inputs(tmp_path, (PARTS[0],))
    with pytest.raises(PackagedModelError, match="bytes, want"):
        assemble(parts, sides, _model(), tmp_path / "cache" / "tiny")


def test_the_packaged_embedding_model_is_found_and_unknown_ones_are_named() -> None:
    onnx, tokenizer = embedding_model_files()
    assert (onnx.name, tokenizer.name) == ("model.onnx", "tokenizer.json")
    assert 20_000_000 < onnx.stat().st_size < 30_000_000  # int8: a quarter of the float model
    with pytest.raises(PackagedModelError, match="no packaged embedding model 'e5-large'"):
        embedding_model_files("e5-large")
