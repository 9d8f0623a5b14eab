"""The commands behind tests/node/images.py: debootstrap, buildah, umoci + skopeo, pgvector.

buildah runs with chroot isolation on the overlay driver, its storage kept under
`$SWITCHBOARD_CACHE/buildah` so `--layers` reuses unchanged steps across runs.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

from tests.tools import REPO_ROOT, cache_dir

CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv", "python3-pip", "python-is-python3", "ca-certificates")
#: Removed from the debootstrap tree; EXTERNALLY-MANAGED because the official image has none.
PRUNED = (
    "var/cache/apt/archives/*.deb", "var/lib/apt/lists/*", "usr/share/doc/*", "usr/share/man/*",
    "usr/share/info/*", "usr/share/locale/*", "var/log/*", "usr/lib/python3.*/EXTERNALLY-MANAGED",
)  # fmt: skip
#: What the official Debian images configure: apt keeps no package cache or downloaded .debs,
#: dpkg installs no docs, man pages or translations.
SLIM_CONFIG = {
    "etc/apt/apt.conf.d/docker-clean": (
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
        '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb '
        '/var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };\n'
        'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'
    ),
    "etc/apt/apt.conf.d/docker-no-languages": 'Acquire::Languages "none";\n',
    "etc/dpkg/dpkg.cfg.d/docker-slim": "".join(
        f"path-exclude /usr/share/{d}/*\n"
        for d in ("doc", "man", "info", "locale", "groff", "lintian")
    )
    + "path-include /usr/share/doc/*/copyright\n",
}
PAUSE_RECIPE = "gcc -Os -static; strip; umoci single layer /pause user 65535; skopeo docker-archive"
PGVECTOR = "pgvector-v0.8.1-pg15"
STEP_TIMEOUT_S = 1800


def _run(
    cmd: list[str], sink: IO[str], timeout: float = STEP_TIMEOUT_S, cwd: Path | None = None
) -> None:
    """Run one step, its output into the build log; a failure quotes the log's tail."""
    sink.write(f"$ {' '.join(cmd)}\n")
    sink.flush()
    result = subprocess.run(
        cmd, stdout=sink, stderr=subprocess.STDOUT, timeout=timeout, check=False, cwd=cwd
    )
    if result.returncode != 0:
        sink.flush()
        tail = Path(sink.name).read_text()[-3000:]
        raise RuntimeError(f"{cmd[0]} failed ({result.returncode}); log {sink.name}:\n{tail}")


def mirror() -> str:
    """The Debian mirror the host's apt uses (deb822 or one-line sources)."""
    sources = sorted(Path("/etc/apt").glob("sources.list*")) + sorted(
        Path("/etc/apt/sources.list.d").glob("*")
    )
    for source in sources:
        if not source.is_file():
            continue
        text = source.read_text()
        found = re.findall(r"^(?:URIs:|deb)\s+(\S+/debian)/?(?:\s|$)", text, re.MULTILINE)
        if found:
            return str(found[0])
    return "http://deb.debian.org/debian"


def debootstrap_recipe() -> bytes:
    """Everything that decides the python stand-in's root filesystem."""
    return json.dumps(
        {
            "suite": SUITE,
            "variant": "minbase",
            "include": PACKAGES,
            "mirror": mirror(),
            "pruned": PRUNED,
            "config": SLIM_CONFIG,
        }
    ).encode()


def python_rootfs(store: Path, tar: Path, sink: IO[str], log: Callable[[str], None]) -> None:
    """The debootstrap rootfs tar, built once per recipe and hard-linked into the context."""
    cached = store / f"python-{hashlib.sha256(debootstrap_recipe()).hexdigest()[:12]}.tar"
    if not cached.is_file():
        for old in store.glob("python-*.tar"):
            old.unlink()
        log(f"python: debootstrap {SUITE} from {mirror()} (a few minutes, once)")
        tree = store / "tree"
        shutil.rmtree(tree, ignore_errors=True)
        store.mkdir(parents=True, exist_ok=True)
        _run(
            ["debootstrap", "--variant=minbase", f"--include={','.join(PACKAGES)}", SUITE, str(tree), mirror()],
            sink,
        )  # fmt: skip
        _run(["sh", "-c", "rm -rf " + " ".join(PRUNED)], sink, cwd=tree)
        for name, text in SLIM_CONFIG.items():
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            (tree / name).write_text(text)
        partial = cached.with_suffix(".partial")
        _run(["tar", "--numeric-owner", "-C", str(tree), "-cf", str(partial), "."], sink)
        partial.rename(cached)
        shutil.rmtree(tree, ignore_errors=True)
    tar.unlink(missing_ok=True)
    tar.hardlink_to(cached)


def pgvector_build() -> Path:
    """pgvector for PostgreSQL 15, built by .ci/pgvector.sh into the cache (once)."""
    built = cache_dir() / PGVECTOR
    if not (built / "vector.so").is_file():
        subprocess.run(
            ["bash", str(REPO_ROOT / ".ci" / "pgvector.sh")], check=True, timeout=STEP_TIMEOUT_S
        )
    return built


def stage_context(files: Mapping[str, Path], context: Path) -> None:
    """A build context holding exactly the files the key covers."""
    for name, source in files.items():
        target = context / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)


def buildah(*args: str) -> list[str]:
    """A buildah command on the cache's own storage."""
    root = cache_dir() / "buildah"
    return [
        "buildah", "--root", str(root / "root"), "--runroot", str(root / "run"),
        "--storage-driver", "overlay", *args,
    ]  # fmt: skip


def buildah_bud(
    dockerfile: Path,
    context: Path,
    reference: str,
    args: Mapping[str, str],
    sink: IO[str],
    timeout: float,
) -> None:
    """`buildah bud` with layer caching, no pulls, and the host CA bundle (TLS interception)."""
    build_args = [a for name, value in args.items() for a in ("--build-arg", f"{name}={value}")]
    _run(
        buildah(
            "bud", "--isolation", "chroot", "--layers", "--pull-never",
            "-v", f"{CA_BUNDLE}:{CA_BUNDLE}:ro", "-f", str(dockerfile), *build_args,
            "-t", reference, str(context),
        ),
        sink, timeout=timeout,
    )  # fmt: skip


def buildah_push(reference: str, archive: Path, sink: IO[str]) -> None:
    """Export to an oci-archive whose ref name is the full reference (ctr keeps it as the name)."""
    _run(buildah("push", "--quiet", reference, f"oci-archive:{archive}:{reference}"), sink)


def image_size(reference: str) -> int:
    """Uncompressed size in bytes: the sum of the image's layer diffs in buildah's storage."""
    out = subprocess.run(
        buildah("inspect", "--type", "image", reference),
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    diff_ids = json.loads(out)["OCIv1"]["rootfs"]["diff_ids"]
    layers = json.loads(
        (cache_dir() / "buildah" / "root" / "overlay-layers" / "layers.json").read_text()
    )
    sizes = {layer.get("diff-digest"): int(layer.get("diff-size", 0)) for layer in layers}
    return sum(sizes.get(diff_id, 0) for diff_id in diff_ids)


def ensure_in_storage(reference: str, archive: Path) -> None:
    """Put a cached image back into buildah's storage when it went missing (later builds use it)."""
    present = subprocess.run(
        buildah("inspect", "--type", "image", reference),
        capture_output=True,
        timeout=60,
        check=False,
    )
    if present.returncode != 0:
        image_id = subprocess.run(
            buildah("pull", "--quiet", f"oci-archive:{archive}"),
            capture_output=True, text=True, check=True, timeout=STEP_TIMEOUT_S,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        subprocess.run(buildah("tag", image_id, reference), check=True, timeout=60)


def forget(reference: str) -> None:
    """Untag an image in buildah's storage (layers other images share stay)."""
    subprocess.run(buildah("rmi", reference), capture_output=True, timeout=120, check=False)


def storage_bytes() -> int:
    """Bytes buildah's storage holds (layers of every image and build cache)."""
    root = cache_dir() / "buildah" / "root"
    done = subprocess.run(
        ["du", "-sb", str(root)], capture_output=True, text=True, timeout=600, check=False
    )
    return int(done.stdout.split()[0]) if done.returncode == 0 and done.stdout else 0


def prune_cache() -> None:
    """Drop every image no tag names: the layer cache of earlier builds (the next build of a
    changed image redoes its steps, llama-cpp-python's compile included)."""
    subprocess.run(buildah("rmi", "--prune"), capture_output=True, timeout=600, check=False)


def build_pause(source: Path, work: Path, archive: Path, reference: str, sink: IO[str]) -> int:
    """The sandbox image: a static C binary in one layer, packed by umoci, exported by skopeo."""
    rootfs = work / "rootfs"
    rootfs.mkdir(parents=True)
    _run(["gcc", "-Os", "-static", "-o", str(rootfs / "pause"), str(source)], sink)
    _run(["strip", str(rootfs / "pause")], sink)
    layout, bundle = f"{work / 'oci'}:latest", work / "bundle"
    _run(["umoci", "init", "--layout", str(work / "oci")], sink)
    _run(["umoci", "new", "--image", layout], sink)
    _run(["umoci", "unpack", "--image", layout, str(bundle)], sink)
    shutil.copy2(rootfs / "pause", bundle / "rootfs" / "pause")
    _run(["umoci", "repack", "--image", layout, str(bundle)], sink)
    _run(
        ["umoci", "config", "--image", layout, "--os", "linux", "--architecture", "amd64",
         "--config.entrypoint", "/pause", "--config.user", "65535:65535"],
        sink,
    )  # fmt: skip
    _run(["umoci", "gc", "--layout", str(work / "oci")], sink)
    _run(
        ["skopeo", "copy", "--quiet", f"oci:{layout}", f"docker-archive:{archive}:{reference}"],
        sink,
    )
    return (rootfs / "pause").stat().st_size
