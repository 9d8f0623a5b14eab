"""Container images for the `node` tier, built here with buildah (no Docker) and cached by content.

Every image a single-node cluster needs is built from the project's own Dockerfiles, on stand-ins
for the public base images (no registry is reachable): a debootstrap'd Debian `python`, a `ray`
image on top of it, a `postgres` with our pgvector build and the `pause` sandbox image. Each ends
as an archive `ctr -n k8s.io images import` accepts, named by the first 12 hex digits of a SHA-256
over its inputs (recipe, the files its build sees, build arguments, its bases' keys), so a warm run
rebuilds nothing. `python -m tests.node.images [names...]` builds them and prints a table.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.node import image_steps as steps
from tests.node.image_inputs import cache_key, file_inputs, project_files
from tests.tools import REPO_ROOT, cache_dir

HERE = Path(__file__).resolve().parent / "images"
PAUSE_REFERENCE = "registry.k8s.io/pause:3.10.1"
#: Build order: every image after the images its build arguments name.
NAMES = ("python", "pause", "ray", "postgres", "operator", "gateway", "indexer", "serve-cpu")
#: Project images: Dockerfile (relative to the repository root) and base images by build argument.
PROJECT = {
    "operator": ("operator/Dockerfile", {"PYTHON_IMAGE": "python"}),
    "gateway": ("workloads/switchboard_gateway/Dockerfile", {"PYTHON_IMAGE": "python"}),
    "indexer": ("workloads/switchboard_indexer/Dockerfile", {"PYTHON_IMAGE": "python"}),
    "serve-cpu": (
        "workloads/switchboard_serve/Dockerfile.cpu",
        {"PYTHON_IMAGE": "python", "RAY_IMAGE": "ray"},
    ),
}
STAND_INS = {"ray": {"PYTHON_IMAGE": "python"}, "postgres": {"PYTHON_IMAGE": "python"}}
BUILD_TIMEOUT_S = 3600
#: Every change to the sources adds the project images' layers again (about 2 GB); past this the
#: build cache goes, so CI machines do not fill their disks.
STORAGE_LIMIT_BYTES = 16 * 10**9


@dataclass(frozen=True)
class BuiltImage:
    """One image, built or taken from the cache."""

    name: str
    reference: str
    archive: Path
    size_bytes: int
    built_s: float


def images_dir() -> Path:
    """Where archives, logs and build contexts live: `$SWITCHBOARD_CACHE/images`."""
    return cache_dir() / "images"


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One build at a time per cache: buildah's storage and the archives are shared."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _closure(names: Iterable[str]) -> list[str]:
    """The requested images and every image their builds start from, in build order."""
    wanted = set(names)
    unknown = wanted - set(NAMES)
    if unknown:
        raise ValueError(f"unknown images {sorted(unknown)}; known: {', '.join(NAMES)}")
    for name in reversed(NAMES):
        if name in wanted:
            wanted.update(_bases(name).values())
    return [name for name in NAMES if name in wanted]


def _bases(name: str) -> dict[str, str]:
    """Build argument → name of the image it names."""
    if name in PROJECT:
        return dict(PROJECT[name][1])
    return dict(STAND_INS.get(name, {}))


def _inputs(name: str) -> tuple[bytes, dict[str, Path]]:
    """(recipe, context files) of one image: what its key covers besides arguments and bases."""
    if name == "python":
        return steps.debootstrap_recipe(), {"Containerfile": HERE / "python" / "Containerfile"}
    if name == "pause":
        return steps.PAUSE_RECIPE.encode(), {"pause.c": HERE / "pause" / "pause.c"}
    if name == "ray":
        return b"", {"Containerfile": HERE / "ray" / "Containerfile"}
    if name == "postgres":
        files = {p: HERE / "postgres" / p for p in ("Containerfile", "entrypoint.sh")}
        vector = steps.pgvector_build()
        files.update(
            {f"pgvector/{p.relative_to(vector)}": p for p in vector.rglob("*") if p.is_file()}
        )
        return b"", files
    dockerfile = PROJECT[name][0]
    return f"dockerfile={dockerfile}".encode(), {
        **project_files(REPO_ROOT),
        dockerfile: REPO_ROOT / dockerfile,
    }


def build_images(
    names: Iterable[str] | None = None, log: Callable[[str], None] = print
) -> dict[str, BuiltImage]:
    """Build (or take from the cache) the named images and the images they are built from.

    Returns the requested images by name (all of `NAMES` when `names` is None).
    """
    requested = list(NAMES if names is None else names)
    out = images_dir()
    built: dict[str, BuiltImage] = {}
    keys: dict[str, str] = {}
    with _locked(out / ".lock"):
        # Left by a build that was killed; nothing else builds while we hold the lock.
        shutil.rmtree(out / "work", ignore_errors=True)
        for name in _closure(requested):
            recipe, files = _inputs(name)
            args = {arg: built[base].reference for arg, base in _bases(name).items()}
            keys[name] = cache_key(
                recipe=recipe,
                files=file_inputs(files),
                build_args=args,
                base_keys={base: keys[base] for base in _bases(name).values()},
            )
            built[name] = _build_one(name, keys[name], files, args, out, log)
        if steps.storage_bytes() > STORAGE_LIMIT_BYTES:
            log(
                f"buildah storage over {STORAGE_LIMIT_BYTES / 1e9:.0f} GB: dropping its build cache"
            )
            steps.prune_cache()
    return {name: built[name] for name in requested}


def _reference(name: str, key: str) -> str:
    return PAUSE_REFERENCE if name == "pause" else f"localhost/switchboard/{name}:{key[:12]}"


def _build_one(
    name: str,
    key: str,
    files: Mapping[str, Path],
    args: Mapping[str, str],
    out: Path,
    log: Callable[[str], None],
) -> BuiltImage:
    reference = _reference(name, key)
    archive = out / f"{name}-{key[:12]}.tar"
    meta = archive.with_suffix(".json")
    if archive.is_file() and meta.is_file():
        size = int(json.loads(meta.read_text())["size_bytes"])
        if name != "pause":
            steps.ensure_in_storage(reference, archive)
        _prune_older(name, archive)
        log(f"{name}: cached {reference}")
        return BuiltImage(name, reference, archive, size, 0.0)
    log(f"{name}: building {reference} (log: {out / 'logs' / f'{name}-{key[:12]}.log'})")
    started = time.monotonic()
    work = out / "work" / f"{name}-{key[:12]}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    logfile = out / "logs" / f"{name}-{key[:12]}.log"
    logfile.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    with logfile.open("w") as sink:
        if name == "pause":
            size = steps.build_pause(files["pause.c"], work, partial, reference, sink)
        else:
            context = work / "context"
            steps.stage_context(files, context)
            if name == "python":
                steps.python_rootfs(out / "rootfs", context / "rootfs.tar", sink, log)
            dockerfile = context / (PROJECT[name][0] if name in PROJECT else "Containerfile")
            steps.buildah_bud(dockerfile, context, reference, args, sink, BUILD_TIMEOUT_S)
            steps.buildah_push(reference, partial, sink)
            size = steps.image_size(reference)
    partial.rename(archive)
    elapsed = round(time.monotonic() - started, 1)
    meta.write_text(json.dumps({"reference": reference, "size_bytes": size, "built_s": elapsed}))
    shutil.rmtree(work, ignore_errors=True)
    _prune_older(name, archive)
    log(f"{name}: built {reference} in {elapsed} s ({size / 1e6:.0f} MB)")
    return BuiltImage(name, reference, archive, size, elapsed)


def _prune_older(name: str, keep: Path) -> None:
    """Drop the archives and tags of this image's earlier keys (their layers stay cached)."""
    pattern = re.compile(rf"{re.escape(name)}-[0-9a-f]{{12}}\.tar")
    for old in keep.parent.iterdir():
        if old == keep or not pattern.fullmatch(old.name):
            continue
        meta = old.with_suffix(".json")
        if name != "pause" and meta.is_file():
            steps.forget(json.loads(meta.read_text())["reference"])
        meta.unlink(missing_ok=True)
        old.unlink()


def main(argv: list[str]) -> int:
    """`python -m tests.node.images [names...]`: build, then print a table."""
    images = build_images(argv or None, log=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"{'name':<10} {'reference':<48} {'size MB':>8} {'seconds':>8}  cached")
    for image in images.values():
        cached = "yes" if image.built_s == 0.0 else "no"
        print(
            f"{image.name:<10} {image.reference:<48} {image.size_bytes / 1e6:>8.0f} "
            f"{image.built_s:>8.1f}  {cached}"
        )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main(sys.argv[1:]))
