"""SGLang's load and start-up accounting, by hand: the block-FP8 tensor layout and NCCL's distributed init."""

from __future__ import annotations

import memfit
from memfit.hardware import get_device
from memfit.memory.runtimes.sglang_load import Layout, load_reserved_bytes, rank_tensors

GIB = 2**30


def test_block_fp8_layout_by_hand() -> None:
    # Qwen3-235B-A22B-FP8 (hidden 4096, 64 heads / 4 KV heads of 128, 128 experts of 1536, block 128) on tp 4: the
    # fused qkv weight (2048 + 2 x 128) x 4096 x 1 B = 9 MiB and its scales ceil(2304/128) x ceil(4096/128) x 4 B,
    # q/k norms, o 4096 x 2048 = 8 MiB and 32 x 16 scales, the rope cache, then the experts: w13 128 x 768 x 4096,
    # w2 128 x 4096 x 384 (1 B each), their scales 128 x 6 x 32 and 128 x 32 x 3 (fp32), the 16-bit router
    spec = memfit.load_model("qwen3-235b-a22b-fp8")
    sizes = rank_tensors(spec, 4, Layout(dense=2, weight=1, block=128), 123)
    assert sizes[0] == 151_936 // 4 * 4096 * 2
    assert sizes[1:12] == [9 * 2**20, 18 * 32 * 4, 4096 * 2048, 32 * 16 * 4, 256, 256, 123,
                           128 * 768 * 4096, 128 * 4096 * 384, 128 * 6 * 32 * 4, 128 * 32 * 3 * 4]
    assert sizes[12] == 128 * 4096 * 2


def test_block_fp8_segments() -> None:
    # 9 and 8 MiB attention tensors are cut from 20 MiB segments: two of a layer fill 17 MiB and the next layer's
    # 9 MiB does not fit the 3 MiB left, so about 3 MiB per layer stays reserved beyond the tensors (94 layers)
    spec = memfit.load_model("qwen3-235b-a22b-fp8")
    reserved, tensors = load_reserved_bytes(spec, 4, Layout(dense=2, weight=1, block=128), 0)
    assert 94 * 2 * 2**20 < reserved - tensors < 94 * 4 * 2**20


def test_nvswitch_distributed_init() -> None:
    # the free memory at start: total - context (0.5 GiB) - NCCL's init (1.6 GiB on an NVSwitch part, 0.3 elsewhere)
    for gpu, nccl in (("h100-sxm", 1.6), ("h100-pcie", 0.3)):
        dev = get_device(gpu)
        est = memfit.estimate("llama-3.1-8b", mode="inference", runtime="sglang", device=dev, tp=2, gpus=2)
        assert est.details["free_at_start_bytes"] == dev.capacity_bytes - round((0.5 + nccl) * GIB), gpu
    one = memfit.estimate("llama-3.1-8b", mode="inference", runtime="sglang", device=get_device("h100-sxm"))
    assert one.details["free_at_start_bytes"] == get_device("h100-sxm").capacity_bytes - round(0.5 * GIB)
