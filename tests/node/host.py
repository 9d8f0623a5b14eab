"""What the single-node cluster changes on the host, recorded before it starts and undone after.

The kubelet, kube-proxy, the CNI plugins and containerd change kernel settings, netfilter rules,
links, mounts and cgroups of the machine. `record_baseline` writes what the host had; `restore`
puts it back and removes everything the cluster made, so a later run (or anything else on the
machine) finds the host as it was. Both are safe to call more than once.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

#: Kernel settings the kubelet, kube-proxy or the CNI bridge plugin change.
SYSCTLS = (
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.route_localnet",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    "net.netfilter.nf_conntrack_max",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
)
#: Links the cluster creates: the node's bridge and the pods' bridge (veths hang off it).
NODE_BRIDGE, POD_BRIDGE = "sb-node0", "sb-cni0"
#: Paths outside the work directory that the kubelet, containerd or CNI create.
HOST_PATHS = (
    "/run/containerd",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/kubelet",
    "/var/lib/cni",
    "/run/netns",
    "/var/run/netns",
)
CGROUP_ROOT = Path("/sys/fs/cgroup")
CGROUP_NAMES = ("kubepods", "kubepods.slice", "k8s.io", "default")


def _run(*args: str, check: bool = False, input_text: str | None = None) -> str:
    done = subprocess.run(
        args, capture_output=True, text=True, check=check, input=input_text, timeout=60
    )
    return done.stdout


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def record_baseline(path: Path) -> None:
    """Write the host's sysctls and netfilter ruleset, unless a baseline is already there.

    An existing baseline belongs to a run that never restored it (killed): it describes the
    host before that run, so it is kept.
    """
    if path.exists():
        return
    sysctls = {}
    for name in SYSCTLS:
        try:
            sysctls[name] = _sysctl_path(name).read_text().strip()
        except OSError:
            continue
    ruleset = _run("nft", "list", "ruleset") if shutil.which("nft") else ""
    existing = [p for p in HOST_PATHS if os.path.lexists(p)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"sysctls": sysctls, "nft_ruleset": ruleset, "paths": existing}))


def kill_matching(pattern: str) -> None:
    """SIGKILL leftover processes whose command line contains `pattern` (container shims)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if pattern in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(proc.name), signal.SIGKILL)


def unmount_under(*prefixes: str) -> None:
    """Lazily unmount every mount point below the prefixes, deepest first."""
    mounts = [line.split()[1] for line in Path("/proc/self/mounts").read_text().splitlines()]
    for point in sorted((m for m in mounts if m.startswith(prefixes)), reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, timeout=30, check=False)


def remove_links() -> None:
    """Delete the pods' veths, the pod bridge and the node bridge."""
    for line in _run("ip", "-o", "link", "show", "master", POD_BRIDGE).splitlines():
        link = line.split(": ")[1].split("@")[0]
        _run("ip", "link", "del", link)
    for bridge in (POD_BRIDGE, NODE_BRIDGE):
        _run("ip", "link", "del", bridge)


def remove_cgroups() -> list[str]:
    """Remove the kubelet's and containerd's cgroups (deepest first); return what is left."""
    left = []
    for controller in CGROUP_ROOT.iterdir() if CGROUP_ROOT.exists() else []:
        for name in CGROUP_NAMES:
            top = controller / name
            if not top.is_dir():
                continue
            for directory in sorted(top.rglob("*"), key=lambda p: -len(p.parts)):
                if directory.is_dir():
                    _rmdir(directory)
            if not _rmdir(top):
                left.append(str(top))
    return left


def _rmdir(directory: Path) -> bool:
    try:
        directory.rmdir()
        return True
    except FileNotFoundError:
        return True
    except OSError:
        return False


def restore(path: Path) -> list[str]:
    """Put back the recorded sysctls and netfilter ruleset, remove links, host paths, cgroups.

    Returns what could not be undone (empty when the host is as it was). The baseline file is
    removed only when everything was restored.
    """
    problems: list[str] = []
    remove_links()
    baseline = json.loads(path.read_text()) if path.exists() else None
    if baseline is not None and shutil.which("nft"):
        _run("nft", "flush", "ruleset")
        if baseline["nft_ruleset"].strip():
            _run("nft", "-f", "-", input_text=baseline["nft_ruleset"])
    kept = set((baseline or {}).get("paths", HOST_PATHS))
    for host_path in set(HOST_PATHS) - kept:
        target = Path(host_path)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
    problems += [f"cgroup left: {c}" for c in remove_cgroups()]
    for name, value in (baseline or {}).get("sysctls", {}).items():
        try:
            if _sysctl_path(name).read_text().strip() != value:
                _sysctl_path(name).write_text(value)
        except OSError as error:
            problems.append(f"sysctl {name}: {error}")
    if baseline is not None and not problems:
        path.unlink()
    return problems
