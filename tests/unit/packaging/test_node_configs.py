"""The node tier's component configuration (tests/node/configs.py): pure rendering."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.node import configs
from tests.node.pki import make_pki

pytestmark = pytest.mark.unit

CONTAINERD_DEFAULT = """
root = "/var/lib/containerd"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  restrict_oom_score_adj = false
  sandbox_image = "registry.k8s.io/pause:3.6"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
"""


def test_containerd_keeps_all_its_state_under_the_work_directory(tmp_path: Path) -> None:
    path = configs.write_containerd_config(tmp_path, tmp_path / "state", CONTAINERD_DEFAULT)
    text = path.read_text()
    assert "/var/lib/containerd" not in text
    assert "/run/containerd" not in text
    assert "restrict_oom_score_adj = true" in text
    assert f'sandbox_image = "{configs.PAUSE_IMAGE}"' in text


def test_a_changed_containerd_default_is_refused_naming_what_is_missing(tmp_path: Path) -> None:
    drifted = CONTAINERD_DEFAULT.replace("restrict_oom_score_adj = false", "")
    with pytest.raises(ValueError, match="restrict_oom_score_adj"):
        configs.write_containerd_config(tmp_path, tmp_path / "state", drifted)


def test_the_kubelet_runs_on_cgroup_v1_with_cluster_dns(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki", "n", configs.NODE_IP, "10.96.0.1", "https://10.77.0.1:1")
    config = yaml.safe_load(
        configs.write_kubelet_config(tmp_path, tmp_path / "s", pki, tmp_path / "c.sock").read_text()
    )
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["failCgroupV1"] is False
    assert config["clusterDNS"] == [configs.DNS_SERVICE_IP]
    assert config["containerRuntimeEndpoint"] == f"unix://{tmp_path / 'c.sock'}"
    assert (tmp_path / "pki" / "admin.kubeconfig").stat().st_mode & 0o077 == 0
