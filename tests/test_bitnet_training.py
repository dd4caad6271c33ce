"""BitNet's training step (issue 12, l12misc): its MLP is gated relu² with a sub-norm before down_proj, and its
attention output is RMS-normed before o_proj (transformers 5.25 modeling_bitnet.py ``BitNetMLP.forward``:
``down_proj(ffn_sub_norm(act_fn(gate_proj(x)) * up_proj(x)))``, ``BitNetAttention.forward``: ``attn_sub_norm``;
``activations.ReLUSquaredActivation``: ``relu``, then ``torch.square``; ``BitNetRMSNorm`` in fp32)."""

from __future__ import annotations

from memfit.memory.activations import Precision
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_families import block_extras_saved
from memfit.memory.training.layer_mixers import relu2_mlp
from memfit.memory.training.layer_ops import LayerRun, StepContext
from memfit.sources.hf_config import spec_from_config

MIB = 1 << 20
BF16_FULL = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True)
# transformers 5.25's default BitNetConfig (microsoft/bitnet-b1.58-2B-4T widths), cut to 3 layers
BITNET = {"model_type": "bitnet", "hidden_size": 2560, "intermediate_size": 6912, "num_hidden_layers": 3,
          "num_attention_heads": 20, "num_key_value_heads": 5, "vocab_size": 128256, "hidden_act": "relu2",
          "rms_norm_eps": 1e-5, "max_position_embeddings": 2048}


def test_sub_norms_saved_per_token() -> None:
    """Per token, bf16, full fine-tune: attn_sub_norm keeps its fp32 copy (4 × 2,560) and the normed copy cast back
    (2 × 2,560) = 15,360 B; ffn_sub_norm 4 × 6,912 + 2 × 6,912 = 41,472 B; 56,832 B. Under LoRA (the norm weights
    frozen) only the fp32 copies: 37,888 B."""
    spec = spec_from_config(BITNET, "bitnet-l3")
    layer = spec.layers[0]
    assert block_extras_saved(spec, layer, False, 2, 2, True) == 15_360 + 41_472 == 56_832
    assert block_extras_saved(spec, layer, False, 2, 2, False) == 4 * 2560 + 4 * 6912 == 37_888


def test_gated_relu2_forward_by_hand() -> None:
    """1,024 tokens, intermediate 6,912, bf16: n = 1,024 × 6,912 × 2 B = 13.5 MiB. gate (1 n), relu (2), gate goes
    (1), square (2), up (3), product (4), its fp32 copy (6), the product goes (5), pow (7) and goes (5), the normed
    fp32 (7), cast back (8: the peak, 108 MiB), the fp32 normed goes (6), × weight (7); down's output 1,024 × 2,560
    × 2 = 5 MiB. Kept for backward: relu, square, up, the fp32 copy, the cast (6 n) and down's input (1 n). Each
    13.5 MiB request takes a 14 MiB segment (2 MiB rounding; its 0.5 MiB rest too small to split off), each 27 MiB
    one 28 MiB; the weighted result reuses the freed fp32 normed block, split (13.5 MiB): peak 8 × 14 = 112 MiB, left
    6 × 14 + 13.5 + 5 = 102.5 MiB (the plain relu² MLP this replaced peaks at 3 blocks)."""
    spec = spec_from_config(BITNET, "bitnet-l3")
    tr = Trace()
    c = StepContext(tr, spec, BF16_FULL, 1, 1024)
    run = LayerRun()
    n = 1024 * 6912 * 2
    assert n == 13.5 * MIB
    down = relu2_mlp(c, run, 6912, 0, 2, gated=True)
    assert down in tr.pool.live
    assert tr.pool.peak_allocated == 8 * 14 * MIB
    assert 2 * tr.pool.allocated == (2 * 6 * 14 + 27 + 2 * 5) * MIB
    assert len(run.saved) == 6 and len(run.ops) == 1
    assert [lin.kind for lin in run.linears] == ["ffn_gate", "ffn_up", "ffn_down"]
