"""HY-V4 (transformers 5.25 models/hy_v4/modeling_hy_v4.py), read on the generic path with the parameters its code keeps
in float32 (issue 12, l12hyv4; development case hy-v4-default-l2/lora-r8-attn-ckpt-b1-s2048 in train-sweep-dev.jsonl,
moved there from blind round 5 before its trace was read): HYV4PreTrainedModel._keep_in_fp32_modules_strict (router,
hyper-connections, the indexer's weights_proj and k_norm, the sinks) and HYV4ForCausalLM's float32 lm_head."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from _simulated import case_line, meta_bf16_build, validate_line
from memfit.memory.activations import Precision, _linear_inputs, _norm
from memfit.memory.allocator_trace import Trace
from memfit.memory.hyv4_attention import hyv4_attention_saved
from memfit.memory.hyv4_training import hc_head_parts, hyv4_connections_saved
from memfit.memory.model_activations import model_activations
from memfit.memory.training.layer_hyv4 import HyTopK, hyv4_post, hyv4_pre
from memfit.memory.training.layer_ops import LayerRun, StepContext
from memfit.memory.training.layer_stream import layer_forward
from memfit.memory.training.states import model_states
from memfit.memory.weights import weights_breakdown
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case

TINY = dict(
    model_type="hy_v4",
    vocab_size=100,
    hidden_size=32,
    intermediate_size=48,
    moe_intermediate_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    n_routed_experts=4,
    num_experts_per_tok=2,
    n_shared_experts=1,
    q_lora_rank=24,
    kv_lora_rank=16,
    qk_nope_head_dim=8,
    qk_rope_head_dim=4,
    v_head_dim=8,
    index_topk=8,
    index_head_dim=8,
    index_n_heads=2,
    hc_mult=2,
    pad_token_id=0,
    bos_token_id=1,
    eos_token_id=2,
)
DEV = Path(__file__).resolve().parent / "data" / "simulated" / "train-sweep-dev.jsonl"
CASE = "hy-v4-default-l2/lora-r8-attn-ckpt-b1-s2048"
UNCKPT = "hy-v4-default-l2/lora-r8-attn-eager-b1-s1024"  # development, no checkpointing (l12hyv4)


def test_tiny_hy_v4_weights_by_hand() -> None:
    # bf16: embed 100·32 = 3,200; per layer q_a 24·32 = 768, q_a norm 24, q_b 24·(2 heads·12) = 576, kv_a 32·(16 + 4)
    # = 640, kv_a norm 16, kv_b 16·(2·(8 + 8)) = 512, o 16·32 = 512, output gate 32·(2·8) = 512, the indexer's wq_b
    # 24·(2·8) = 384 and wk 32·8 = 256, two norms 64 -> 4,264 (×2); layer 0's dense MLP 3·48·32 = 4,608; layer 1's
    # experts 4·32·32 + 4·32·16 = 6,144 and shared expert 3·16·32 = 1,536; final norm 32 -> 24,048.
    # fp32 (_keep_in_fp32_modules_strict): lm_head 100·32 = 3,200; per layer sinks 2, k_norm weight and bias 16,
    # weights_proj 2·32 = 64, attn_hc and ffn_hc (fn 4·64 + base 4 + scale 2) ×2 = 524 -> 606 (×2); router 4·32 = 128;
    # hc_head 2·64 + 2 + 1 = 131 -> 4,671.  28,719 parameters, 24,048·2 + 4,671·4 = 66,780 bytes
    w = weights_breakdown(spec_from_config(dict(TINY), "tiny-hy-v4"), "bfloat16")
    assert w.parameters == 28_719
    assert w.params_by_type["F32"] == 4_671
    assert w.total_bytes == 66_780


def test_tiny_hy_v4_bytes_equal_transformers_bf16_build() -> None:
    w = weights_breakdown(spec_from_config(dict(TINY), "tiny-hy-v4"), "bfloat16")
    assert (w.parameters, w.total_bytes) == meta_bf16_build(dict(TINY))


def test_lora_frozen_weights_keep_the_fp32_modules() -> None:
    # the development case: 2,558,613,869 parameters, of them lm_head 120,832·2,816 = 340,262,912 and 1,217,133 more
    # (routers, hyper-connections, indexer weights_proj / k_norm, sinks) in fp32: 341,480,045 × 4 B + 2,217,133,824 ×
    # 2 B = 5,800,187,828 bytes, the simulator's param_bytes (before: every frozen parameter × 2 B = 5,117,227,738)
    rec = json.loads(case_line(DEV, CASE))
    spec = spec_from_config(rec["config"], "hy-v4")
    states = model_states(spec, workload_for_case("lora", dict(rec["params"])).validate())
    assert states.weights == 2_217_133_824 * 2 + 341_480_045 * 4 == rec["param_bytes"]


def test_checkpointed_lora_layers_keep_the_hyper_connection_streams() -> None:
    # the development case (b 1, s 2,048, hidden 2,816, hc_mult 4, bf16 LoRA, checkpointed): each layer keeps its
    # 4-stream input, 2,048·4·2,816·2 = 46,137,344 B (before: one stream, 11,534,336 B); layer 0 also the causal mask
    # 2,048·2,048·2 = 8,388,608 B and the embedding's output (enable_input_require_grads' leaf) 11,534,336 B; layer 1
    # the int32 top-k layer 0's "full" indexer made, 2,048·2,048·4 = 16,777,216 B. The hyper head keeps the fp32
    # flattened streams 92,274,688 B and the streams 46,137,344 B: 138,412,032 B (before: 0)
    rec = json.loads(case_line(DEV, CASE))
    spec = spec_from_config(rec["config"], "hy-v4")
    p = model_states(spec, workload_for_case("lora", dict(rec["params"])).validate()).precision
    acts = model_activations(spec, p, 1, 2048)
    assert [la.checkpoint for la in acts.layers] == [46_137_344 + 8_388_608 + 11_534_336, 46_137_344 + 16_777_216]
    assert acts.hc_head == 138_412_032
    assert hc_head_parts(spec, acts.hc_head, 2) == [92_274_688]  # replayed: the streams are the last layer's output


def test_default_indexer_types_and_full_training() -> None:
    # the tiny config at 6 layers, no indexer_types: HYV4Config makes layers 0, 1 and 5 "full", so the checkpoints of
    # layers 1 and 2 keep a top-k (16·min(8, 16)·4 = 512 B) and 3, 4, 5 do not (their predecessors are "shared").
    # b 1, s 16, hidden 32, hc_mult 2: streams 16·2·32·2 = 2,048 B; mask 16·16·2 = 512 B; full training keeps no
    # embedding output. fp32 streams: the head's .float() is no copy, so it keeps the streams alone (16·2·32·4)
    spec = spec_from_config(dict(TINY, num_hidden_layers=6), "tiny-hy-v4")
    bf16 = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True, attn="eager")
    acts = model_activations(spec, bf16, 1, 16)
    assert [la.checkpoint for la in acts.layers] == [2_560, 2_560, 2_560, 2_048, 2_048, 2_048]
    assert acts.hc_head == 16 * 2 * 32 * (4 + 2)
    fp32 = Precision(amp=False, weight_bytes=4, resid_bytes=4, full=True, attn="eager")
    assert model_activations(spec, fp32, 1, 16).hc_head == 4_096
    assert hc_head_parts(spec, 4_096, 4) == []


def test_hy_v4_development_case() -> None:
    row = validate_line(case_line(DEV, CASE))
    assert row.relative_error is not None and abs(row.relative_error) < 0.001  # allocated: -2.68 % before
    assert row.predicted_total is not None and row.measured_total is not None
    assert abs(row.predicted_total / row.measured_total - 1) < 0.03  # device total: -8.40 % before


def _context(layers: int = 2) -> StepContext:
    rec = json.loads(case_line(DEV, CASE))
    spec = spec_from_config(dict(rec["config"], num_hidden_layers=layers), "hy-v4")
    p = model_states(spec, workload_for_case("lora", dict(rec["params"])).validate()).precision
    return StepContext(Trace(), spec, p, 1, 2048)


MIB = 2**20


def test_replayed_connection_before_a_block() -> None:
    # HYV4HyperConnection.forward on 2,048 tokens of 4 bf16 streams of 2,816: flat fp32 88 MiB and its square 88 MiB,
    # then flat, pre × streams 88 MiB and its fp32 sum 22 MiB alive (peak 88 + 88 + 22 = 198 MiB), the bf16 block
    # input 11 MiB; kept: flat (square's) and the input, 99 MiB; a checkpointed first forward keeps the input alone
    for keep, left in ((True, 99 * MIB), (False, 11 * MIB)):
        c = _context()
        out = hyv4_pre(c, LayerRun(keep=keep))
        assert out and c.tr.pool.allocated == left
        assert c.tr.pool.peak_allocated == 198 * MIB


def test_replayed_connection_after_a_block() -> None:
    # HYV4DecoderLayer.forward after the block's bf16 output (11 MiB): out.float() 22 MiB, post × out 88 MiB, the
    # streams' .float() 88 MiB and the sum 88 MiB alive together (peak 11 + 22 + 3 · 88 = 297 MiB), the new bf16
    # streams 44 MiB; the block's output goes; kept: out.float() (the product's) and the streams, 66 MiB; a
    # checkpointed first forward keeps the streams alone
    for keep, left in ((True, 66 * MIB), (False, 44 * MIB)):
        c = _context()
        x = 0
        out = c.tr.alloc(11 * MIB)
        before = c.tr.pool.allocated  # (the caching allocator's block: 12 MiB)
        new = hyv4_post(c, LayerRun(keep=keep), x, out, x)
        assert new and c.tr.pool.allocated == left
        assert c.tr.pool.peak_allocated == before + 22 * MIB + 3 * 88 * MIB


def test_replayed_mask_and_topk_lifetimes() -> None:
    # 6 layers, default indexer_types (layers 0, 1, 5 "full"), checkpointed: the mask (2,048² × 2 B = 8 MiB) and
    # layer 0's and 1's top-k (2,048² × 4 B = 16 MiB each) outlive the forward (the checkpoints of layers 1 to 5
    # keep them), layer 5's goes when the model returns; layer 1's goes after layer 2's backward, layer 0's after
    # layer 1's, the mask after layer 0's
    c = _context(6)
    hy = HyTopK(c, ckpt=True)
    for i in range(6):
        hy.layer_done(i)
    hy.forward_done()
    assert c.tr.pool.allocated == 8 * MIB + 2 * 16 * MIB
    seen = []
    for i in range(5, -1, -1):
        hy.backward_done(i)
        seen.append(c.tr.pool.allocated // MIB)
    assert seen == [40, 40, 40, 24, 8, 0]
    # without checkpointing the model's loop holds one top-k at a time and the forward's end frees it and the mask
    c = _context(6)
    hy = HyTopK(c, ckpt=False)
    for i in range(6):
        hy.layer_done(i)
    assert c.tr.pool.allocated == 8 * MIB + 16 * MIB
    hy.forward_done()
    assert c.tr.pool.allocated == 0


def test_connections_saved_without_checkpointing() -> None:
    # 1,024 tokens, hc_mult 4, hidden 2,816, bf16: a connection keeps the fp32 flat streams 4·2,816·4 = 45,056 B and
    # the streams 4·2,816·2 = 22,528 B a token, a post product the block output's fp32 copy 2,816·4 = 11,264 B: layer
    # 1 both connections and posts, 2 · 78,848 · 1,024 = 161,480,704 B; layer 0 under LoRA without checkpointing (its
    # input needs no gradient) the second connection and the MLP's post alone, 80,740,352 B. fp32 streams: the flat
    # copy is the streams themselves, 2 · (45,056 + 11,264) · 1,024
    rec = json.loads(case_line(DEV, UNCKPT))
    spec = spec_from_config(rec["config"], "hy-v4")
    p = model_states(spec, workload_for_case("lora", dict(rec["params"])).validate()).precision
    assert hyv4_connections_saved(spec, p, 1024, True) == 161_480_704
    assert hyv4_connections_saved(spec, p, 1024, False) == 80_740_352
    fp32 = Precision(amp=False, weight_bytes=4, resid_bytes=4, full=True)
    assert hyv4_connections_saved(spec, fp32, 1024, True) == 2 * (45_056 + 11_264) * 1024


def test_attention_saved_by_hand() -> None:
    # HYV4Attention under bf16 attention LoRA, 1,024 tokens, no checkpointing, per token: q_a's and kv_a's adapters
    # (fp32 input 2,816·4 + lora_A 8·4, twice) 22,592; q_a_layernorm 1,536·4 + 4 and q_b's adapter 1,536·4 + 32;
    # kv_a_layernorm 512·4 + 4 and kv_b's adapter 512·4 + 32; query and key 2 · 32·256·2 and kv_b's output
    # 32·448·2 (the core, 61,440); the sigmoid and the attention output 2 · 32·256·2; o_proj's adapter 8,192·4 + 32:
    # 166,056 B. Per sequence: the fp32 softmax with the sink column and the bf16 probabilities 32·1,024·(1,025·4 +
    # 1,024·2) = 201,457,664 B; transient, the masked scores, the max-shifted fp32 and the top-k mask 203,554,816 B
    # (the indexer's fp32 scores and ReLU, 134,217,728 B, less); the DynamicCache (512 + 64 + 128)·2 B a token
    rec = json.loads(case_line(DEV, UNCKPT))
    spec = spec_from_config(rec["config"], "hy-v4")
    p = replace(model_states(spec, workload_for_case("lora", dict(rec["params"])).validate()).precision, kv_cache=True)
    a = spec.layers[1].attention
    assert a is not None
    got = hyv4_attention_saved(a, spec, 2, p, 1, 1024, _linear_inputs, _norm)
    assert got == (166_056, 61_440, 201_457_664, 203_554_816, 1_408)


def test_uncheckpointed_development_case() -> None:
    # the simulator's peak (step 1's log_softmax backward): memfit -4.51 % on the generic layer, -1.69 % with the
    # connections' tensors (242,221,056 B), -0.02 % with HY-V4's attention (eager, sinks, gate; layer 0's input norm
    # and gate product keeping nothing under LoRA) and its experts' two clamps
    row = validate_line(case_line(DEV, UNCKPT))
    assert row.relative_error is not None and abs(row.relative_error) < 0.001


class _Sizes(Trace):
    """A trace that records every allocation's size."""

    sizes: list[int]

    def alloc(self, nbytes: int) -> int:
        self.__dict__.setdefault("sizes", []).append(nbytes)
        return super().alloc(nbytes)


def test_replayed_scores_with_the_sink_column() -> None:
    # HY-V4's eager_attention_forward is DeepSeek-V4's (transformers 5.25: the same function): cat with the fp32
    # sinks, minus the row max, the fp32 softmax, each 32 heads x 1,024 x 1,025 x 4 = 134,348,800 B (s + 1 columns);
    # the generic eager replay made s-column fp32 softmax only. Layer 1 of the uncheckpointed case, replayed once
    rec = json.loads(case_line(DEV, UNCKPT))
    spec = spec_from_config(rec["config"], "hy-v4")
    p = replace(model_states(spec, workload_for_case("lora", dict(rec["params"])).validate()).precision, kv_cache=True)
    tr = _Sizes()
    c = StepContext(tr, spec, p, 1, 1024, layer=1)
    la = model_activations(spec, p, 1, 1024).layers[1]
    layer_forward(c, spec.layers[1], la, tr.alloc(1024 * 4 * 2816 * 2))
    assert tr.sizes.count(32 * 1024 * 1025 * 4) == 3
