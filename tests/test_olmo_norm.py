"""OLMo (1)'s norms: a LayerNorm with neither weight nor bias over an fp32 copy of its input, cast back
(transformers 5.25 modeling_olmo.py ``OlmoLayerNorm.forward``: ``F.layer_norm(hidden_states.to(torch.float32),
self.normalized_shape, None, None, eps=1e-5).to(orig_dtype)``), not an RMSNorm with a weight (issue 12)."""

from __future__ import annotations

import json
from pathlib import Path

from memfit.inventory import standard_inventory
from memfit.memory.activations import Precision, _norm
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool_attention import norm as pool_norm
from memfit.memory.training.layer_grads import _norm_backward
from memfit.memory.training.layer_ops import LayerRun, StepContext, norm
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec

MIB = 1 << 20
BF16_FULL = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True)
FP32_FULL = Precision(amp=False, weight_bytes=4, resid_bytes=4, full=True)


def _olmo() -> ModelSpec:
    """transformers 5.25's default OlmoConfig (allenai/OLMo-7B-hf widths) cut to 3 layers, from the blind sweep."""
    rows = (Path(__file__).parent / "data" / "simulated" / "blind-sweep.jsonl").read_text().splitlines()
    row = next(json.loads(x) for x in rows if json.loads(x).get("case", "").startswith("olmo-default-l3/"))
    return spec_from_config(row["config"])


def test_olmo_spec_has_weightless_fp32_layernorm() -> None:
    """The standard layout of OLMo has no norm tensor: embedding and lm_head 50,304 × 4,096 each (untied), per
    layer q/k/v/o 4 × 4,096² and gate/up/down 3 × 4,096 × 11,008, nothing else: 2 × 206,045,184 + 3 ×
    (67,108,864 + 135,266,304) = 1,019,215,872, the simulator's n_params (an RMS weight per norm adds 7 × 4,096)."""
    spec = _olmo()
    assert spec.norm == "layernorm_fp32" and spec.family == "olmo"
    tensors = standard_inventory(spec)
    assert not [t for t in tensors if t.group == "norms"]
    assert sum(t.numel for t in tensors) == 2 * 50304 * 4096 + 3 * (4 * 4096 * 4096 + 3 * 4096 * 11008)
    assert sum(t.numel for t in tensors) == 1_019_215_872


def test_saved_per_token() -> None:
    """Per token and norm over h 4,096 on a bf16 stream: native_layer_norm saves the fp32 copy (16,384 B) and its
    mean and rstd (8 B); the output is cast back to bf16. An fp32 stream: the stream itself, 16,392 B, fp32 out."""
    assert _norm(4096, 2, BF16_FULL, False, True, True) == (4 * 4096 + 8, 2)
    assert _norm(4096, 4, FP32_FULL, False, True, True) == (16392, 4)


def test_training_forward_norm_bf16() -> None:
    """1,024 tokens × 4,096 (4 Mi elements) on a bf16 stream: the fp32 copy (16 MiB, saved), layer_norm's fp32
    output (16 MiB), the bf16 cast (8 MiB), the fp32 output freed. Live 24 MiB, peak 40 MiB (an RMSNorm with a
    weight peaks at 48 MiB: copy, normed, cast, weight product)."""
    tr = Trace()
    c = StepContext(tr, _olmo(), BF16_FULL, 1, 1024)
    run = LayerRun()
    out, ob = norm(c, run, 2)
    assert ob == 2
    assert [k for _, k in run.saved] and out in tr.pool.live
    assert tr.pool.allocated == 24 * MIB
    assert tr.pool.peak_allocated == 40 * MIB


def test_backward_norm_fp32_stream() -> None:
    """On an fp32 stream the norm's backward makes one 16 MiB fp32 input gradient (no upcast of the incoming
    gradient); on a bf16 stream the upcast incoming gradient and the input gradient (32 MiB, the peak), the upcast
    freed before the input gradient is cast back to bf16 (16 + 8 MiB)."""
    spec = _olmo()
    tr = Trace()
    _norm_backward(StepContext(tr, spec, FP32_FULL, 1, 1024))
    assert tr.pool.peak_allocated == 16 * MIB and tr.pool.allocated == 0
    tr = Trace()
    _norm_backward(StepContext(tr, spec, BF16_FULL, 1, 1024))
    assert tr.pool.peak_allocated == 32 * MIB and tr.pool.allocated == 0


def test_inference_norm() -> None:
    """Generate/prefill (no grad): on fp32 states layer_norm's output is the norm's result (one 16 MiB tensor, no
    square, no weight product); on fp16 states the copy and the output (32 MiB), then the cast back (8 MiB)."""
    spec = _olmo()
    n = 1024 * 4096
    tr = Trace()
    out = pool_norm(tr, spec, n, 4)
    assert set(tr.pool.live) == {out} and tr.pool.peak_allocated == 16 * MIB
    tr = Trace()
    out = pool_norm(tr, spec, n, 2)
    assert set(tr.pool.live) == {out} and tr.pool.allocated == 8 * MIB and tr.pool.peak_allocated == 32 * MIB
