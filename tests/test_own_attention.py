"""Families that write their own attention (memory/runtimes/transformers_own_attention.py): GPT-NeoX-Japanese's
``_attn`` (transformers 5.25 modeling_gpt_neox_japanese.py), worked by hand."""

from __future__ import annotations

import json
from pathlib import Path

from memfit.memory.runtimes.transformers_moments import peak_moments
from memfit.memory.runtimes.transformers_own_attention import own_attention_transient
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case

DEV = Path(__file__).parent / "data" / "simulated" / "sweep-dev.jsonl"
CASE = "gpt-neox-japanese-default-l3/fwd-fp32-eager-b2-s1024"


def _record() -> dict[str, object]:
    for line in DEV.read_text().splitlines():
        r = json.loads(line)
        if r.get("case") == CASE:
            return r  # type: ignore[no-any-return]
    raise AssertionError(CASE)


def test_gpt_neox_japanese_attention_by_hand() -> None:
    r = _record()
    spec = spec_from_config(r["config"], "gnj")  # type: ignore[arg-type]
    att = spec.layers[0].attention
    assert att is not None and (att.num_heads, att.head_dim) == (32, 80)  # hidden 2560
    # fp32, b 2, s 1024: one of q/k/v is 2,048 tokens × 2,560 × 4 B = 20 MiB; no cache (forward): the fused qkv
    # (3), the cat'ed q and k, the contiguous copy of v and the output: 7 × 20 MiB
    vectors = 7 * 2048 * 2560 * 4
    # scores 2 × 32 × 1024 × 1024 × 4 B = 256 MiB: zeros, masked, softmax
    scores = 3 * 2 * 32 * 1024 * 1024 * 4
    got, _ = own_attention_transient("gpt_neox_japanese", att, 2, 1024, 1024, 4, cached=False)
    assert got == vectors + scores == 952_107_008
    # with a cache the local key copy is gone and value is the cache's contiguous tensor
    got, _ = own_attention_transient("gpt_neox_japanese", att, 2, 1024, 1024, 4, cached=True)
    assert got == 5 * 2048 * 2560 * 4 + scores
    assert own_attention_transient("llama", att, 2, 1024, 1024, 4, cached=False) is None


def test_the_prefill_moment_uses_it() -> None:
    r = _record()
    spec = spec_from_config(r["config"], "gnj")  # type: ignore[arg-type]
    wl = workload_for_case("forward", dict(r["params"])).validate()  # type: ignore[call-overload]
    attn = [m for m in peak_moments(spec, wl) if m.name.startswith("prefill attention")]
    # + the previous layer's probabilities (256 MiB, transformers_families.HELD_PREV_PROBS), the stream (embeddings,
    # layer input, normed input: 3 × 20 MiB), the eager fp32 mask 2 × 1024 × 1024 × 4 B,
    # the rotary cos/sin as memfit counts them (2 × 2,048 tokens × 80 × 4 B: partial_rotary_factor 1.0) and the
    # token ids 2,048 × 8 B
    assert attn[0].activations == 952_107_008 + 268_435_456 + 3 * 20_971_520 + 8_388_608 + 2 * 2048 * 80 * 4 + 2048 * 8


def test_xglm_scores_by_hand() -> None:
    from memfit.memory.runtimes.transformers_own_attention import own_eager_score

    # bf16: two score-sized tensors in the model dtype (masked -> clamped -> softmax rebinding one variable)
    assert own_eager_score("xglm", 2, half=False)[0] == 4  # type: ignore[index]
    # fp16: the clamped scores (2), the fp32 softmax (4) and its fp16 cast (2)
    assert own_eager_score("xglm", 2, half=True)[0] == 8  # type: ignore[index]
    assert own_eager_score("xglm", 4, half=False)[0] == 8  # type: ignore[index]
    assert own_eager_score("llama", 2, half=False) is None
    for line in DEV.read_text().splitlines():
        r = json.loads(line)
        if r.get("case") == "xglm-default-l3/gen-eager-b2-s1024-new16":
            break
    spec = spec_from_config(r["config"], "xglm")
    wl = workload_for_case("generate", dict(r["params"])).validate()
    attn = next(m for m in peak_moments(spec, wl) if m.name.startswith("prefill attention"))
    # 2 × 16 heads × 1024 × 1024 scores × 4 B = 128 MiB, not the shared path's 10 B (320 MiB)
    assert "× 4 B" in attn.formula and "2×16×1024×1024" in attn.formula


def test_biogpt_mlp_is_fc1_act_fc2() -> None:
    # transformers 5.25 BioGptDecoderLayer: fc1 -> activation_fn -> fc2, no gate, although the config names the
    # width intermediate_size (the generic path's sign of a gated MLP)
    for line in DEV.read_text().splitlines():
        r = json.loads(line)
        if r.get("case") == "biogpt-default-l4/prefill-fp16-b4-s2048":
            break
    spec = spec_from_config(r["config"], "biogpt")
    mlp = spec.layers[0].mlp
    assert mlp is not None and (mlp.kind, mlp.intermediate_size) == ("plain", 4096)
    wl = workload_for_case("prefill", dict(r["params"])).validate()
    ffn = next(m for m in peak_moments(spec, wl) if m.name.startswith("prefill MLP"))
    # fp16, b 4 × s 2048 = 8,192 tokens: four hidden-sized stream tensors (4 × 8,192 × 1,024 × 2 B) + fc1's output
    # and the activation's (2 × 8,192 × 4,096 × 2 B) + masks/rotary/ids as the attention moment counts them
    fixed = 2_162_688
    assert ffn.activations == 4 * 8192 * 1024 * 2 + 2 * 8192 * 4096 * 2 + fixed


def test_doge_dynamic_mask_by_hand() -> None:
    from memfit.memory.runtimes.transformers_own_attention import dynamic_mask_bytes

    for line in DEV.read_text().splitlines():
        r = json.loads(line)
        if r.get("case") == "doge-default-l4/fwd-fp16-b2-s1536":
            break
    spec = spec_from_config(r["config"], "doge")
    att = spec.layers[0].attention
    assert att is not None and (att.num_heads, att.num_kv_heads) == (8, 8)
    # fp16, b 2, 1,536 queries over 1,536 keys (under the 2,048 window): torch.where's float mask 2 × 1536² × 2 B and
    # its != 0 (1 B), then dt_states expanded and masked_fill'ed per K/V head, 2 × 8 × 1536² × 2 B (what SDPA reads)
    causal = 2 * 1536 * 1536 * 3
    held = 2 * 8 * 1536 * 1536 * 2
    assert dynamic_mask_bytes("doge", att, 2, 1536, 1536, 2) == (causal + held, held, causal)
    # past the window (4,096 keys): per row the mask, the active mask, == 0 and the second masked_fill (3 × 2 + 1 B
    # per key) and 2,048 int64 top-k indices
    rows = 2 * 8 * 4096
    assert dynamic_mask_bytes("doge", att, 2, 4096, 4096, 2)[0] == 2 * 4096 * 4096 * 3 + rows * (4096 * 7 + 8 * 2048)
    assert dynamic_mask_bytes("llama", att, 2, 1536, 1536, 2) == (0, 0, 0)


def test_xlm_scores_float_copy_by_hand() -> None:
    # transformers 5.25 modeling_xlm.py MultiHeadAttention.forward: scores.masked_fill_ in place, then
    # softmax(scores.float(), dim=-1).type_as(scores): in fp16 the scores (2 B), their fp32 copy (4 B) and the fp32
    # probabilities (4 B) are alive at once, not the shared path's fused half->float softmax (8 B)
    from memfit.memory.runtimes.transformers_own_attention import own_eager_score

    assert own_eager_score("xlm", 2, half=True)[0] == 10  # type: ignore[index]
    assert own_eager_score("xlm", 2, half=False)[0] == 10  # type: ignore[index]
    assert own_eager_score("xlm", 4, half=False)[0] == 8  # type: ignore[index]  (.float() returns the fp32 scores)
    for line in DEV.read_text().splitlines():
        r = json.loads(line)
        if r.get("case") == "xlm-default-l2/fwd-fp16-eager-b3-s430":
            break
    spec = spec_from_config(r["config"], "xlm")
    wl = workload_for_case("forward", dict(r["params"])).validate()
    attn = next(m for m in peak_moments(spec, wl) if "attention" in m.name)
    # 3 × 16 heads × 430 × 430 scores × 10 B (fp16: 2 + 4 + 4)
    assert "3×16×430×430 × 10 B" in attn.formula
