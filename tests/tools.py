"""Where the test tools live: binaries .ci/bootstrap builds or installs, by pinned version.

A missing tool fails the test that needs it with the command that provides it; nothing skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def _versions() -> dict[str, str]:
    pairs = {}
    for line in (REPO_ROOT / ".ci" / "tool-versions.env").read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            pairs[key] = value
    return pairs


VERSIONS = _versions()


def _origin_checkout() -> Path | None:
    """The checkout this one was cloned from, when that is a local path."""
    try:
        url = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    path = Path(url.removeprefix("file://"))
    return path if path.is_absolute() and path.is_dir() else None


def shared_dir(containing: str) -> Path:
    """The `shared` directory (fixtures, tools) that holds `containing`.

    `../shared` is looked up beside this checkout, then beside the checkout it was cloned from
    (a fresh clone in a temporary directory); `SWITCHBOARD_SHARED_DIR` overrides both. When
    none holds it, the first candidate is returned, so the caller's error names a real path.
    """
    if configured := os.environ.get("SWITCHBOARD_SHARED_DIR"):
        return Path(configured)
    origin = _origin_checkout()
    candidates = [REPO_ROOT.parent / "shared", *([origin.parent / "shared"] if origin else [])]
    return next((c for c in candidates if (c / containing).exists()), candidates[0])


def cache_dir() -> Path:
    """`~/.cache/switchboard` unless `SWITCHBOARD_CACHE` says otherwise."""
    return Path(os.environ.get("SWITCHBOARD_CACHE", Path.home() / ".cache" / "switchboard"))


def in_ci() -> bool:
    """True under CI (`CI=true`), where a check that cannot run must fail, not skip."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _found(path: Path | None, what: str) -> Path:
    if path is None or not path.exists():
        raise FileNotFoundError(f"{what} is missing: run `bash .ci/bootstrap` first")
    return path


def helm_binary() -> Path:
    """helm, built from Go modules into the cache by .ci/bootstrap (`SWITCHBOARD_HELM` wins)."""
    if configured := os.environ.get("SWITCHBOARD_HELM"):
        return _found(Path(configured), configured)
    version = VERSIONS["HELM_VERSION"]
    return _found(cache_dir() / "bin" / f"helm-{version}", f"helm {version}")


def checkov_binary() -> Path:
    """checkov, in its own virtualenv in the cache (its pins clash with Ray's)."""
    version = VERSIONS["CHECKOV_VERSION"]
    return _found(cache_dir() / f"checkov-{version}" / "bin" / "checkov", f"checkov {version}")


def terraform_binary() -> Path | None:
    """`tofu` or `terraform` on PATH, if this machine has one (None otherwise)."""
    found = shutil.which("tofu") or shutil.which("terraform")
    return Path(found) if found else None


#: The Kubernetes version offline renders target (the test API server's minor version).
KUBERNETES_VERSION = "1.34.0"


def helm_command(*args: str) -> list[str]:
    """A helm command line; offline `template`/`lint` target `KUBERNETES_VERSION`.

    (A helm built with `go install` defaults to Kubernetes v1.20 without a cluster to ask.)
    """
    offline = (
        ["--kube-version", KUBERNETES_VERSION] if args and args[0] in {"template", "lint"} else []
    )
    return [str(helm_binary()), *args, *offline]
