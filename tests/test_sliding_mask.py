"""The sliding-window mask of a prefill (issue 12, l12small): transformers 5.25 masking_utils ``sdpa_mask`` evaluates
the index-based mask function on (1, 1, q, kv) indices and expands it over the batch (``_non_vmap_expansion_sdpa``,
``attention_mask.expand(batch_size, ...)``): one sequence's bool ``q x kv``, the batch a view. A 2D padding mask
would index the batch (``padding_mask_function``), but generate drops an all-ones attention_mask
(generation/utils.py) and forward / prefill pass none. Eager's ``torch.where(mask, 0, min)`` writes the expanded
shape: ``batch x q x kv`` in the model dtype."""

from __future__ import annotations

from typing import Any

from memfit.memory.runtimes.transformers import _mask_bytes
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

# a tiny Gemma 3 text model: 2 layers, window 4 (shorter than the 16-token prompt)
TINY: dict[str, Any] = dict(
    model_type="gemma3_text",
    vocab_size=100,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_key_value_heads=1,
    head_dim=16,
    sliding_window=4,
)


def test_sdpa_sliding_mask_is_one_sequence() -> None:
    spec = spec_from_config(dict(TINY), "tiny-gemma3")
    sdpa = Workload(mode="inference", context=16, batch=3, task="generate", new_tokens=4, attn="sdpa")
    # 16 x 16 bool = 256 B whatever the batch (the old code: 3 x 16 x 16 = 768 B); a later chunk of 8 queries over
    # 24 keys: 8 x 24 = 192 B
    assert _mask_bytes(spec, sdpa, 3, 16, 2) == 256
    assert _mask_bytes(spec, sdpa, 3, 8, 2, 24) == 192
    # eager: the additive bf16 mask over the batch, 3 x 16 x 16 x 2 = 1,536 B (unchanged)
    eager = Workload(mode="inference", context=16, batch=3, task="generate", new_tokens=4, attn="eager")
    assert _mask_bytes(spec, eager, 3, 16, 2) == 1_536


def test_transformers_builds_one_sequence() -> None:
    """The same sizes from transformers' own masking_utils (real tensors on the CPU)."""
    import pytest

    torch = pytest.importorskip("torch")
    mu = pytest.importorskip("transformers.masking_utils")
    fn = mu.sliding_window_causal_mask_function(4)
    mask = mu.sdpa_mask(batch_size=3, q_length=16, kv_length=16, mask_function=fn, local_size=4)
    assert (tuple(mask.shape), mask.stride()[0], mask.untyped_storage().nbytes()) == ((3, 1, 16, 16), 0, 256)
    eager = mu.eager_mask(batch_size=3, q_length=16, kv_length=16, mask_function=fn, dtype=torch.bfloat16)
    assert eager.untyped_storage().nbytes() == 1_536
