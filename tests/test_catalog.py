"""The bundled catalog: every row has a source, ids are unique, overrides say where they come from."""

from __future__ import annotations

import memfit
from memfit.sources.catalog import catalog, catalog_config


def test_rows_have_sources_and_unique_ids() -> None:
    rows = catalog()
    assert len(rows) >= 62
    keys = [k for e in rows for k in (e.id, *e.aliases)]
    assert len(keys) == len(set(keys))
    for e in rows:
        assert e.source and e.repo
        assert not e.overrides or e.overrides_source, f"{e.id}: overrides without a source"
        _, cfg = catalog_config(e.id)
        assert cfg.get("model_type"), e.id


def test_gpt_oss_defaults_to_its_published_mxfp4_checkpoint() -> None:
    """The collected gpt-oss-20b config lacks the Hub file's quantization_config; the catalog override restores
    it, so the default weights are MXFP4 experts + bf16 rest, not fp32 (the config has no torch_dtype)."""
    spec = memfit.load_model("gpt-oss-20b")
    assert spec.quantization == "mxfp4" and spec.dtype == "bfloat16"
    est = memfit.estimate("gpt-oss-20b")
    assert est.dtype == "mxfp4"
    assert est.total_bytes == memfit.estimate("gpt-oss-20b", dtype="mxfp4").total_bytes
    # at most a third of bf16: only the experts (most of the weights) are 4.25-bit
    assert est.total_bytes < memfit.estimate("gpt-oss-20b", dtype="bf16").total_bytes / 3


def test_dropped_keys_have_a_source_and_are_gone() -> None:
    """mlc-ai's presets add prefill_chunk_size, which transformers 5 would honour (generate prefilling in chunks);
    the Hub checkpoints the rows name carry no such key, so the catalog drops it."""
    for e in catalog():
        assert not e.drop or e.drop_source, f"{e.id}: drop without a source"
        _, cfg = catalog_config(e.id)
        assert not set(e.drop) & set(cfg), e.id
    spec = memfit.load_model("llama-2-70b")
    assert spec.prefill_chunk_size == 0 and spec.max_position_embeddings == 4096
    assert memfit.load_model("codellama-34b").prefill_chunk_size == 0
