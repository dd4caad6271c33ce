"""Reformer's chunked, reversible forward (issue 12, l12reformer2): transformers 5.25
models/reformer/modeling_reformer.py pads the prompt to a multiple of the chunk length, LocalSelfAttention and
LSHSelfAttention score each 64-token chunk against itself and the previous one (not s × s), LSH sorts its hashed
q/k and v, and the reversible residual keeps two hidden-sized streams (memory/runtimes/transformers_reformer.py).
Expected values worked by hand from the development case's config (sweep-dev reformer-default-l2, b2 s777 fp32):
2 layers (local, lsh), hidden 256, 12 heads × 64, chunks of 64 with one before, one hash, feed-forward 512, vocab
320, decoder."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from _simulated import case_record
from memfit.memory.inference import estimate_inference
from memfit.memory.runtimes.transformers_reformer import (
    ReformerShape,
    bucket_factors,
    padded_length,
    reformer_forward,
    reformer_shape,
)
from memfit.memory.runtimes.transformers_reformer_moments import LiveBytes, reformer_peaks
from memfit.sources.hf_config import spec_from_config
from memfit.spec import ModelSpec
from memfit.validate import workload_for_case

DATA = Path(__file__).resolve().parent / "data"
DEV = "reformer-default-l2/fwd-fp32-eager-b2-s777"

B, S, SP = 2, 777, 832  # 777 tokens padded to 13 chunks of 64
X = B * SP * 256 * 4  # one hidden-sized stream: 1,703,936
P = B * SP * 12 * 64 * 4  # q, k or v (12 heads × 64): 5,111,808
SCORES = B * 12 * SP * 128 * 4  # a chunk's 64 queries × 128 keys (itself and the chunk before): 10,223,616
IDX = B * 12 * SP * 8  # int64 per head and token: 159,744
LSE = B * 12 * SP * 4  # logsumexp: 79,872
INPUTS = B * S * 8 + B * SP + B * SP * 8  # the ids, the padded bool mask, the padded ids: 27,408


def _spec() -> ModelSpec:
    cfg = case_record(DATA / "simulated" / "sweep-dev.jsonl", DEV)["config"]
    assert isinstance(cfg, dict)
    return spec_from_config(cfg, "dev")


def _shape() -> ReformerShape:
    r = reformer_shape(_spec())
    assert r is not None
    return r


def test_padding_and_buckets() -> None:
    r = _shape()
    assert r.kinds == ("local", "lsh") and r.head_size == 64 and r.ffn == 512
    assert [padded_length(r, s) for s in (777, 1500, 640, 64, 50)] == [832, 1536, 640, 64, 50]
    # _set_num_buckets: 2 · (832 // 64) = 26 → 16; 2 · 24 = 48 → 32
    assert bucket_factors(r, 832) == (16,) and bucket_factors(r, 1536) == (32,)


def test_lsh_layer_peak_by_hand() -> None:
    """At the LSH layer's exp: the inputs; the embedding output, the two streams' cat, layer 0's Y1 and Y2 and the
    normed input (6 X); the gathered q/k and v, the normed keys and the adjacent values (5 P); the self-masked
    scores, their difference from the logsumexp and its exp (3 scores); the buckets, sorted, undo-sorted and
    per-hash indices and the adjacent bucket indices (6 IDX); the logsumexp."""
    peaks = reformer_peaks(_shape(), B, S, 4)[0]
    lsh = INPUTS + 6 * X + 5 * P + 3 * SCORES + 6 * IDX + LSE
    assert lsh == 67_519_248
    assert peaks["lsh attention (layer 1)"] == lsh
    # the local layer's exp: 4 X held, the adjacent values (2 P), the masked scores, the difference, the exp, the
    # indices and the adjacent key indices (3 IDX), the logsumexp
    assert peaks["local attention (layer 0)"] == INPUTS + 4 * X + 2 * P + 3 * SCORES + 3 * IDX + LSE == 48_296_720
    assert max(peaks.values()) == lsh


def test_replay_frees_everything() -> None:
    live = LiveBytes()
    reformer_forward(live, _shape(), B, S, 4)
    assert live.live == 0 and not live.sizes


def test_estimate_of_the_development_case() -> None:
    """weights 2,167,936 × 4 B + the cuBLAS workspace + the LSH layer's peak (was 169,585,800: s × s scores)."""
    spec = _spec()
    wl = workload_for_case("forward", {"batch": B, "seq": S, "dtype": "float32", "attn": "eager"}).validate()
    est = estimate_inference(spec, wl)
    assert est.allocated_bytes == 2_167_936 * 4 + 32 * 2**20 + 67_519_248 == 109_745_424
    assert est.details["peak_moment"] == "forward lsh attention (layer 1)"


def test_generate_keeps_the_cache_states() -> None:
    """generate's first call (use_cache, logits_to_keep=1): ReformerAttention.forward hands ReformerDynamicCache a
    slice of each layer's normed input, so layer 0's stays beside the LSH layer's peak, with generate's attention
    mask (b × s int64): 67,519,248 + 1,703,936 + 12,432 = 69,235,616 (simulated run 69,238,272 above the build,
    its small tensors rounded to 512 B); after it the two layers' states, the buckets and both inputs stay."""
    spec = _spec()
    wl = workload_for_case("generate", {"batch": B, "seq": S, "new": 8, "dtype": "float32", "attn": "eager"})
    est = estimate_inference(spec, wl.validate())
    assert est.details["peak_moment"] == "prefill lsh attention (layer 1)"
    assert est.details["moments"]["prefill lsh attention (layer 1)"] == 67_519_248 + X + B * S * 8 == 69_235_616
    # after the prefill: 2 X states + IDX buckets + ids and mask, then the logits (2 × 320 × 4) and their processing
    # (transformers._sampling_bytes: 2 × 320 × (4 + 5 × 4) + 320 × 9)
    assert est.details["moments"]["after prefill"] == 2 * X + IDX + 2 * B * S * 8 + 2 * 320 * 24 + 320 * 9
    assert est.allocated_bytes == 2_167_936 * 4 + 32 * 2**20 + 69_235_616


def test_factorised_buckets_hash_factor_by_factor() -> None:
    """num_buckets [4, 8] (b2, 900 -> 960 tokens, 12 heads × 64, one hash, fp32): _hash_vectors rotates into
    (4 + 8) / 2 = 6 columns, then per factor cats its slice with the negation (the previous cat dropped first) and
    takes the argmax, adding it times 4 to the first factor's. One column of every token: 2 × 12 × 960 × 4 = 92,160 B;
    int64 buckets 184,320 B. Peak at the second factor's cat: the rotations (12 × 64 × 6 × 4), the rotated vectors
    (6 columns), the negated slice (4), its cat (8) and the first buckets (the order the simulator's trace shows)."""
    from memfit.memory.runtimes.transformers_reformer import _hash  # the hash alone

    r = replace(_shape(), buckets=(4, 8))
    assert bucket_factors(r, 960) == (4, 8)
    assert bucket_factors(replace(_shape(), max_positions=4096), 8192) == (16, 16)  # 256 above its limit 128
    live = LiveBytes()
    _hash(live, r, 2, 960, 4, True)
    assert live.peaks[""] == 18_432 + 6 * 92_160 + 4 * 92_160 + 8 * 92_160 + 184_320 == 1_861_632
    assert live.live == 184_320  # the buckets
