"""The V0 engine's profile-run peak on a T4: the sampler's sort over max_num_seqs rows, worked by hand.

The log (Llama-3.2-3B-Instruct in float16, vLLM 0.8.2 falling back to V0 on compute capability 7.5) prints
"PyTorch activation peak memory takes 0.90GiB" with max_num_seqs=192 and max_num_batched_tokens=2048 in its
argument dump: the same 38 B per logit element as the H100 logs, once the row count is the one the log ran with.
"""

from __future__ import annotations

from memfit.memory.runtimes.vllm import profile_activation_bytes
from memfit.sources.loader import load_model

GIB = 1024**3
VOCAB, HIDDEN, INTER = 128_256, 3072, 8192  # Llama-3.2-3B


def test_v0_t4_profile_peak_by_hand() -> None:
    spec = load_model("llama-3.2-3b")
    assert (spec.vocab_size, spec.hidden_size) == (VOCAB, HIDDEN)
    # the forward's MLP peak: residual, attention output and normed input (3 x hidden) beside gate/up (2 x
    # intermediate) and the activation's output (1 x), 2 B each, over 2,048 tokens
    forward = 2048 * (3 * HIDDEN + 3 * INTER) * 2
    assert forward == 138_412_032
    # the sampler sorts 192 rows: fp16 logits 2 + fp32 copy 4 + sorted values 4 + int64 indices 8 + sort's int64
    # reverse indices 8 + cub's alternate key (4) and value (8) buffers = 38 B per element, beside the forward's
    # hidden states and the gathered rows: (2,048 + 2 x 192) x 3,072 x 2 B
    sampler = 192 * VOCAB * 38 + (2048 + 2 * 192) * HIDDEN * 2
    assert sampler == 935_755_776 + 14_942_208 == 950_697_984
    peak, text = profile_activation_bytes(spec, 2048, 192, 1)
    assert peak == max(forward, sampler) == sampler
    assert "192 rows" in text
    # printed 0.90 GiB (rounded: 0.895 to 0.905): memfit 0.885 GiB, 1.6 % of the activation below the log
    assert abs(peak / GIB - 0.90) / 0.90 < 0.02
    # with the default 256 rows the same accounting is 1.18 GiB, 31 % above the log: the row count, not the bytes
    # per element, was what the earlier record had wrong
    assert profile_activation_bytes(spec, 2048, 256, 1)[0] / GIB > 1.17
