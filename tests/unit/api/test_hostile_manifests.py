"""Hostile manifests get one clear error naming the file and the problem, quickly."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from switchboard_api.manifests import MAX_EXPANDED_NODES, ManifestError, load_manifests

pytestmark = pytest.mark.unit

AGENT = """apiVersion: switchboard.dev/v1alpha1
kind: VoiceAgent
metadata: {metadata}
spec:
  prompt: {{system: "Be brief."}}
"""

ALIAS_BOMB = """a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]
apiVersion: switchboard.dev/v1alpha1
kind: VoiceAgent
metadata: {name: bomb, namespace: acme, labels: {x: y}}
spec: {prompt: {system: "x"}, tools: [{name: t, description: d, parameters: {type: object, properties: {q: {type: string, enum: *h}}}, http: {url: "https://a.example/x"}}]}
"""

CASES: list[tuple[str, str | bytes, str]] = [
    ("duplicate-key", AGENT.format(metadata="{name: a, namespace: acme}") + "spec: {}\n",
     "duplicate key 'spec'"),
    ("duplicate-nested-key", AGENT.format(metadata="{name: a, name: b}"), "duplicate key 'name'"),
    ("alias-bomb", ALIAS_BOMB, f"beyond {MAX_EXPANDED_NODES} nodes"),
    ("missing-name", AGENT.format(metadata="{namespace: acme}"), "metadata.name is required"),
    ("path-name", AGENT.format(metadata="{name: ../../Etc_PASSWD}"), "DNS-1123 subdomain"),
    ("upper-name", AGENT.format(metadata="{name: Receptionist}"), "DNS-1123 subdomain"),
    ("bad-namespace", AGENT.format(metadata="{name: a, namespace: a.b}"), "DNS-1123 label"),
    ("metadata-string", AGENT.format(metadata='"str"'), "metadata must be a mapping"),
    ("deep-nesting", "a: " + "[" * 20_000 + "]" * 20_000 + "\n", "nested too deeply"),
    ("not-utf8", b"apiVersion: switchboard.dev/v1alpha1\nkind: \xff\xfe\n", "not UTF-8"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "content", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_hostile_manifest_gets_a_clear_error_naming_the_file(
    name: str, content: str | bytes, message: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    started = time.process_time()  # CPU time: wall time on a busy CI machine measures others

    with pytest.raises(ManifestError) as refused:
        load_manifests([path])

    assert str(path) in str(refused.value)
    assert message in str(refused.value)
    assert time.process_time() - started < 2.0


def test_anchors_that_stay_small_are_still_fine(tmp_path: Path) -> None:
    path = tmp_path / "anchors.yaml"
    path.write_text(
        "apiVersion: switchboard.dev/v1alpha1\nkind: VoiceAgent\n"
        "metadata: {name: a, namespace: acme}\n"
        'spec: {prompt: {system: &p "Be brief.", greeting: *p}}\n'
    )
    (loaded,) = load_manifests([path])
    assert loaded.resource.spec.prompt.greeting == "Be brief."  # type: ignore[union-attr]
