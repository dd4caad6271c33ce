"""A dense MLP in a training step as the caching allocator sees it (replayed by ``layer_stream.layer_forward``, and
for a MoE block's shared expert): gate, its activation, up, their product and down, each kept as autograd keeps it;
and whether a LoRA adapter keeps its Linear's own input (PEFT's cast to the adapter's dtype a no-op)."""

from __future__ import annotations

from ...sources.bert_family import BERT_HEADS
from ..lora_dropout import adapter_input_saved
from ..relative_attention import RELATIVE_ATTENTION
from .layer_ops import LayerRun, StepContext, linear
from .layer_parallel import gelu_new, gelu_new_chain

__all__ = ["adapter_keeps", "dense_mlp"]


def adapter_keeps(c: StepContext, run: LayerRun, x: int, xb: int) -> bool:
    """An adapter on a Linear reading ``x`` keeps ``x`` itself for lora_A's backward: PEFT's cast of the input to
    the adapter's dtype is a no-op (adapters FSDP gathers in the layer's dtype), no dropout, no autocast."""
    return any(lin.x == x and lin.kind in c.p.lora_kinds for lin in run.linears) and \
        adapter_input_saved(1, xb, c.p.lora_dropout, c.p.amp, c.p.adapter_bytes)[1]


def dense_mlp(c: StepContext, run: LayerRun, inter: int, gated: bool, fused: bool, x: int, xb: int) -> int:
    """A dense MLP (gate, act(gate), up, their product, down); returns the down projection's output."""
    tr, t, h, mb = c.tr, c.t, c.spec.hidden_size, c.p.mlp_bytes  # mb: bitsandbytes' Linear4bit keeps the input dtype
    if gated:
        gate = linear(c, run, "ffn_up" if fused else "ffn_gate", x, xb, h, 2 * inter if fused else inter, mb)
        act = tr.alloc(t * inter * mb)
        if not fused:
            run.hold(tr, gate)
        up = 0 if fused else linear(c, run, "ffn_up", x, xb, h, inter, mb)
        prod = tr.alloc(t * inter * mb)
        run.hold(tr, act, up)
        if fused:
            run.hold(tr, gate)
        # backward: the product's gradients (of act(gate) and of up), then the activation's
        run.kernels.append((len(run.linears), [t * inter * mb] * 3, 0))
    else:
        up = linear(c, run, "ffn_up", x, xb, h, inter, mb)
        if gelu_new(c):  # NewGELUActivation's op chain (layer_parallel)
            keep_act = c.p.full or "ffn_down" in c.p.lora_kinds
            prod = gelu_new_chain(c, run, up, inter, keep_act)
            down = linear(c, run, "ffn_down", prod, c.pb, inter, h)
            tr.free(0 if keep_act else prod)  # (kept: held by the chain)
            return down
    # a plain ReLU's backward reads its output (threshold_backward(grad, result, 0)), not fc1's
    mlp = c.spec.layers[c.layer].mlp if 0 <= c.layer < len(c.spec.layers) else None
    relu = not gated and mlp is not None and mlp.activation == "relu"
    if not gated:
        prod = tr.alloc(t * inter * mb)
        tr.free(up) if relu else run.hold(tr, up)
    # XLNetFeedForward: dropout(activation(...)) with config.dropout; the BART family's decoder layers and BioGPT's:
    # nn.functional.dropout(activation_fn(fc1(x)), p=activation_dropout) before fc2 (native_dropout: its output,
    # fc2's input, and a bool mask kept for native_dropout_backward)
    if not gated and (c.p.activation_dropout > 0 or (c.spec.family in RELATIVE_ATTENTION and c.p.dropout > 0)):
        dropped, mask = tr.alloc(t * inter * mb), tr.alloc(t * inter)
        run.hold(tr, prod) if relu else tr.free(prod)
        prod, relu = dropped, False
        run.hold(tr, mask)
    # a BERT type's BertOutput.dense keeps its input (the activation's output) until its own backward has made both
    # gradients (AddmmBackward0 saves mat1): held before down is made, the replay frees it after down's backward (the
    # simulator's trace of xlm-roberta-default-l2); the other types' replay frees it before (not re-checked here)
    if early := c.spec.family in BERT_HEADS and not gated and c.p.full:
        run.hold(tr, prod)
    down = linear(c, run, "ffn_down", prod, mb, inter, h, mb)
    if early:
        return down
    # down's input is kept for its weight's gradient or an adapter reading it uncast; otherwise a frozen down_proj's
    # backward reads its weight only
    run.hold(tr, prod) if c.p.full or relu or adapter_keeps(c, run, prod, mb) else tr.free(prod)
    return down
