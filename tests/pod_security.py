"""Kubernetes Pod Security Standards, `restricted` profile (v1.34), as checks on a pod spec.

Encodes https://kubernetes.io/docs/concepts/security/pod-security-standards/ (baseline and
restricted controls) so that every pod template we render is checked without a cluster.
"""

from __future__ import annotations

from typing import Any

ALLOWED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
}  # fmt: skip
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}  # fmt: skip
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        *spec.get("initContainers", []),
        *spec.get("containers", []),
        *spec.get("ephemeralContainers", []),
    ]


def _seccomp_ok(context: dict[str, Any] | None) -> bool | None:
    kind = ((context or {}).get("seccompProfile") or {}).get("type")
    return None if kind is None else kind in {"RuntimeDefault", "Localhost"}


def restricted_violations(spec: dict[str, Any]) -> list[str]:
    """Every way `spec` (a PodSpec) breaks the restricted profile; empty when it complies."""
    problems: list[str] = []
    pod_ctx = spec.get("securityContext") or {}
    for host in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(host):
            problems.append(f"{host} is true")
    for volume in spec.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= ALLOWED_VOLUMES:
            problems.append(f"volume {volume['name']} uses {sorted(kinds - ALLOWED_VOLUMES)}")
    for sysctl in pod_ctx.get("sysctls", []):
        if sysctl["name"] not in SAFE_SYSCTLS:
            problems.append(f"unsafe sysctl {sysctl['name']}")
    if pod_ctx.get("runAsUser") == 0:
        problems.append("pod runAsUser is 0")
    pod_seccomp = _seccomp_ok(pod_ctx)
    if pod_seccomp is False:
        problems.append("pod seccompProfile is not RuntimeDefault/Localhost")
    if (pod_ctx.get("seLinuxOptions") or {}).get("type", "") not in SELINUX_TYPES:
        problems.append("pod SELinux type not allowed")
    for container in _containers(spec):
        name = container["name"]
        ctx = container.get("securityContext") or {}
        if ctx.get("privileged"):
            problems.append(f"{name}: privileged")
        if ctx.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation is not false")
        non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        if non_root is not True:
            problems.append(f"{name}: runAsNonRoot is not true (pod or container)")
        if ctx.get("runAsUser") == 0:
            problems.append(f"{name}: runAsUser is 0")
        seccomp = _seccomp_ok(ctx)
        if seccomp is False or (seccomp is None and pod_seccomp is not True):
            problems.append(
                f"{name}: no RuntimeDefault/Localhost seccompProfile (pod or container)"
            )
        capabilities = ctx.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            problems.append(f"{name}: capabilities do not drop ALL")
        if set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities beyond NET_BIND_SERVICE")
        if ctx.get("procMount", "Default") != "Default":
            problems.append(f"{name}: procMount is not Default")
        if (ctx.get("seLinuxOptions") or {}).get("type", "") not in SELINUX_TYPES:
            problems.append(f"{name}: SELinux type not allowed")
        if (ctx.get("appArmorProfile") or {}).get("type") == "Unconfined":
            problems.append(f"{name}: AppArmor unconfined")
        for port in container.get("ports", []):
            if port.get("hostPort"):
                problems.append(f"{name}: hostPort {port['hostPort']}")
    return problems


def pod_specs(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The pod specs inside a rendered object (Pod, workloads, CronJob, RayService groups)."""
    kind, spec = manifest.get("kind"), manifest.get("spec") or {}
    if kind == "Pod":
        return [spec]
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return [spec["template"]["spec"]]
    if kind == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if kind == "RayService":
        cluster = spec["rayClusterConfig"]
        groups = [cluster["headGroupSpec"], *cluster.get("workerGroupSpecs", [])]
        return [g["template"]["spec"] for g in groups]
    return []
