"""Apertus's MLP (issue 12, l12fresh): ``down(xielu(up(x)))`` with no gate, and transformers 5.25's Python xIELU
(``XIELUActivation._xielu_python``, used unless the xielu CUDA wheel is installed) keeps the bool mask and four
intermediate-sized temporaries beside fc's output. Found on the fresh blind apertus prefill (allocated -17.45 %),
moved to development (tests/data/simulated/fresh-dev.jsonl) before this was written."""

from __future__ import annotations

from memfit.inventory import inventory
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers import _ffn_transient
from memfit.memory.runtimes.transformers_pool_blocks import xielu_mlp
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

APERTUS = {"model_type": "apertus", "hidden_size": 256, "intermediate_size": 1024, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 1000, "hidden_act": "xielu",
           "max_position_embeddings": 4096}


def test_apertus_mlp_is_up_down_without_a_gate() -> None:
    spec = spec_from_config(APERTUS, "apertus-tiny")
    mlp = spec.layers[0].mlp
    assert mlp is not None and mlp.kind == "plain" and mlp.activation == "xielu"
    kinds = {t.kind for t in inventory(spec) if t.layer == 0}
    assert "ffn_gate" not in kinds and "ffn_up" in kinds and "ffn_down" in kinds


def test_xielu_python_chain_peak_by_hand() -> None:
    """n = 2**20 fp16 elements (block sizes are multiples of 512 B): at the negative branch's sum the up output,
    the mask (1 B each), the positive branch, the scaled expm1 chain, beta·x and the sum are alive: 5 × 2 + 1 B."""
    n = 2**20
    tr = Trace()
    tr.free(xielu_mlp(tr, n, 256 * 2, 2))
    assert tr.pool.peak_allocated == n * (5 * 2 + 1)
    assert tr.pool.allocated == 0


def test_prefill_mlp_transient_counts_the_chain() -> None:
    spec = spec_from_config(APERTUS, "apertus-tiny")
    wl = Workload(mode="inference", task="prefill", batch=2, context=512, dtype="float16").validate()
    nbytes, _ = _ffn_transient(spec, spec.layers[0], 0, wl, 1024, 2)
    assert nbytes == 1024 * 1024 * (5 * 2 + 1)
