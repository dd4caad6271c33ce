"""The token mixers other than attention in a replayed training step (memory/training/layer_mixers.py): the
tensors LFM2's short convolution allocates and frees, sizes worked out by hand from transformers 5.25's
``Lfm2ShortConv`` and its reference ``causal_conv1d_fn``, and nothing left behind after its backward. The device
totals they give are held in tests/test_accuracy.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _traces import Recorded, Requested
from memfit.memory.activations import Precision
from memfit.memory.training.layer_mixers import dsv4_scores, short_conv
from memfit.memory.training.layer_ops import LayerRun, StepContext
from memfit.sources.hf_config import spec_from_config

LFM2 = Path(__file__).resolve().parents[1] / "src" / "memfit" / "data" / "models" / "lfm2-350m.json"


@pytest.mark.parametrize("amp", [False, True])
def test_short_conv_forward_and_backward(amp: bool) -> None:
    spec = spec_from_config(json.loads(LFM2.read_text()), "lfm2-350m")
    layer = next(x for x in spec.layers if x.conv is not None)
    assert spec.hidden_size == 1024 and layer.conv is not None and layer.conv.kernel == 3
    tr = Recorded()
    p = Precision(amp=amp, weight_bytes=4 if amp else 2, resid_bytes=4 if amp else 2, full=True)
    c = StepContext(tr, spec, p, batch=2, seq=1024)  # 2,048 tokens
    x = tr.alloc(2048 * 1024 * 2)
    run = LayerRun()
    out = short_conv(c, run, layer, x, 2)
    tok = 2048 * 1024 * 2  # one hidden-wide bf16 tensor over the tokens: 4 MiB
    padded = (2048 + 2 * 2) * 1024 * 2  # the conv output before the slice: kernel - 1 = 2 more positions a sequence
    weight_casts = [3 * 1024 * 1024 * 2, 1024 * 1024 * 2]  # autocast's bf16 copies of in_proj and out_proj
    if amp:
        # in_proj (weight cast, B·C·x), B·x, .to(fp32), autocast's bf16 copy, conv, C·conv, out_proj
        assert tr.sizes[1:] == [weight_casts[0], 3 * tok, tok, 2 * tok, tok, padded, tok, weight_casts[1], tok]
    else:
        assert tr.sizes[1:] == [3 * tok, tok, padded, tok, tok]
    kept = tr.pool.allocated
    # what the backward op leaves for in_proj: the 3·h gradient made contiguous; everything it made is freed
    (op_pos, op), = run.ops
    assert op_pos == 1  # between in_proj and out_proj
    g = tr.alloc(tok)
    before = tr.pool.allocated
    left = op(c, [g])
    assert len(left) == 1 and tr.pool.live[left[0]].size == 3 * tok
    assert tr.pool.allocated == before - tok + 3 * tok
    assert max(tr.sizes[-8:]) == 3 * tok and padded in tr.sizes[-12:]
    tr.free(*left, out, x)
    tr.free(*[k for _, k in run.saved])
    for lin in run.linears:
        tr.free(*lin.saved, lin.weight_cast)
    assert tr.pool.allocated == 0 and kept > 0


@pytest.mark.parametrize(("family", "extra"), [("gemma2", 3), ("cohere2", 1), ("llama", 0)])
def test_the_heads_logit_ops(family: str, extra: int) -> None:
    """transformers' heads: Gemma's tanh soft-cap makes logits / cap, tanh (kept for backward) and × cap; Cohere's
    ``logits * logit_scale`` one more; each the logits' size. The backward adds their gradients and frees them."""
    from dataclasses import replace

    from memfit.memory.training.pool import _loss_backward, _loss_forward

    spec = replace(spec_from_config(json.loads(LFM2.read_text()), "lfm2-350m"), family=family)
    tr = Recorded()
    p = Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True)
    c = StepContext(tr, spec, p, batch=1, seq=512)
    x = tr.alloc(512 * 1024 * 2)
    keys = _loss_forward(c, x)
    logits = 512 * spec.vocab_size * 2
    # the final norm's output, then the logits and the head's ops, their fp32 copy and the fp32 log-softmax
    assert tr.sizes[1:] == [512 * 1024 * 2, logits] + [logits] * extra + [2 * logits, 2 * logits]
    kept = 2 * logits + 512 * 1024 * 2 * 2 + (logits if family == "gemma2" else 0)  # + the tanh output
    assert tr.pool.allocated == kept
    g = _loss_backward(c, keys, [])
    tr.free(g)
    assert tr.pool.allocated == 0


def test_deepseek_v4_scores() -> None:
    """DeepSeek-V4's eager attention on a CSA layer (compress rate 4): 2,048 queries score 2,048 + 512 keys; the
    scores in bf16 (× scaling, + mask), their cat with the fp32 sinks one column wider (cat, minus the max, softmax),
    the probabilities cast back, the product with V and its contiguous copy; its backward frees what it made and
    leaves q's, K's and V's gradients (every head's)."""
    from memfit.spec import AttentionSpec

    spec = spec_from_config(json.loads(LFM2.read_text()), "lfm2-350m")
    a = AttentionSpec(num_heads=64, num_kv_heads=1, head_dim=512, single_kv=True, compress_rate=4, sinks=True)
    tr = Recorded()
    c = StepContext(tr, spec, Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True), batch=1, seq=2048)
    run = LayerRun()
    oc = dsv4_scores(c, run, a, 2)
    scores = 64 * 2048 * 2560 * 2  # 640 MiB
    wide = 64 * 2048 * 2561 * 4
    out = 2048 * 64 * 512 * 2
    assert tr.sizes == [scores, scores, scores, wide, wide, wide, scores, out, out]
    assert tr.pool.allocated == wide + scores + out  # the softmax and the probabilities kept, o_proj's input
    (_, op), = run.ops
    g = tr.alloc(out)
    left = op(c, [g])
    assert sorted(tr.pool.live[k].size for k in left) == sorted([64 * 2560 * 512 * 2] * 2 + [out])
    tr.free(*left, oc)
    assert tr.pool.allocated == 0


def test_an_in_place_sum_is_a_new_block_but_not_a_new_peak() -> None:
    """The tied embedding's two gradients summed: the caching allocator places the sum as a new block (the pool
    grows), the allocated peak counts it as the autograd engine's in-place add (no third tensor)."""
    from memfit.memory.training.pool import _LargePool

    mib = 1 << 20
    tr = _LargePool()
    tr.built()
    a, b = tr.alloc(100 * mib), tr.alloc(100 * mib)
    total = tr.alloc_in_place(100 * mib, a, b)
    f = tr.figures()
    assert f.peak_reserved == 300 * mib and f.peak_allocated == 200 * mib
    assert set(tr.pool.live) == {total}


def test_llama4_every_expert() -> None:
    """Llama 4's every-expert block (4 experts × 2,048 intermediate on 1,024 hidden, 512 tokens, bf16): the input
    repeated and scaled (E·t rows each), gate_up, act, up·act, down; its backward makes both expert weights'
    gradients (E·I·h and E·h·2I) and leaves the input's (t·h), with everything else it made or kept freed."""
    from memfit.memory.training.layer_mixers import every_expert
    from memfit.spec import MoESpec

    spec = spec_from_config(json.loads(LFM2.read_text()), "lfm2-350m")
    m = MoESpec(num_experts=4, top_k=1, expert_intermediate_size=2048, dense_dispatch=True)
    tr = Recorded()
    c = StepContext(tr, spec, Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True), batch=1, seq=512)
    run = LayerRun()
    down = every_expert(c, run, m)
    rows = 4 * 512
    assert tr.sizes == [rows * 1024 * 2, rows * 1024 * 2, rows * 4096 * 2, rows * 2048 * 2, rows * 2048 * 2,
                        rows * 1024 * 2]
    (_, op), = run.ops
    tr.free(down)
    g = tr.alloc(512 * 1024 * 2)
    left = op(c, [g])
    assert [tr.pool.live[k].size for k in left] == [512 * 1024 * 2]
    assert {k: tr.pool.live[v].size for k, v in run.made.items()} == {
        "ffn_down_exps": 4 * 2048 * 1024 * 2, "ffn_up_exps": 4 * 1024 * 4096 * 2}
    tr.free(*left, *run.made.values())
    assert tr.pool.allocated == 0


BAMBA = LFM2.parent / "bamba-9b.json"
MIB = 1 << 20


@pytest.mark.parametrize("amp", [False, True])
def test_mamba2_mixer_keeps_what_autograd_keeps(amp: bool) -> None:
    """Bamba-9B's Mamba-2 mixer (h 4,096, d_inner 8,192 = 128 heads × 64, state 128, one group, conv 4, chunk 256)
    on 2,048 tokens, sizes by hand: chunk² tensors 128·2,048·256·4 B = 256 MiB, B/C per head 2,048·128·128·4 B =
    128 MiB, x-sized 2,048·8,192·4 B = 64 MiB, the 8 chunks' states 32 MiB (+ 4 MiB initial), the conv's channels
    8,448 (33 MiB in bf16, its padded output 3 positions longer), in_proj's output 16,768 wide (65.5 MiB in bf16).
    Under autocast the einsums keep bf16 casts: L, G (bf16), M (bf16) = 512 MiB; B chunked + four bf16 operand
    copies = 384; x fp32, pad(x), three bf16 x-sized operands = 224; the states' cat and copy (bf16) = 34; the conv's
    input and output = 66; the outputs' cat and the fp32 gated norm's 4 = 320; dt's three fp32 = 3. Without it the
    operands are fp32: 768 + 640 + 320 + 68, in_proj's output (the conv reads its view) and the conv output
    98.5, 320, dt 1.5 (bf16). The backward frees all of it and leaves in_proj's output gradient."""
    from memfit.memory.training.layer_ssm import mamba2_mixer, replays_ssm

    spec = spec_from_config(json.loads(BAMBA.read_text()), "bamba-9b")
    layer = next(x for x in spec.layers if x.ssm is not None)
    assert replays_ssm(layer) and layer.ssm is not None and layer.ssm.num_heads == 128
    tr = Requested()
    p = Precision(amp=amp, weight_bytes=4 if amp else 2, resid_bytes=4 if amp else 2, full=True)
    c = StepContext(tr, spec, p, batch=1, seq=2048)
    xb = 4 if amp else 2
    x = tr.alloc(2048 * 4096 * xb)
    run = LayerRun()
    out = mamba2_mixer(c, run, layer, x, xb)
    assert tr.live[out] == 2048 * 4096 * 2  # out_proj's bf16 output
    linear_kept = sum(tr.live[k] for lin in run.linears for k in (*lin.saved, lin.weight_cast) if k)
    held = sum(tr.live[k] for _, k in run.saved)  # out_proj's bf16 input without autocast
    mixer = tr.requested - 2048 * 4096 * (xb + 2) - linear_kept - held
    pad = 3 * 8448 * 2
    assert mixer == (1543 * MIB + pad if amp else (2216 * MIB + pad))
    (op_pos, op), = run.ops
    assert op_pos == 1
    g = tr.alloc(2048 * 8192 * (4 if amp else 2))  # out_proj's input gradient (fp32 under autocast: its cast's)
    left = op(c, [g])
    assert len(left) == 1 and tr.live[left[0]] == 2048 * 16768 * 2
    assert tr.requested == 2048 * 4096 * (xb + 2) + linear_kept + held + 2048 * 16768 * 2
    assert max(tr.sizes) == 256 * MIB


def test_relu2_mlp() -> None:
    """Nemotron-H-56B's squared-ReLU MLP (h 8,192, intermediate 32,768) on 512 bf16 tokens: up's output (32 MiB),
    relu's (kept) and its square (down's input, kept), up's output freed, down's 8 MiB output; the backward's pow
    chain (three of 32 MiB, two freed at once) and threshold_backward leave one 32 MiB gradient."""
    from memfit.memory.training.layer_mixers import relu2_mlp

    spec = spec_from_config(json.loads((LFM2.parent / "nemotron-h-56b-base-8k.json").read_text()), "nemotron-h")
    layer = next(x for x in spec.layers if x.mlp is not None)
    assert layer.mlp is not None and layer.mlp.activation == "relu2" and layer.mlp.intermediate_size == 32768
    tr = Requested()
    c = StepContext(tr, spec, Precision(amp=False, weight_bytes=2, resid_bytes=2, full=True), batch=1, seq=512)
    x = tr.alloc(512 * 8192 * 2)
    run = LayerRun()
    out = relu2_mlp(c, run, 32768, x, 2)
    assert tr.sizes[1:] == [32 * MIB] * 3 + [8 * MIB]
    assert tr.requested == 8 * MIB + 8 * MIB + 2 * 32 * MIB and tr.live[out] == 8 * MIB
    (pos, op), = run.ops
    assert pos == 1
    g = tr.alloc(32 * MIB)
    left = op(c, [g])
    assert tr.sizes[-4:] == [32 * MIB] * 4 and [tr.live[k] for k in left] == [32 * MIB]
    assert tr.requested == 8 * MIB + 8 * MIB + 2 * 32 * MIB + 32 * MIB


@pytest.mark.parametrize("amp", [True, False])
def test_cohere_final_norm_op_by_op(amp: bool) -> None:
    """CohereLayerNorm (transformers 5.25 modeling_cohere.py) after the last layer: ``x.to(float32)`` (a copy only
    off an fp32 stream), ``x - mean`` (kept by pow), its square (freed once reduced), ``x - mean`` again (kept by
    ``* rsqrt``), the product (kept for the weight's gradient), ``weight * ...``, then ``.to(input dtype)`` (a copy
    only off fp32). The stream dies with its last reference; 512 tokens of 1,024 features."""
    from dataclasses import replace

    from memfit.memory.training.pool import _op_layer_norm

    spec = replace(spec_from_config(json.loads(LFM2.read_text()), "lfm2-350m"), family="cohere")
    tr = Recorded()
    r = 4 if amp else 2
    c = StepContext(tr, spec, Precision(amp=amp, weight_bytes=4 if amp else 2, resid_bytes=r, full=True),
                    batch=1, seq=512)
    n4, n2 = 512 * 1024 * 4, 512 * 1024 * 2
    x = tr.alloc(512 * 1024 * r)
    saved: list[int] = []
    stream, out = _op_layer_norm(c, x, saved)
    if amp:  # fp32 stream: no cast in, none out
        assert tr.sizes[1:] == [n4, n4, n4, n4, n4]
        assert tr.pool.allocated == 4 * n4  # three saved + the output; the stream freed
    else:
        assert tr.sizes[1:] == [n4, n4, n4, n4, n4, n4, n2]
        assert tr.pool.allocated == 3 * n4 + n2
    assert stream == 0 and len(saved) == 3 and x not in tr.pool.live
    tr.free(*saved, out)
    assert tr.pool.allocated == 0
