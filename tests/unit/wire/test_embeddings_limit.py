"""The embeddings batch bound is one number on both sides of the wire."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from switchboard_api.knowledgebase import EmbeddingSpec
from switchboard_indexer.embedding import MAX_BATCH
from switchboard_serve.limits import EMBED_MAX_INPUTS
from switchboard_wire.embeddings import EMBEDDINGS_MAX_INPUTS

pytestmark = pytest.mark.unit


def test_the_api_the_indexer_and_the_model_plane_agree_on_inputs_per_request() -> None:
    assert MAX_BATCH == EMBED_MAX_INPUTS == EMBEDDINGS_MAX_INPUTS
    assert EmbeddingSpec(batch_size=EMBEDDINGS_MAX_INPUTS).batch_size == EMBEDDINGS_MAX_INPUTS
    with pytest.raises(ValidationError, match="less than or equal to 64"):
        EmbeddingSpec(batch_size=EMBEDDINGS_MAX_INPUTS + 1)
