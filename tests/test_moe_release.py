"""transformers 4.x's per-expert ``nn.Linear`` experts under bitsandbytes (``--transformers-version``,
memory/moe_release.py, data/transformers_modules.toml).

Before 5.0 Mixtral's experts are an ``nn.ModuleList`` of ``MixtralBlockSparseTop2MLP`` (w1 / w2 / w3 ``nn.Linear``)
and its router an ``nn.Linear``: ``replace_with_bnb_linear`` makes each of them a ``Linear4bit`` with its own
``Params4bit``. transformers 5 fuses the experts into 3-D parameters and the router into its own parameter, which
bitsandbytes leaves 16-bit (and PEFT's kbit preparation makes fp32). The bytes below are worked out by hand.
"""

from __future__ import annotations

import pytest

from memfit import Workload
from memfit.errors import ConfigError
from memfit.memory.moe_release import expert_linears
from memfit.memory.training.states import model_states
from memfit.sources.hf_config import spec_from_config

MIXTRAL_8X7B = {"architectures": ["MixtralForCausalLM"], "model_type": "mixtral", "hidden_size": 4096,
                "intermediate_size": 14336, "num_attention_heads": 32, "num_hidden_layers": 32,
                "num_key_value_heads": 8, "num_local_experts": 8, "num_experts_per_tok": 2,
                "max_position_embeddings": 32768, "rms_norm_eps": 1e-05, "rope_theta": 1000000.0,
                "vocab_size": 32000, "torch_dtype": "bfloat16", "tie_word_embeddings": False, "hidden_act": "silu",
                "output_router_logits": False, "sliding_window": None}


def _nf4_dq(numel: int) -> int:
    """One Params4bit with double quantization, by hand: 2 codes per byte, one uint8 absmax per block of 64, one fp32
    absmax per 256 of those, the fp32 offset, the 256-entry fp32 nested code and NF4's 16-entry fp32 code."""
    blocks = numel // 64
    return numel // 2 + blocks + 4 * -(-blocks // 256) + 4 + 256 * 4 + 16 * 4


def _qlora(version: str | None, layers: int = 32) -> int:
    cfg = dict(MIXTRAL_8X7B, num_hidden_layers=layers)
    spec = spec_from_config(cfg, "mixtral-8x7b")
    wl = Workload(mode="qlora", quant="nf4-dq", batch=1, context=512, lora_targets=("q_proj", "k_proj", "v_proj",
                  "o_proj"), mixed_precision=True, qlora_prep="trl", transformers_version=version).validate()
    return model_states(spec, wl).weights


def test_the_release_fact() -> None:
    assert expert_linears("4.48.1", "mixtral") and expert_linears("4.44.2", "mixtral")
    assert expert_linears("4.57.3", "qwen3_moe") and expert_linears("4.45.2", "olmoe")
    assert not expert_linears("5.0.0", "mixtral") and not expert_linears(None, "mixtral")
    assert not expert_linears("4.48.1", "dbrx")  # DBRX fused its experts in 4.x (no row: transformers 5's layout)
    with pytest.raises(ConfigError):
        expert_linears("four", "mixtral")


def test_one_expert_projection_by_hand() -> None:
    # w1 (14,336 x 4,096 = 58,720,256 weights): 29,360,128 B of codes + 917,504 uint8 absmax + 3,584 fp32 second-level
    # absmax (14,336 B) + 4 + 1,024 + 64 = 30,293,060 B; the router (8 x 4,096): 16,384 + 512 + 2 x 4 + 1,092
    assert _nf4_dq(14336 * 4096) == 30_293_060
    assert _nf4_dq(8 * 4096) == 17_996


def test_transformers_4_48_quantizes_every_expert_and_5_does_not() -> None:
    # per layer, transformers 5: 3 fused (8, 14,336, 4,096) expert tensors and the (8, 4,096) router stay 16-bit and
    # prepare_model_for_kbit_training makes them fp32: 3 x 8 x 58,720,256 x 4 + 32,768 x 4 = 5,637,275,648 B;
    # transformers 4.48: 24 Linear4bit of 30,293,060 B and the router's 17,996 B = 727,051,436 B
    per_layer_5 = 3 * 8 * 58_720_256 * 4 + 32_768 * 4
    per_layer_4 = 24 * 30_293_060 + 17_996
    assert per_layer_5 == 5_637_275_648 and per_layer_4 == 727_051_436
    assert _qlora(None, 2) - _qlora("4.48.1", 2) == 2 * (per_layer_5 - per_layer_4)
    assert _qlora("5.0.0", 2) == _qlora(None, 2)


def test_mixtral_8x7b_qlora_weights_at_4_48() -> None:
    # the whole model at 4.48.1: per layer the experts and router (727,051,436 B) + q and o (4,096 x 4,096: 8,655,940 B
    # each) + k and v (1,024 x 4,096: 2,164,804 B each); 65 RMSNorm weights fp32; embed_tokens and lm_head back in bf16
    # (trl): 32 x 748,692,924 + 65 x 4,096 x 4 + 2 x 32,000 x 4,096 x 2 = 24,483,526,528 B. fms-acceleration's CSV
    # (published-dev.jsonl) reads 24,665,033,728 B after training: these + 13,631,488 fp32 adapters and their two
    # AdamW states (163,577,856 B) + 17.9 MB
    attention = 2 * _nf4_dq(4096 * 4096) + 2 * _nf4_dq(1024 * 4096)
    assert attention == 21_641_488
    assert _qlora("4.48.1") == 32 * (727_051_436 + attention) + 65 * 4096 * 4 + 2 * 32000 * 4096 * 2 == 24_483_526_528


def test_inference_weights_take_the_release() -> None:
    # --mode inference --quant nf4 (no double quantization, 16-bit kept weights): per layer transformers 5 keeps the
    # experts and router bf16, 3 x 8 x 58,720,256 x 2 + 32,768 x 2 = 2,818,637,824 B; 4.48 quantizes each of the 24
    # expert projections (29,360,128 B of codes + 917,504 fp32 absmax x 4 + the 64 B code = 33,030,208 B) and the
    # router (16,384 + 512 x 4 + 64 = 18,496 B): 792,743,488 B. Over 32 layers: 64,828,618,752 B less
    from memfit.estimate import estimate

    spec = spec_from_config(MIXTRAL_8X7B, "mixtral-8x7b")

    def weights(version: str | None) -> tuple[int, tuple[str, ...]]:
        wl = Workload(mode="inference", quant="nf4", batch=1, context=512, new_tokens=8,
                      transformers_version=version).validate()
        est = estimate(spec, wl)
        return next(c.bytes for c in est.components if c.name == "weights"), est.notes

    (w5, notes5), (w4, notes4) = weights(None), weights("4.48.1")
    assert 3 * 8 * 58_720_256 * 2 + 32_768 * 2 == 2_818_637_824 and 24 * 33_030_208 + 18_496 == 792_743_488
    assert w5 - w4 == 32 * (2_818_637_824 - 792_743_488) == 64_828_618_752
    assert any("leaves them in 16 bits" in n for n in notes5) and not any("leaves them in 16 bits" in n for n in notes4)
    assert any("quantizes one by one" in n for n in notes4)


def _layer0(version: str | None, fsdp1: bool = False) -> tuple[bool, int, int]:
    from memfit.memory.model_activations import model_activations
    from memfit.memory.training.fsdp1_qlora import sharded_precision

    spec = spec_from_config(dict(MIXTRAL_8X7B, num_hidden_layers=2), "mixtral-8x7b")
    wl = Workload(mode="qlora", quant="nf4-dq", batch=1, context=512, lora_targets=("q_proj", "k_proj", "v_proj",
                  "o_proj"), mixed_precision=True, qlora_prep="trl", attn="flash",
                  transformers_version=version).validate()
    p = model_states(spec, wl).precision
    if fsdp1:
        p = sharded_precision(p)
    la = model_activations(spec, p, 1, 512).layers[0]
    return p.expert_loop, la.backward_extra, la.forward_extra


def test_the_4x_experts_run_backward_one_at_a_time() -> None:
    # transformers 4.48.1's MixtralSparseMoeBlock loops over its 8 experts; each is Linear4bit, whose output is cast
    # back to its input's dtype (out.to(inp_dtype)): fp32 after kbit preparation (the fp32 post-attention norm). The
    # backward's largest MoE moment, the product's gradient and the two MulBackward makes (3 x I each per row), holds
    # one expert's rows, 512 x 2 / 8 = 128, in fp32: 3 x 4 x 14,336 x 128 = 22,020,096 B; transformers 5's grouped_mm
    # holds all 1,024 routed rows in autocast's bf16: 3 x 2 x 14,336 x 1,024 = 88,080,384 B (the rest of the layer's
    # backward is the same). On trl's sharded FSDP1 path the stream is bf16: 3 x 2 x 14,336 x 128 = 11,010,048 B.
    loop5, back5, _ = _layer0(None)
    loop4, back4, _ = _layer0("4.48.1")
    assert not loop5 and loop4
    assert back5 - back4 == 3 * 2 * 14336 * 1024 - 3 * 4 * 14336 * 128 == 66_060_288
    _, back4_fsdp, _ = _layer0("4.48.1", fsdp1=True)
    _, back5_fsdp, _ = _layer0(None, fsdp1=True)
    assert back5_fsdp - back4_fsdp == 3 * 2 * 14336 * 1024 - 3 * 2 * 14336 * 128 == 77_070_336


def test_lora_loops_at_4x_unless_the_record_says_grouped() -> None:
    # plain LoRA (bf16 nn.Linear experts) at 4.48.1 loops too: the MoE moment holds 128 rows (one expert) in
    # bf16, 3 x 2 x 14,336 x 128 = 11,010,048 B, where the grouped experts hold 3 x 2 x 14,336 x 1,024 = 88,080,384 B;
    # --moe-experts grouped (the simulator's "4.48.1" records, which run transformers 5's experts) keeps the grouped
    from memfit.memory.model_activations import model_activations

    spec = spec_from_config(dict(MIXTRAL_8X7B, num_hidden_layers=2), "mixtral-8x7b")

    def back(**kw: object) -> tuple[bool, int]:
        wl = Workload(mode="lora", batch=1, context=512, mixed_precision=False, attn="flash", **kw).validate()
        p = model_states(spec, wl).precision
        return p.expert_loop, model_activations(spec, p, 1, 512).layers[0].backward_extra

    (loop4, b4), (loop5, b5) = back(transformers_version="4.48.1"), back()
    grouped4 = back(transformers_version="4.48.1", moe_experts="grouped")
    assert loop4 and not loop5 and not grouped4[0]
    assert b5 - b4 == 3 * 2 * 14336 * 1024 - 3 * 2 * 14336 * 128 == 77_070_336
    assert grouped4[1] == b5
    assert back(moe_experts="loop") == (True, b4)


def test_the_4x_loop_keeps_each_index_add_source() -> None:
    # 4.48.1 MixtralSparseMoeBlock.forward: final_hidden_states.index_add_(0, top_x, current_hidden_states.to(
    # hidden_states.dtype)); torch's index_add derivative reads source (derivatives.yaml: expand_as(source)), so
    # IndexAddBackward0 keeps every expert's weighted rows: 512 tokens x 2 routes x 4,096 x 4 B (fp32: the block input
    # behind the kbit preparation's fp32 norm) = 16,777,216 B per layer, beyond what the grouped experts keep.
    from dataclasses import replace

    from memfit.memory.activations import _moe
    from memfit.memory.model_activations import model_activations

    spec = spec_from_config(dict(MIXTRAL_8X7B, num_hidden_layers=2), "mixtral-8x7b")

    def saved(**kw: object) -> int:
        wl = Workload(mode="qlora", quant="nf4-dq", batch=1, context=512, lora_targets=("q_proj", "k_proj", "v_proj",
                      "o_proj"), mixed_precision=True, qlora_prep="trl", attn="flash", transformers_version="4.48.1",
                      **kw).validate()
        return model_activations(spec, model_states(spec, wl).precision, 1, 512).layers[0].saved

    assert saved() - saved(moe_experts="grouped") == 512 * 2 * 4096 * 4 == 16_777_216
    # per token, by hand: router logits' softmax 4 x 8 B, top-k 16 x 2 B, then per route silu's fp32 input and output
    # and up's fp32 output (3 x 4 x 14,336), the expert output the routing-weight product keeps (4 x 4,096) and the
    # index_add_ source (4 x 4,096): 64 + 2 x (172,032 + 16,384 + 16,384) = 409,664 B (the simulator's fake-tensor run
    # of this block, bitsandbytes' MatMul4Bit keeping no input, held 409,600 B per token in the experts)
    wl = Workload(mode="qlora", quant="nf4-dq", batch=1, context=512, lora_targets=("q_proj",), mixed_precision=True,
                  transformers_version="4.48.1").validate()
    p = replace(model_states(spec, wl).precision, expert_loop=True)
    moe = spec.layers[0].moe
    assert moe is not None
    assert _moe(moe, 4096, 4, p, "mixtral")[0] == 409_664
