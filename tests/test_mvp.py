"""MVP (issue 12, l12mvp; development case mvp-default-l2/train-bf16-adamw-fused-ckpt-eager-b2-s1000 in
train-sweep-dev.jsonl, moved there from blind round 6 before its trace was read). transformers 5.25
models/mvp/modeling_mvp.py: ``MvpDecoderLayer`` builds a cross-attention (``encoder_attn`` and its
``encoder_attn_layer_norm``) that its forward runs only ``if encoder_hidden_states is not None``, and
``MvpForCausalLM`` trained on text passes none: those parameters get no gradient and AdamW no state for them
(torch/optim/adam.py ``_init_group`` takes only parameters whose ``.grad`` is not None)."""

from __future__ import annotations

from pathlib import Path

from _simulated import case_errors
from memfit.inventory import count_parameters
from memfit.memory.allocator_trace import Trace
from memfit.memory.backward_moments import dense_backward_relief
from memfit.memory.training.layer_ops import LayerRun, StepContext
from memfit.memory.training.layer_stream import _attention
from memfit.memory.training.states import encoder_attention, model_states, training_precision
from memfit.sources.hf_config import spec_from_config
from memfit.spec import AttentionSpec, MLPSpec
from memfit.workload import Workload

DEV = Path(__file__).resolve().parent / "data" / "simulated" / "train-sweep-dev.jsonl"
CASE = "mvp-default-l2/train-bf16-adamw-fused-ckpt-eager-b2-s1000"
TINY_MVP = dict(
    model_type="mvp",
    vocab_size=100,
    d_model=64,
    decoder_layers=2,
    decoder_attention_heads=4,
    decoder_ffn_dim=128,
    encoder_layers=2,
    encoder_attention_heads=4,
    encoder_ffn_dim=128,
    max_position_embeddings=64,
)


def _train() -> Workload:
    return Workload(
        mode="train", context=16, batch=1, optimizer="adamw-fused", dtype="bfloat16", mixed_precision=False
    ).validate()


def test_encoder_attention_names() -> None:
    assert encoder_attention("model.decoder.layers.0.encoder_attn.k_proj.weight")
    assert encoder_attention("model.decoder.layers.11.encoder_attn_layer_norm.bias")
    assert not encoder_attention("model.decoder.layers.0.self_attn.k_proj.weight")
    assert not encoder_attention("model.decoder.layers.0.self_attn_layer_norm.weight")
    assert not encoder_attention("model.encoder_attn_proj.weight")  # a name part, not a prefix


def test_mvp_cross_attention_gets_no_gradient_nor_state_by_hand() -> None:
    spec = spec_from_config(dict(TINY_MVP), "tiny-mvp")
    total = count_parameters(spec).total
    # per decoder layer: encoder_attn's q/k/v/out 4 x (64 x 64 + 64) = 16,640 and its LayerNorm 2 x 64 = 128:
    # 16,768; two layers 33,536 parameters without a gradient
    st = model_states(spec, _train())
    assert st.trainable == total - 33_536
    assert st.gradients == 2 * (total - 33_536)  # bf16 gradients
    # fused AdamW: exp_avg and exp_avg_sq in bf16, 4 B per trained parameter
    assert st.optimizer.state_bytes == 4 * (total - 33_536)


def test_mvp_dev_case() -> None:
    # +15.81 % / +8.01 % before; +1.11 % / +1.36 % with the cross-attention and the pool's softmax backward only;
    # +0.10 % / +0.73 % before the BART family's reading (l12bart2), -0.20 % / +1.16 % after: the replay's LayerNorm
    # blocks open one more 61 MiB segment in the second step's forward than the simulator (placement, open)
    allocated, total = case_errors(DEV, CASE)
    assert abs(allocated) < 0.003
    assert abs(total) < 0.012


TINY_LLAMA = dict(
    model_type="llama",
    vocab_size=100,
    hidden_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=128,
    max_position_embeddings=64,
)


def _attention_kernel(model_type: str) -> list[int]:
    """The eager attention backward's buffers the training pool replays for one layer of a tiny model, bf16."""
    cfg = dict(TINY_LLAMA) if model_type == "llama" else dict(TINY_MVP, model_type=model_type)
    spec = spec_from_config(cfg, f"tiny-{model_type}")
    wl = Workload(mode="train", context=16, batch=1, dtype="bfloat16", attn="eager", mixed_precision=False).validate()
    c = StepContext(Trace(), spec, training_precision(spec, wl), 1, 16)
    c.layer = 0
    run = LayerRun()
    _attention(c, run, spec.layers[0], c.tr.alloc(16 * 64 * 2), 2)
    return run.kernels[-1][1]


def test_mvp_eager_softmax_backward_in_bf16_by_hand() -> None:
    # 16 tokens, 4 heads: 4 x 16 x 16 = 1,024 scores; the probabilities' gradient (bmm) and _softmax_backward_data's
    # output in bf16, 2,048 B each (MvpAttention.forward: nn.functional.softmax(attn_weights, dim=-1) on bf16 scores),
    # beside dq (16 x 64 x 2 = 2,048 B) and the attention output's and value's gradients
    assert _attention_kernel("mvp") == [2_048, 2_048, 2_048, 2_048, 2_048]
    # BART, whose eager_attention_forward softmaxes in the model dtype too; Llama's fp32 softmax: 4,096 B each
    assert _attention_kernel("bart") == [2_048, 2_048, 2_048, 2_048, 2_048]
    assert _attention_kernel("llama") == [2_048, 2_048, 2_048, 4_096, 4_096]


def test_eager_softmax_backward_moment_relief_by_hand() -> None:
    # a layer of 4 heads of 16 (q 64 wide, K and V 2 x 64), MLP 128 wide, 16 tokens, bf16 gradients; the softmax
    # backward's buffers (sq_back 40,000 B) outgrow the MLP's (12,288 B), so the one-moment backward holds them
    a = AttentionSpec(num_heads=4, num_kv_heads=4, head_dim=16)
    mlp = MLPSpec(intermediate_size=128, kind="plain", activation="gelu")
    got = dense_backward_relief(
        a, mlp, h=64, tokens=16, grad_bytes=2, proj_bytes=2, layer_weights=32_768, mlp_saved=640,
        input_norm_saved=128, saved=100_000, backward_extra=4_096 + 40_000, resid_grads=4_096, mlp_back=12_288,
        sq_back=40_000,
    )  # fmt: skip
    # early (fc2's backward): 65,536 B of weight gradients less fc2's 16,384, plus 40,000 - 12,288 held = 76,864;
    # middle (the softmax backward): the MLP's saved 16 x 640 = 10,240 and q/k/v's gradients 64 x 192 x 2 = 24,576
    # not alive, the buffers the same = 34,816; late: 100,000 - 2,048 + 44,096 - 4,096 = 137,952
    assert got == 34_816
