"""RMSNorm's backward on an fp32 stream, tensor by tensor (``memory/training/layer_grads.py``,
``rms_backward_fp32``), as the simulator's trace of a pipeline rank makes it (docs/simulator.md, "Placement noise")."""

from __future__ import annotations

import json
from pathlib import Path

from memfit.memory.activations import Precision
from memfit.memory.allocator_trace import Trace
from memfit.memory.training.layer_grads import _fp32_rms_chain, rms_backward_fp32
from memfit.memory.training.layer_ops import StepContext
from memfit.sources.hf_config import spec_from_config
from memfit.sources.loader import load_model

MIB = 1 << 20
AMP_FULL = Precision(amp=True, weight_bytes=4, resid_bytes=4, full=True)


def test_rms_backward_fp32_by_hand() -> None:
    """Llama-3.2-1B (h 2,048), 2,048 tokens: each T × h fp32 tensor is 2,048 × 2,048 × 4 B = 16 MiB. With the
    stream's gradient and one incoming gradient live (2 tensors): grad × weight and the weight's product (4 live),
    the product and the incoming gradient go (2); rsqrt's product and x's direct gradient (4), those two products'
    first go (2: stream, direct); the sum into the stream's gradient (3), stream and direct go (1); mean's backward,
    pow(x, 1), × 2, × the gradient (5: the peak, 80 MiB), three go (2); the last add (3), two go: one tensor left,
    a new one. Reserved: five 16 MiB segments (each request of 10 MiB or more gets its own, a freed 16 MiB block is
    reused by best fit), so 80 MiB too; the two-tensor chain it replaces peaks at 4 tensors."""
    spec = load_model("llama-3.2-1b")
    tr = Trace()
    c = StepContext(tr, spec, AMP_FULL, 1, 2048)
    n4 = 2048 * 2048 * 4
    assert n4 == 16 * MIB
    stream, incoming = tr.alloc(n4), tr.alloc(n4)
    out = rms_backward_fp32(c, stream, [incoming])
    assert out not in (stream, incoming)
    assert set(tr.pool.live) == {out}
    assert tr.pool.allocated == 16 * MIB
    assert tr.pool.peak_allocated == 80 * MIB
    assert tr.pool.peak_reserved == 80 * MIB


def test_rms_chain_only_where_the_trace_has_it() -> None:
    """The chain is replayed for a pre-norm RMSNorm over an fp32 stream with the norm's weight training; not over a
    bf16 stream, not under LoRA (the norm's weight is frozen: ``MulBackward0`` makes no product for it), not for
    OLMo (1), whose parameter-free ``OlmoLayerNorm`` is ``F.layer_norm``."""
    llama = load_model("llama-3.2-1b")
    assert _fp32_rms_chain(StepContext(Trace(), llama, AMP_FULL, 1, 1024))
    bf16 = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True)
    assert not _fp32_rms_chain(StepContext(Trace(), llama, bf16, 1, 1024))
    lora = Precision(amp=True, weight_bytes=2, resid_bytes=4, full=False, lora_kinds=frozenset({"attn_q"}),
                     lora_rank=8)
    assert not _fp32_rms_chain(StepContext(Trace(), llama, lora, 1, 1024))
    rows = (Path(__file__).parent / "data" / "simulated" / "blind-sweep.jsonl").read_text().splitlines()
    olmo = next(json.loads(x) for x in rows if json.loads(x).get("case", "").startswith("olmo-default-l3/"))
    spec = spec_from_config(olmo["config"])
    assert spec.norm == "layernorm_fp32" and spec.family == "olmo"
    assert not _fp32_rms_chain(StepContext(Trace(), spec, AMP_FULL, 1, 1024))
