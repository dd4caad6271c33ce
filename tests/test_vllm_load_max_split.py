"""vLLM 0.21+ loads the model under ``max_split_size_mb:20`` (``Worker.load_model``: ``_scoped_allocator_max_split``,
vllm-project/vllm#41268), so "Model loading took" counts a tensor of 20 MiB or more at its whole 2 MiB-rounded block
(memory/runtimes/vllm_load.py). Values worked by hand below; the AWQ log against its printed figure."""

from __future__ import annotations

from memfit.estimate import estimate
from memfit.hardware import get_device
from memfit.memory.runtimes.vllm import rope_cache_bytes
from memfit.memory.runtimes.vllm_load import allocator_remainder_bytes, awq_marlin_extra_bytes, load_extra_bytes
from memfit.sources.loader import load_model

MIB = 1 << 20
GIB = 1 << 30


def test_16_bit_rest_over_1_mib_counts_under_max_split() -> None:
    # Qwen2.5-7B in bf16, per layer: qkv 3,584 x 4,608 x 2 B = 31.5 MiB (block 32, rest 0.5: counted either way),
    # o 3,584 x 3,584 x 2 = 24.5 MiB (block 26, rest 1.5: split off when unlimited, kept whole under max_split 20),
    # gate_up 259 MiB (rest 1: counted either way), down 129.5 (rest 0.5); embedding and lm_head 1,039.5 (rest 0.5).
    # Only o moves: 28 layers x 1.5 MiB = 42 MiB
    spec = load_model("qwen2.5-7b-instruct")
    rope = rope_cache_bytes(spec, "bfloat16")
    unlimited = allocator_remainder_bytes(spec, "bfloat16", 1, rope)
    assert allocator_remainder_bytes(spec, "bfloat16", 1, rope, 20) - unlimited == 42 * MIB
    # Llama-3.1-8B's tensors are whole multiples of 2 MiB: nothing either way
    llama = load_model("llama-3.1-8b")
    assert allocator_remainder_bytes(llama, "bfloat16", 1, rope_cache_bytes(llama, "bfloat16"), 20) == 0


def test_awq_marlin_replay() -> None:
    # Qwen2.5-7B AWQ (group 128): the final gate_up qweight is 3,584 x 37,888 / 2 B = 64.75 MiB (block 66) and down's
    # 18,944 x 3,584 / 2 = 32.375 MiB (block 34): 28 x (1.25 + 1.625) = 80.5 MiB kept whole under max_split 20; the
    # rest of the replay (final tensors placed in cached blocks freed by the conversion's temporaries) adds to it
    spec = load_model("qwen2.5-7b-instruct")
    rope = rope_cache_bytes(spec, "float16")
    under = awq_marlin_extra_bytes(spec, 1, 128, rope, 20)
    assert 80.5 * MIB <= under <= 100.5 * MIB
    # unlimited, both rests are over 1 MiB and split off: the replay leaves a few MiB (an earlier replay: 0.9 to 8)
    assert awq_marlin_extra_bytes(spec, 1, 128, rope, 0) <= 10 * MIB
    # the format's spelling with its group size goes the same way
    assert load_extra_bytes(spec, "awq-4bit-g128", 1, rope, 20) == under


def test_awq_log_weights_within_its_printed_figure() -> None:
    # development log (tests/data/serving/vllm.jsonl, wsl-16gib-qwen2.5-7b-awq-32k): vLLM 0.26.0 on an RTX 4080 prints
    # "Model loading took 5.29 GiB", i.e. [5.285, 5.295) GiB; memfit had 5.196 (tensor bytes, -1.78 %) before the
    # max_split replay
    dev = get_device("rtx-4080", memory=round(15.99 * GIB))
    kw = {"mode": "inference", "runtime": "vllm", "context": 32768, "dtype": "awq", "device": dev}
    w = estimate("qwen2.5-7b-instruct", vllm_version="0.26.0", **kw).component("weights") / GIB
    assert 5.285 <= w < 5.295, w
    # before 0.21 (no scoped max_split) and off CUDA (the scope is CUDA-only) the tensor bytes stand
    assert abs(estimate("qwen2.5-7b-instruct", vllm_version="0.20", **kw).component("weights") / GIB - 5.196) < 0.001
    rocm = {**kw, "device": get_device("mi300x")}
    rocm_weights = estimate("qwen2.5-7b-instruct", vllm_version="0.26.0", **rocm).component("weights")
    assert abs(rocm_weights / GIB - 5.196) < 0.001
