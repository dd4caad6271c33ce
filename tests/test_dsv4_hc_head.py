"""DeepSeek-V4's hyper-connection head keeps two fp32 copies of the streams for backward (dsv4_attention.py
``dsv4_head_saved``): transformers 5.25 models/deepseek_v4/modeling_deepseek_v4.py ``DeepseekV4HyperHead.forward``
runs ``self.input_norm(x.flatten(2).float())`` (the unweighted RMSNorm keeps its fp32 input) and ``F.linear`` on the
result (kept for ``hc_fn``'s gradient). Found on the development case
deepseek-v4-flash-e16-l4/train-bf16-adamw-fused-b1-s2048 (families-v4.jsonl): the simulator's trace keeps its events
3158 (``_to_copy``) and 3166 (``mul``), 128 MiB each, to the loss; memfit's outside held the final norm's only."""

from __future__ import annotations

import json
from pathlib import Path

from _traces import Requested
from memfit.memory.activations import Precision
from memfit.memory.model_activations import model_activations
from memfit.memory.training.layer_ops import StepContext
from memfit.memory.training.pool import _forward_backward, _trainable
from memfit.memory.training.states import model_states
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case
from test_dsv4_indexer_grads import TINY

MIB = 1 << 20
CASE = "deepseek-v4-flash-e16-l4/train-bf16-adamw-fused-b1-s2048"
BF16 = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True)


def test_head_by_hand() -> None:
    """The tiny model (2 streams of 16), 8 tokens: the head's 2 x 8 x 2 x 16 x 4 B = 2,048 B; the outside 3,488 B:
    input ids and labels 8 x 16, the final norm's fp32 input, rstd, fp32 normed copy and bf16 output 8 x (64 + 4 +
    64 + 32), the head's 2,048 (1,440 B before)."""
    spec = spec_from_config(TINY)
    acts = model_activations(spec, BF16, 1, 8)
    assert acts.hc_head == 2_048
    assert acts.outside == 8 * 16 + 8 * (64 + 4 + 64 + 32) + 2_048


def test_development_case_makes_them_where_the_forward_ends() -> None:
    """The development case's replayed step: 2,048 tokens x 4 streams x 4,096 x 4 B = 128 MiB twice, made after
    the last layer and before the logits (2,048 x 129,280 x 2 B = 505 MiB), as the trace makes them; the block made
    at the forward's start is 268,435,456 B smaller than the outside."""
    rec = next(json.loads(x) for x in (Path(__file__).parent / "data/simulated/families-v4.jsonl").open() if CASE in x)
    spec = spec_from_config(rec["config"], rec["model"])
    wl = workload_for_case(rec["kind"], dict(rec["params"])).validate()
    states = model_states(spec, wl)
    acts = model_activations(spec, states.precision, 1, 2048)
    assert acts.hc_head == 2 * 128 * MIB
    tr = Requested()
    c = StepContext(tr, spec, states.precision, 1, 2048)
    _forward_backward(c, wl, acts, _trainable(c, wl, states))
    assert tr.sizes[0] == acts.outside - acts.hc_head
    logits = tr.sizes.index(2048 * 129_280 * 2)
    assert tr.sizes[logits - 3 : logits] == [128 * MIB, 128 * MIB, 2048 * 4096 * 2]  # then the final norm's output
