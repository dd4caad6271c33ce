"""llama.cpp's per-tensor placement (-ot PATTERN=CPU, --n-cpu-moe) and the token-embedding / output types
llama-quantize sets apart (the _L/_XL files), priced from a config."""

from __future__ import annotations

import pytest

from memfit.errors import ConfigError
from memfit.memory.runtimes.llamacpp import llamacpp_buffers
from memfit.sources.loader import load_model
from memfit.workload import Workload


def _buffers(model: str, **kw: object):  # type: ignore[no-untyped-def]
    wl = Workload(mode="inference", runtime="llamacpp", dtype="q4_k_m", context=4096, **kw)  # type: ignore[arg-type]
    return llamacpp_buffers(load_model(model), wl)


def test_override_tensor_exps_equals_cpu_moe_all_layers() -> None:
    # llama.cpp documents --cpu-moe as -ot exps=CPU and --n-cpu-moe N as the first N layers' experts
    all_exps = _buffers("qwen3-30b-a3b", override_tensor="exps=CPU")
    assert all_exps.model_gpu_bytes == _buffers("qwen3-30b-a3b", n_cpu_moe=48).model_gpu_bytes
    first_two = _buffers("qwen3-30b-a3b", override_tensor=r"blk\.(0|1)\.ffn_(up|down|gate)_exps=CPU")
    assert first_two.model_gpu_bytes == _buffers("qwen3-30b-a3b", n_cpu_moe=2).model_gpu_bytes
    both = _buffers("qwen3-30b-a3b", override_tensor=r"blk\.0\.ffn_up_exps=CPU", n_cpu_moe=2)
    assert both.model_gpu_bytes == first_two.model_gpu_bytes  # a tensor matched twice leaves once
    assert all_exps.host_bytes > first_two.host_bytes > _buffers("qwen3-30b-a3b").host_bytes


@pytest.mark.parametrize("bad", ["exps=CUDA0", "[=CPU", "exps", "=CPU"])
def test_override_tensor_refuses_with_one_line(bad: str) -> None:
    with pytest.raises(ConfigError, match="--override-tensor"):
        _buffers("qwen3-30b-a3b", override_tensor=bad)


def test_token_embedding_and_output_types_reprice_two_tensors() -> None:
    # llama-3.1-8b: token_embd and output are 128,256 x 4,096 = 525,336,576 values each. Q4_K_M stores
    # token_embd in Q4_K (144 B per 256) = 295,501,824 B and output in Q6_K (210 B per 256) = 430,940,160 B;
    # in Q8_0 (34 B per 32) each is 558,170,112 B
    base = _buffers("llama-3.1-8b")
    xl = _buffers("llama-3.1-8b", token_embedding_type="q8_0", output_tensor_type="q8_0")
    assert xl.model_bytes - base.model_bytes == (558_170_112 - 295_501_824) + (558_170_112 - 430_940_160)
    # the embeddings stay in host RAM; the output layer is on the GPU
    assert xl.model_gpu_bytes - base.model_gpu_bytes == 558_170_112 - 430_940_160
    with pytest.raises(ConfigError, match="unknown"):
        _buffers("llama-3.1-8b", output_tensor_type="q9_9")


def test_split_mode_row_is_refused_as_llama_cpp_refuses_it_on_cuda() -> None:
    with pytest.raises(ConfigError, match="split buffers"):
        _buffers("llama-3.1-8b", split_mode="row", gpus=2)
    assert _buffers("llama-3.1-8b", split_mode="layer", gpus=2).model_bytes > 0


def test_a_quantized_cache_that_does_not_divide_the_head_is_refused() -> None:
    # stablelm-3b: head size 2,560 / 32 = 80, and q8_0 blocks hold 32 values: real llama.cpp b10605 stops with
    # "K cache type q8_0 with block size 32 does not divide n_embd_head_k=80" (found measuring it)
    with pytest.raises(ConfigError, match="does not divide the head size 80"):
        llamacpp_buffers(load_model("stablelm-3b"), Workload(mode="inference", runtime="llamacpp", kv_dtype="q8_0"))
