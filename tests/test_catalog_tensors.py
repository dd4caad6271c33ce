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


def _sample() -> list[str]:
    """Three generic-path catalog models, the smallest configs first (families gain builders over time)."""
    return sorted(_generic(), key=lambda m: len(build_key(load_model(m))[1]))[:3]


@pytest.mark.parametrize("index", range(3))
def test_shipped_builds_are_what_transformers_builds(index: int) -> None:
    pytest.importorskip("transformers")
    _key, text, approx, modules = build_key(load_model(_sample()[index]))
    shipped = mb.shipped(text)
    with mb.shipped_disabled():
        built = mb.meta_build.__wrapped__(text, approx, modules)
    assert built.ok and shipped is not None
    assert shipped.tensors == built.tensors
