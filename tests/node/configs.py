"""Configuration files and command lines of the node's components (pure: paths in, text out)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from tests.node.pki import Pki

NODE_IP = "10.77.0.1"
API_PORT = 16443
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
CLUSTER_DOMAIN = "cluster.local"
ETCD_CLIENT, ETCD_PEER = "http://127.0.0.1:23791", "http://127.0.0.1:23801"
CNI_BIN_DIR = "/usr/lib/cni"
#: containerd's sandbox image: built here (no registry), see tests/node/images.py.
PAUSE_IMAGE = "registry.k8s.io/pause:3.10.1"


def etcd_command(bins: Path, state: Path) -> list[str]:
    """etcd on loopback; fsync off (a throw-away cluster on a shared disk)."""
    return [
        str(bins / "etcd"),
        "--name=node",
        f"--data-dir={state / 'etcd'}",
        f"--listen-client-urls={ETCD_CLIENT}",
        f"--advertise-client-urls={ETCD_CLIENT}",
        f"--listen-peer-urls={ETCD_PEER}",
        f"--initial-advertise-peer-urls={ETCD_PEER}",
        f"--initial-cluster=node={ETCD_PEER}",
        "--unsafe-no-fsync",
        "--log-level=warn",
    ]


def apiserver_command(bins: Path, state: Path, pki: Pki) -> list[str]:
    """kube-apiserver on the node address, with Node+RBAC authorisation like a real cluster."""
    return [
        str(bins / "kube-apiserver"),
        f"--etcd-servers={ETCD_CLIENT}",
        f"--bind-address={NODE_IP}",
        f"--advertise-address={NODE_IP}",
        f"--secure-port={API_PORT}",
        f"--cert-dir={state / 'apiserver-certs'}",
        f"--tls-cert-file={pki.path('apiserver.crt')}",
        f"--tls-private-key-file={pki.path('apiserver.key')}",
        f"--client-ca-file={pki.path('ca.crt')}",
        f"--kubelet-client-certificate={pki.path('apiserver-kubelet-client.crt')}",
        f"--kubelet-client-key={pki.path('apiserver-kubelet-client.key')}",
        f"--kubelet-certificate-authority={pki.path('ca.crt')}",
        "--kubelet-preferred-address-types=InternalIP",
        "--authorization-mode=Node,RBAC",
        f"--service-account-key-file={pki.path('sa.pub')}",
        f"--service-account-signing-key-file={pki.path('sa.key')}",
        "--service-account-issuer=https://kubernetes.default.svc",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        "--v=1",
    ]


def kcm_command(bins: Path, pki: Pki) -> list[str]:
    """kube-controller-manager: Deployments, Jobs, endpoints, ServiceAccount tokens, GC."""
    kubeconfig = pki.path("kcm.kubeconfig")
    return [
        str(bins / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--secure-port=10257",
        "--leader-elect=false",
        "--use-service-account-credentials=true",
        f"--service-account-private-key-file={pki.path('sa.key')}",
        f"--root-ca-file={pki.path('ca.crt')}",
        f"--cluster-signing-cert-file={pki.path('ca.crt')}",
        f"--cluster-signing-key-file={pki.path('ca.key')}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allocate-node-cidrs=false",
        "--v=1",
    ]


def scheduler_command(bins: Path, pki: Pki) -> list[str]:
    """kube-scheduler."""
    kubeconfig = pki.path("scheduler.kubeconfig")
    return [
        str(bins / "kube-scheduler"),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--bind-address=127.0.0.1",
        "--secure-port=10259",
        "--leader-elect=false",
        "--v=1",
    ]


def write_kubelet_config(work: Path, state: Path, pki: Pki, socket: Path) -> Path:
    """The kubelet's configuration: cgroupfs on this cgroup v1 host, our containerd, cluster DNS."""
    config = {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(pki.path("ca.crt"))},
        },
        "authorization": {"mode": "Webhook"},
        "address": NODE_IP,
        "port": 10250,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": 10248,
        "tlsCertFile": str(pki.path("kubelet.crt")),
        "tlsPrivateKeyFile": str(pki.path("kubelet.key")),
        # This host mounts cgroup v1 (hybrid) and has no systemd; 1.35 would refuse v1 by default.
        "cgroupDriver": "cgroupfs",
        "failCgroupV1": False,
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{socket}",
        "clusterDomain": CLUSTER_DOMAIN,
        "clusterDNS": [DNS_SERVICE_IP],
        "resolvConf": "/etc/resolv.conf",
        "podLogsDirectory": str(state / "pod-logs"),
        "volumePluginDir": str(state / "kubelet-volume-plugins"),
        # A shared CI disk is often fuller than the defaults allow; nothing is evicted for it.
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "imagefs.available": "1%",
            "nodefs.inodesFree": "1%",
        },
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "maxPods": 60,
    }
    path = work / "cfg" / "kubelet.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def kubelet_command(bins: Path, state: Path, pki: Pki, config: Path, node_name: str) -> list[str]:
    """The kubelet, registering the node under `node_name` on the node address."""
    return [
        str(bins / "kubelet"),
        f"--config={config}",
        f"--kubeconfig={pki.path('kubelet.kubeconfig')}",
        f"--root-dir={state / 'kubelet'}",
        f"--hostname-override={node_name}",
        f"--node-ip={NODE_IP}",
        "--v=1",
    ]


def write_proxy_config(work: Path, pki: Pki) -> Path:
    """kube-proxy in iptables mode, NodePorts on the node address only."""
    config = {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(pki.path("proxy.kubeconfig"))},
        "mode": "iptables",
        "bindAddress": NODE_IP,
        "clusterCIDR": POD_CIDR,
        "metricsBindAddress": "127.0.0.1:10249",
        "healthzBindAddress": "127.0.0.1:10256",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "iptables": {"localhostNodePorts": False},
        # Leave the host's conntrack limits alone.
        "conntrack": {
            "maxPerCore": 0,
            "min": 0,
            "tcpEstablishedTimeout": "0s",
            "tcpCloseWaitTimeout": "0s",
        },
    }
    path = work / "cfg" / "kube-proxy.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def proxy_command(bins: Path, config: Path) -> list[str]:
    """kube-proxy."""
    return [str(bins / "kube-proxy"), f"--config={config}", "--v=1"]


def coredns_command(bins: Path, work: Path, pki: Pki) -> list[str]:
    """CoreDNS on the node address, answering for the cluster domain from the API server."""
    corefile = work / "cfg" / "Corefile"
    corefile.write_text(
        f""".:53 {{
    bind {NODE_IP}
    errors
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {pki.path("admin.kubeconfig")} node
        pods insecure
    }}
    cache 5
}}
"""
    )
    return [str(bins / "coredns"), "-conf", str(corefile)]


def write_dns_service(work: Path) -> Path:
    """`kube-dns`: a selector-less Service at the DNS address whose endpoint is the host CoreDNS."""
    ports = [
        {"name": "dns", "port": 53, "protocol": "UDP"},
        {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
    ]
    documents = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kube-dns", "namespace": "kube-system"},
            "spec": {"clusterIP": DNS_SERVICE_IP, "ports": ports},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": "kube-dns-host",
                "namespace": "kube-system",
                "labels": {"kubernetes.io/service-name": "kube-dns"},
            },
            "addressType": "IPv4",
            "endpoints": [{"addresses": [NODE_IP], "conditions": {"ready": True}}],
            "ports": ports,
        },
    ]
    path = work / "cfg" / "kube-dns.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return path


def write_cni_config(work: Path, state: Path) -> Path:
    """A bridge network for pods (hairpin on: a pod may reach itself through its Service)."""
    conflist = {
        "cniVersion": "1.0.0",
        "name": "switchboard-node",
        "plugins": [
            {
                "type": "bridge",
                "bridge": "sb-cni0",
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_CIDR}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                    "dataDir": str(state / "cni-ipam"),
                },
            },
            {"type": "portmap", "capabilities": {"portMappings": True}},
        ],
    }
    path = work / "cni" / "10-switchboard.conflist"
    path.parent.mkdir(parents=True, exist_ok=True)
    for stale in path.parent.glob("*"):
        stale.unlink()
    path.write_text(json.dumps(conflist))
    return path


def write_containerd_config(work: Path, state: Path, default: str) -> Path:
    """containerd's own default configuration with every path under `state`.

    `restrict_oom_score_adj`: this VM drops CAP_SYS_RESOURCE, so runc cannot lower a sandbox's
    oom_score_adj and every pod would fail to start.
    """
    root = state / "containerd"
    replacements = [
        ('root = "/var/lib/containerd"', f'root = "{root / "root"}"'),
        ('state = "/run/containerd"', f'state = "{root / "run"}"'),
        ('address = "/run/containerd/containerd.sock"', f'address = "{root / "containerd.sock"}"'),
        ('sandbox_image = "registry.k8s.io/pause:3.6"', f'sandbox_image = "{PAUSE_IMAGE}"'),
        ('bin_dir = "/opt/cni/bin"', f'bin_dir = "{CNI_BIN_DIR}"'),
        ('conf_dir = "/etc/cni/net.d"', f'conf_dir = "{work / "cni"}"'),
        ("restrict_oom_score_adj = false", "restrict_oom_score_adj = true"),
    ]
    for old, new in replacements:
        if old not in default:
            raise ValueError(f"containerd's default configuration changed: no {old!r}")
        default = default.replace(old, new, 1)
    path = state / "containerd.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(default)
    return path


def kuberay_command(bins: Path, kubeconfig: Path) -> list[str]:
    """KubeRay's operator out of the cluster: it reaches Ray dashboards through the API server's
    service proxy, since the host cannot resolve cluster DNS names."""
    return [
        str(bins / "ray-operator"),
        "--metrics-addr=0",
        "--health-probe-bind-address=127.0.0.1:18382",
        "--enable-leader-election=false",
        "--use-kubernetes-proxy",
        f"--kubeconfig={kubeconfig}",
    ]
