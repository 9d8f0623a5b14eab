"""The content key of an image build, and which repository files a build sees.

tests/node/images.py names each image by `cache_key(...)`; tests/unit/packaging covers it.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path


def cache_key(
    *,
    recipe: bytes,
    files: Mapping[str, bytes],
    build_args: Mapping[str, str],
    base_keys: Mapping[str, str],
) -> str:
    """SHA-256 (hex) over a build's recipe, its context files (path → content digest), arguments
    and the keys of the images it starts from; any change to one of them changes the key.
    """
    digest = hashlib.sha256()

    def feed(tag: str, value: bytes) -> None:
        # Length-prefixed, so no two different inputs concatenate to the same bytes.
        for part in (tag.encode(), value):
            digest.update(len(part).to_bytes(8, "big"))
            digest.update(part)

    feed("recipe", recipe)
    for path in sorted(files):
        feed(f"file:{path}", files[path])
    for name in sorted(build_args):
        feed(f"arg:{name}", build_args[name].encode())
    for name in sorted(base_keys):
        feed(f"base:{name}", base_keys[name].encode())
    return digest.hexdigest()


def file_inputs(files: Mapping[str, Path]) -> dict[str, bytes]:
    """Context path → SHA-256 of the working-tree content, with the executable bit (COPY keeps it)."""
    out: dict[str, bytes] = {}
    for name, path in files.items():
        mode = b"x" if path.stat().st_mode & 0o111 else b"-"
        out[name] = mode + hashlib.sha256(path.read_bytes()).digest()
    return out


def dockerignore_patterns(text: str) -> list[tuple[re.Pattern[str], bool]]:
    """A .dockerignore as (pattern, excludes) pairs in file order; `!` lines re-include."""
    patterns = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        line = line.lstrip("!").strip().strip("/")
        patterns.append((re.compile(_glob_regex(line)), excludes))
    return patterns


def _glob_regex(glob: str) -> str:
    """Docker's path globbing: `**` spans directories, `*` and `?` stay within one."""
    out, i = [], 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def is_ignored(path: str, patterns: list[tuple[re.Pattern[str], bool]]) -> bool:
    """Whether Docker leaves `path` out of the context: the last pattern that matches it or one
    of its parent directories decides.
    """
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern, excludes in patterns:
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            ignored = excludes
    return ignored


def context_files(listed: Iterable[str], patterns: list[tuple[re.Pattern[str], bool]]) -> list[str]:
    """The listed repository paths a build context keeps, sorted."""
    return sorted(p for p in listed if not is_ignored(p, patterns))


def project_files(root: Path) -> dict[str, Path]:
    """The repository files a project image's build sees: git's view of the working tree
    (tracked files and new files not yet added, never what .gitignore ignores), filtered by the
    .dockerignore, plus the .dockerignore itself. Contents are the working tree's.
    """
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        capture_output=True, check=True, timeout=60,
    ).stdout.decode().split("\0")  # fmt: skip
    patterns = dockerignore_patterns((root / ".dockerignore").read_text())
    chosen = context_files((p for p in listed if p), patterns)
    return {p: root / p for p in [*chosen, ".dockerignore"] if (root / p).is_file()}
