"""NCCL's communicator memory outside PyTorch's pool on each rank of a multi-GPU training run (memory/nccl.py,
data/nccl.toml: NCCL 2.20.5's sizes, the channel count of a published two-A100 log). Figures by hand:

* a connection's buffers, rounded to CUDA_IPC_MIN (2,097,152 B): with P2P read the sender holds ncclSendMem (4,096)
  + Simple (4,194,304) = 4,198,400 -> 6,291,456, the receiver ncclRecvMem + LL (524,288) + LL128 (4,915,200) =
  5,443,584 -> 6,291,456; without it 4,096 -> 2,097,152 and 4,096 + 524,288 + 4,915,200 + 4,194,304 = 9,637,888
  -> 10,485,760 (the two sizes NCCL_DEBUG_SUBSYS=ALLOC prints on H100s, NVIDIA/nccl#1685);
* two A100 SXM ranks: 24 coll channels x 12,582,912 = 301,989,888 B of connections; 32 channels initialised
  (nextPow2(24)) x 3 allocations + the communicator's 1 = 97 cuMem allocations x 2,097,152 = 203,423,744 B;
  505,413,632 B in all.
"""

from __future__ import annotations

import json
from pathlib import Path

import memfit
from memfit.hardware import get_device
from memfit.memory.nccl import communicator_bytes, connection_bytes, p2p_channels
from memfit.validate import _predict

A100_PAIR = 24 * (6_291_456 + 6_291_456) + (32 * 3 + 1) * 2_097_152  # 505,413,632 B
DEV = Path(__file__).parent / "data" / "groundtruth" / "published-frameworks-dev.jsonl"


def test_connection_buffers_as_nccl_allocates_them() -> None:
    assert connection_bytes(read=True) == (6_291_456, 6_291_456)
    assert connection_bytes(read=False) == (2_097_152, 10_485_760)


def test_two_a100_ranks_hold_the_hand_worked_communicator() -> None:
    assert p2p_channels(24) == 32 and p2p_channels(8) == 8 and p2p_channels(12) == 16
    assert communicator_bytes(24, read=True) == A100_PAIR == 505_413_632


def test_a_two_gpu_training_rank_on_a100s_carries_it_in_its_device_total() -> None:
    kw = dict(mode="train", batch=1, context=512, gpus=2, zero=3)
    a100 = memfit.estimate("qwen2.5-0.5b", device=get_device("a100-80gb"), **kw)
    assert a100.component("nccl") == A100_PAIR
    assert a100.allocated_bytes == memfit.estimate("qwen2.5-0.5b", device=get_device("h100-sxm"), **kw).allocated_bytes
    # a layout without a published channel count (H100, four ranks), one GPU, no device: no term
    assert memfit.estimate("qwen2.5-0.5b", device=get_device("h100-sxm"), **kw).component("nccl") == 0
    assert memfit.estimate("qwen2.5-0.5b", device=get_device("a100-80gb"), **{**kw, "gpus": 4}).component("nccl") == 0
    one = dict(mode="train", batch=1, context=512)
    assert memfit.estimate("qwen2.5-0.5b", device=get_device("a100-80gb"), **one).component("nccl") == 0
    assert memfit.estimate("qwen2.5-0.5b", **kw).component("nccl") == 0


def test_fit_counts_it_once_per_rank() -> None:
    """fit re-judges an estimate that already has the term: it is replaced, not added twice."""
    kw = dict(mode="train", batch=1, context=512, gpus=2, zero=3)
    r = memfit.fit("qwen2.5-0.5b", "a100-80gb", **kw)
    assert r.estimate.component("nccl") == A100_PAIR
    assert sum(c.name == "nccl" for c in r.estimate.components) == 1
    assert r.per_gpu_bytes[0] == r.estimate.details["per_gpu"][0]["total_bytes"]


def test_the_published_fsdp_rank_total_moves_by_it_and_its_allocated_peak_does_not() -> None:
    """The fms two-GPU full fine-tuning row (A100-80GB, FSDP1): the device total is rank 0's pool + context +
    the communicator; the allocated peak stays the pool's."""
    rec = next(json.loads(line) for line in DEV.read_text().splitlines() if "fms-full-bf16" in line and "-b2-" in line)
    alloc, total, why = _predict(rec)
    assert why == "" and alloc == 36_275_769_344
    assert total - alloc == 10_309_120_000  # 9,003,839,488 reserve + 799,866,880 context + 505,413,632 NCCL
