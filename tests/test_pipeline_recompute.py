"""A pipeline rank's checkpointed layer run again in backward (``training/pp_pool.py``, ``recompute.recompute_layer``):
torch.utils.checkpoint's non-reentrant early stop (``torch/utils/checkpoint.py``: ``_recomputation_hook``'s pack
hook raises ``_StopRecomputationError`` at the last saved tensor's pack) ends the recomputation at the down
projection's pack of its input and weight, so its output and the residual add are not made again. The simulator's
trace of dev llama-3.1-8b-l4/pp2-tp4-r1-gpipe-sacop (pipeline-tp-dev.jsonl) shows it: each recomputation ends with
down's weight cast (``_to_copy``), and its backward starts."""

from __future__ import annotations

import json
from pathlib import Path

from _traces import Recorded
from memfit.memory.activations import Precision
from memfit.memory.model_activations import model_activations
from memfit.memory.training.layer_ops import StepContext
from memfit.memory.training.layer_stream import layer_forward
from memfit.memory.training.pp_pool import PipeRank, PipeStage, run_actions
from memfit.sources.hf_config import spec_from_config

PIPELINE_DEV = Path(__file__).parent / "data" / "parallel" / "pipeline-dev.jsonl"
AMP = Precision(amp=True, weight_bytes=4, resid_bytes=4, full=True, kv_cache=False)
MIB = 1 << 20


def test_a_checkpointed_stage_layer_stops_at_the_down_projections_pack() -> None:
    """Llama-3.2-1B's layer 0 as a middle stage (one micro-batch of 1,024 tokens, autocast on fp32 weights, full
    checkpointing): h 2,048, intermediate 8,192. Its kept forward's requests end with down's bf16 weight copy
    (8,192 x 2,048 x 2 B = 32 MiB), down's bf16 output (1,024 x 2,048 x 2 B = 4 MiB) and the fp32 residual add
    (8 MiB), then the layer's remainder block (what the family saves beyond the replayed tensors: 8 KiB). The
    stage's backward first runs the layer again: the forward's requests up to that weight copy and the remainder
    block, then the backward's own (down's incoming gradient cast to bf16: 4 MiB). The old replay made the 4 and
    8 MiB tensors again there."""
    line = next(ln for ln in PIPELINE_DEV.read_text().splitlines() if "pp2-r0-1f1b-ckpt" in ln)
    spec = spec_from_config(json.loads(line)["config"], "llama-3.2-1b-l4")
    t, h = 1024, spec.hidden_size
    acts = model_activations(spec, AMP, 1, t)
    full = Recorded()
    layer_forward(StepContext(full, spec, AMP, 1, t), spec.layers[0], acts.layers[0], full.alloc(t * h * 4))
    kept = full.sizes[1:]
    down = len(kept) - 1 - kept[::-1].index(32 * MIB)  # down's weight copy
    assert kept[down : down + 3] == [32 * MIB, 4 * MIB, 8 * MIB]
    first = Recorded()
    layer_forward(StepContext(first, spec, AMP, 1, t), spec.layers[0], acts.layers[0], first.alloc(t * h * 4), False)
    stage = (PipeStage(range(0, 1), first=False, last=False),)
    r = PipeRank(spec, acts, AMP, stage, (("F", 0, 0), ("B", 0, 0)), 1, t, 1, True, (), 0, 0.0)
    tr = Recorded()
    recv = [([tr.alloc(t * h * 4)], [tr.alloc(t * h * 4)])]
    run_actions(StepContext(tr, spec, AMP, 1, t), r, recv, [[]])
    again = tr.sizes[2 + len(first.sizes) - 1 :]  # after the receive buffers and the first forward
    redo = [*kept[: down + 1], *kept[down + 3 :]]  # (what follows: the layer's remainder block, saved)
    assert again[: len(redo) + 1] == [*redo, 4 * MIB]
