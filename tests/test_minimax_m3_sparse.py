"""MiniMax-M3's ``minimax_m3_sparse`` layers (transformers 5.25 ``models/minimax_m3_vl/modeling_minimax_m3_vl.py``:
``MiniMaxM3VLIndexer`` and, under eager / SDPA, ``build_block_mask``'s dense additive mask) in inference (issue 12,
l12indexer), found on the development case minimax-m3-vl-text-sparse-l2/gen-b1-s3000-new8 (sweep-dev.jsonl: a full
and a sparse layer). Before, memfit read every layer as full attention: -8.07 % allocated, -9.96 % device total."""

from __future__ import annotations

from pathlib import Path

import pytest

from _simulated import case_errors, counting_allocs, records
from memfit.memory.kv_cache import kv_bytes_per_token
from memfit.memory.runtimes.transformers_pool import transformers_pool
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

DEV = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "minimax-m3-vl-text-sparse-l2/gen-b1-s3000-new8"


def _config() -> dict[str, object]:
    config = next(r for r in records(DEV) if r.get("case") == CASE)["config"]
    assert isinstance(config, dict)
    return config


def test_sparse_layers_read_from_layer_types() -> None:
    """MiniMaxM3VLAttention.__init__ builds the indexer where ``layer_types[i] == "minimax_m3_sparse"``: 4 heads of
    128, blocks of 128 keys, 16 blocks kept (MiniMaxM3VLTextConfig's defaults)."""
    full, sparse = (x.attention for x in spec_from_config(_config(), "m3-sparse").layers)
    assert full is not None and sparse is not None
    assert (full.index_heads, full.index_block) == (0, 0)
    assert (sparse.index_heads, sparse.index_head_dim, sparse.index_topk, sparse.index_block) == (4, 128, 16, 128)


def test_cache_holds_the_indexer_key() -> None:
    """MiniMaxM3VLSparseCacheLayer.update_index: one 128-wide key per token in bf16 beside K and V: full layer
    2 × 4 heads × 128 × 2 B = 2,048 B, sparse layer 2,048 + 256 B."""
    assert kv_bytes_per_token(spec_from_config(_config(), "m3-sparse")) == 2_048 + 2_304


def test_block_mask_replayed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool (at the grid context 3,072): build_block_mask's ``torch.zeros`` and the additive mask, 1 × 64 heads
    × 3,072² × 2 B = 1,207,959,552 B each, and three bool tensors of 603,979,776 B (the selection repeated to every
    head, ``keep``, ``~keep``); once, in the prefill's sparse layer."""
    asked = counting_allocs(monkeypatch)
    wl = Workload(mode="inference", task="generate", batch=1, context=3000, new_tokens=8, dtype="bfloat16").validate()
    transformers_pool(spec_from_config(_config(), "m3-sparse"), wl, 0)
    assert (asked[1_207_959_552], asked[603_979_776]) == (2, 3)


def test_development_case() -> None:
    allocated, total = case_errors(DEV, CASE)
    assert abs(allocated) < 0.001  # -8.07 % before
    assert abs(total) < 0.005  # -9.96 % before
