"""`files:` sources stay inside the manifest's directory: `..`, `~`, absolute paths and symlinks."""

from __future__ import annotations

from pathlib import Path

import pytest

from switchboard_api.egress import EgressPolicy
from switchboard_api.knowledgebase import FilesSource, KnowledgeSource
from switchboard_api.manifests import ManifestError, load_manifests
from switchboard_indexer.sources import SourceError, SourceReader

pytestmark = pytest.mark.unit

MANIFEST = """\
apiVersion: switchboard.dev/v1alpha1
kind: KnowledgeBase
metadata: {{name: handbook, namespace: acme}}
spec:
  sources:
    - name: docs
      files: {{path: {path!r}, pattern: {pattern!r}}}
"""


def layout(tmp_path: Path) -> tuple[Path, Path]:
    """`project/` with a manifest directory holding docs, and a secret file beside it."""
    project = tmp_path / "project"
    (project / "docs").mkdir(parents=True)
    (project / "docs" / "hours.md").write_text("We open at nine.")
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0")
    return project, secret


def read(project: Path, path: str, pattern: str = "**/*") -> list[str]:
    source = KnowledgeSource(name="docs", files=FilesSource(path=path, pattern=pattern))
    reader = SourceReader(max_bytes=100_000, egress=EgressPolicy(), base_dir=project)
    documents, _ = reader.read(source)
    return [d.name for d in documents]


def manifest(project: Path, path: str, pattern: str = "**/*") -> Path:
    file = project / "kb.yaml"
    file.write_text(MANIFEST.format(path=path, pattern=pattern))
    return file


def test_files_inside_the_manifest_directory_are_read(tmp_path: Path) -> None:
    project, _ = layout(tmp_path)
    assert read(project, "docs") == ["hours.md"]
    assert read(project, str(project / "docs")) == ["hours.md"], "absolute but inside"
    assert len(load_manifests([manifest(project, "docs")])) == 1


@pytest.mark.parametrize(
    ("path", "pattern", "problem"),
    [
        ("../secret.txt", "**/*", "files.path may not contain '..'"),
        ("docs/../../secret.txt", "**/*", "files.path may not contain '..'"),
        ("~/.ssh", "**/*", "start with '~'"),
        ("docs", "../../*", "files.pattern must be relative"),
        ("docs", "/etc/*", "files.pattern must be relative"),
    ],
)
def test_paths_and_patterns_that_climb_out_are_refused_at_validation(
    tmp_path: Path, path: str, pattern: str, problem: str
) -> None:
    project, _ = layout(tmp_path)
    file = manifest(project, path, pattern)
    with pytest.raises(ManifestError, match=problem) as raised:
        load_manifests([file])
    assert str(file) in str(raised.value)
    assert "spec.sources[0].files" in str(raised.value)


def test_an_absolute_path_outside_the_directory_is_refused_naming_file_and_field(
    tmp_path: Path,
) -> None:
    project, secret = layout(tmp_path)
    file = manifest(project, "/etc")
    with pytest.raises(ManifestError) as raised:
        load_manifests([file])
    message = str(raised.value)
    assert str(file) in message
    assert "spec.sources[0].files.path" in message
    assert "outside the manifest's directory" in message
    with pytest.raises(SourceError, match="outside the manifest's directory"):
        read(project, str(secret))


def test_a_symlinked_path_that_leaves_the_directory_is_refused(tmp_path: Path) -> None:
    project, _ = layout(tmp_path)
    (project / "leak").symlink_to(tmp_path)
    with pytest.raises(ManifestError, match=r"spec\.sources\[0\]\.files\.path.*outside"):
        load_manifests([manifest(project, "leak")])
    with pytest.raises(SourceError, match="outside the manifest's directory"):
        read(project, "leak")


def test_a_symlink_inside_a_directory_that_points_out_refuses_the_source(tmp_path: Path) -> None:
    project, secret = layout(tmp_path)
    (project / "docs" / "passwd.md").symlink_to(secret)
    with pytest.raises(SourceError, match=r"passwd\.md resolves to .*secret\.txt, outside"):
        read(project, "docs")


def test_a_symlink_that_stays_inside_the_directory_is_read(tmp_path: Path) -> None:
    project, _ = layout(tmp_path)
    (project / "docs" / "opening.md").symlink_to(project / "docs" / "hours.md")
    assert read(project, "docs") == ["hours.md", "opening.md"]
