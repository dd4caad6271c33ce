"""Sequence parallelism's redistributions in the TP rank's replay (memory/training/layer_sp.py), sizes worked out by
hand from DTensor's functional collectives: an all-gather along the sequence is the whole tensor twice (the
collective's output, then ``torch.cat`` of its chunks) with the first dropped; a reduce-scatter is a whole ``cat``
copy, then the shard, with the copy and the partial sums dropped."""

from __future__ import annotations

from _traces import Requested
from memfit.memory.activations import Precision
from memfit.memory.training.layer_ops import LayerRun, StepContext, norm
from memfit.memory.training.layer_sp import sp_gather, sp_scatter, tp_sum, tp_whole
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


def test_tensor_parallel_all_reduce_is_out_of_place() -> None:
    """TP without SP: the functional all-reduce of a row-wise Linear's bf16 partial sums makes a new whole tensor
    (4096 tokens × 4096 × 2 B) and the partial one is dropped; two input gradients of one input are added into a
    third tensor. With SP the same call reduce-scatters to the 512-token shard."""
    tr = Requested()
    c = StepContext(tr, load_model("mistral-7b-v0.3"), AMP, batch=2, seq=2048, tp=8)
    partial = tr.alloc(4096 * 4096 * 2)
    whole = tp_whole(c, partial, 2)
    assert tr.sizes == [4096 * 4096 * 2] * 2 and list(tr.live) == [whole]
    other = tr.alloc(4096 * 4096 * 2)
    total = tp_sum(c, whole, other, 2)
    assert tr.sizes[-1] == 4096 * 4096 * 2 and list(tr.live) == [total]
    tr, c = _context(8)
    c.tp = 8
    tp_whole(c, tr.alloc(4096 * 4096 * 2), 2)
    assert list(tr.live.values()) == [512 * 4096 * 2]
    one = StepContext(tr, c.spec, AMP, batch=2, seq=2048)  # one GPU: in place, nothing made
    a, b = tr.alloc(8), tr.alloc(8)
    assert tp_whole(one, a, 2) == a and tp_sum(one, a, b, 2) == a and b not in tr.live
