"""The shipped meta-device builds (``data/catalog_tensors.json.gz``, from ``tools/gen_catalog_tensors.py``) cover
every catalog model on the generic path and are what transformers builds (checked where it is installed)."""

from __future__ import annotations

import pytest

from memfit.sources import meta_build as mb
from memfit.sources.catalog import catalog
from memfit.sources.generic_tensors import GenericTensors, build_key
from memfit.sources.loader import load_model


def _generic() -> list[str]:
    return [e.id for e in catalog() if isinstance(load_model(e.id).tensor_source, GenericTensors)]


def test_every_generic_catalog_model_is_shipped() -> None:
    missing = [m for m in _generic() if mb.shipped(build_key(load_model(m))[1]) is None]
    assert not missing, f"run tools/gen_catalog_tensors.py: {missing}"


def test_a_config_not_in_the_table_is_not_found() -> None:
    assert mb.shipped('{"model_type": "llama", "hidden_size": 64}') is None


@pytest.mark.parametrize("model_id", ["qwen3-vl-2b-instruct", "nemotron-3-nano-30b-a3b", "glm-4.7-flash"])
def test_shipped_builds_are_what_transformers_builds(model_id: str) -> None:
    pytest.importorskip("transformers")
    _key, text, approx, modules = build_key(load_model(model_id))
    shipped = mb.shipped(text)
    with mb.shipped_disabled():
        built = mb.meta_build.__wrapped__(text, approx, modules)
    assert built.ok and shipped is not None
    assert shipped.tensors == built.tensors
