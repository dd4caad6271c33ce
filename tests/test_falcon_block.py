"""Falcon's prefill as the caching allocator sees it (issue 12, l12sweep2; from the simulator's trace of the
development case falcon-default-l3/gen-b2-s2048-new8 in sweep-dev.jsonl, device total -5.70 % before): transformers
5.25 ``FalconModel.forward`` builds the causal mask with ``allow_is_causal_skip=False`` (SDPA then takes the
memory-efficient kernel with the mask made additive); with one K/V head (multi-query) ``repeat_kv`` is a view, not a
copy; and ``FalconDecoderLayer.forward``'s parallel block reads one norm for attention and MLP and adds the attention's
output into the MLP's in place (``mlp_output += attention_output``) before ``dropout_add`` makes the new residual."""

from __future__ import annotations

import json
from pathlib import Path

from memfit.memory.runtimes.transformers import _mask_bytes, _needs_repeat_kv
from memfit.sources.hf_config import spec_from_config
from memfit.spec import AttentionSpec
from memfit.validate import _predict, measured_total, prior_bytes
from memfit.workload import Workload

CASES = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"
FALCON = {"model_type": "falcon", "hidden_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
          "vocab_size": 1000, "multi_query": True, "parallel_attn": True, "new_decoder_architecture": False,
          "ffn_hidden_size": 1024, "alibi": False, "bias": False, "max_position_embeddings": 2048}


def test_falcon_always_builds_the_mask() -> None:
    spec = spec_from_config(FALCON, "falcon-tiny")
    wl = Workload(mode="inference", task="generate", batch=2, context=512, new_tokens=8).validate()
    assert _mask_bytes(spec, wl, 2, 512, 2) == 2 * 512 * 512  # a bool b x 1 x s x s mask
    llama = dict(FALCON, model_type="llama", intermediate_size=1024, num_key_value_heads=1)
    assert _mask_bytes(spec_from_config(llama, "llama-tiny"), wl, 2, 512, 2) == 0  # is_causal, no mask


def test_one_kv_head_is_not_copied_under_a_mask() -> None:
    sdpa = Workload(mode="inference", task="prefill", batch=1, context=64).validate()
    eager = Workload(mode="inference", task="prefill", batch=1, context=64, attn="eager").validate()
    mqa, gqa = AttentionSpec(8, 1, 64), AttentionSpec(8, 2, 64)
    assert not _needs_repeat_kv(mqa, sdpa, masked=True)  # (b, 1, 8, s, d) -> (b, 8, s, d): a view
    assert _needs_repeat_kv(gqa, sdpa, masked=True)  # (b, 2, 4, s, d) -> (b, 8, s, d): a copy
    assert _needs_repeat_kv(mqa, eager, masked=True)  # eager's matmul copies the broadcast K anyway
    assert not _needs_repeat_kv(gqa, sdpa, masked=False)  # enable_gqa


def test_development_case_against_the_simulator() -> None:
    rec = next(r for r in map(json.loads, CASES.read_text().splitlines()) if r.get("model") == "falcon-default-l3")
    allocated, total, why = _predict(rec)
    measured = measured_total(rec, prior_bytes(rec))
    assert allocated is not None and total is not None and measured is not None, why
    assert abs(allocated / rec["peak_alloc"] - 1) < 0.005
    assert abs(total / measured - 1) < 0.005  # was -5.70 %
