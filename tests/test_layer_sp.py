"""Sequence parallelism's redistributions in the TP rank's replay (memory/training/layer_sp.py), sizes worked out by
hand from DTensor's functional collectives: an all-gather along the sequence is the whole tensor twice (the
collective's output, then ``torch.cat`` of its chunks) with the first dropped; a reduce-scatter is a whole ``cat``
copy, then the shard, with the copy and the partial sums dropped."""

from __future__ import annotations

from _traces import Requested
from memfit.memory.activations import Precision
from memfit.memory.training.layer_ops import LayerRun, StepContext, norm
from memfit.memory.training.layer_sp import sp_gather, sp_scatter
from memfit.sources.loader import load_model

AMP = Precision(amp=True, weight_bytes=4, resid_bytes=4, full=True)


def _context(sp: int) -> tuple[Requested, StepContext]:
    tr = Requested()
    return tr, StepContext(tr, load_model("mistral-7b-v0.3"), AMP, batch=2, seq=2048, sp=sp)


def test_gather_and_scatter_by_hand() -> None:
    """Mistral-7B (hidden 4096), 2 × 2048 tokens over 8 ranks: the shard is 2 × 256 tokens."""
    tr, c = _context(8)
    assert c.ts == 512
    shard = tr.alloc(512 * 4096 * 4)  # the fp32 stream's shard
    whole = sp_gather(c, shard, 4)
    assert tr.sizes[1:] == [4096 * 4096 * 4, 4096 * 4096 * 4]  # the collective's output, then the cat
    assert sorted(tr.live.values()) == [512 * 4096 * 4, 4096 * 4096 * 4]  # the shard and the gathered copy
    tr.free(shard, whole)
    partial = tr.alloc(4096 * 4096 * 2)  # a row-wise Linear's bf16 partial sums
    out = sp_scatter(c, partial, 2)
    assert tr.sizes[-2:] == [4096 * 4096 * 2, 512 * 4096 * 2]  # the cat copy, the reduce-scatter's shard
    assert list(tr.live.values()) == [512 * 4096 * 2] and out in tr.live


def test_no_sequence_parallelism_allocates_nothing() -> None:
    tr, c = _context(1)
    x = tr.alloc(4096 * 4096 * 4)
    assert sp_gather(c, x, 4) == x and sp_scatter(c, x, 4) == x
    assert tr.sizes == [4096 * 4096 * 4]


def test_norm_runs_on_the_shard() -> None:
    """The fp32 stream's RMSNorm under SP: pow(2) (a transient), x·rsqrt and weight·normed, each on 512 tokens."""
    tr, c = _context(8)
    norm(c, LayerRun(), 4)
    assert tr.sizes == [512 * 4096 * 4] * 3
