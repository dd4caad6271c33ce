"""Mamba-2 mixers under transformers' torch path: the chunked SSD scan's tensors, for inference and training.

transformers 5.25 runs a Mamba-2 mixer (``mamba2``, ``bamba``, ``granitemoehybrid``, ``nemotron_h``, ``falcon_h1``)
through the ``mamba_ssm`` / ``causal_conv1d`` CUDA kernels only when those packages (or Hub kernels) are installed;
on a plain install it falls back to the PyTorch reference (``causal_conv1d_fn``, ``mamba2_chunk_scan``), which is
what memfit models. With ``b`` sequences of ``s`` tokens padded to ``S = ceil(s / Q)·Q`` (``Q`` = ``chunk_size``,
``c = S / Q`` chunks), ``H`` heads of ``P``, state ``N``, ``d = H·P``, the scan materialises, all in fp32:

* three ``b·H·S·Q`` tensors (chunk² per head per chunk): ``L = exp(segsum(A))``, ``G = C·Bᵀ`` and ``M = G·L``;
* ``b·S·H·N`` tensors: B and C repeated from their groups to every head and chunked (and in training the
  einsums' operand copies and ``B·decay``);
* ``b·S·d`` tensors: x·dt, its chunked copy, the D skip, the diagonal and off-diagonal outputs, their sum;
* the chunk states ``b·(c + 1)·H·P·N``.

Counted op by op on the reference code with a fake-tensor allocation trace (tools/simulate_memory.py's tracker):
the inference peak is at ``output = (Y_diag + Y_off).contiguous()``, where 3 chunk² tensors, 3 B/C-sized, 7
d-sized (fp32) tensors, the chunk states, in_proj's output and the conv output (model dtype) are alive, or, when the
state is large (Nemotron-H-56B: N = 256 against P = 64), at the ``C·states`` einsum, where C and the chunk states
are copied into the batched layout (4 B/C-sized, 4 d-sized, the states twice); what autograd keeps is listed in
``mamba2_saved_bytes`` (fp32 einsum operands without autocast, bf16 casts under it).

The CUDA kernels (``mamba_chunk_scan_combined``, and in training ``mamba_split_conv1d_scan_combined``) never
materialise the chunk² tensors nor the fp32 copies: they keep per-chunk states and recompute in the backward, so
a kernel install needs far less than this (not modelled: memfit prices the path a plain install runs).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..spec import LayerSpec, LinearAttentionSpec, SSMSpec
from .rwkv import time_mix_training

__all__ = ["HEADWISE_SELECTIVE_SCAN", "ScanSizes", "gated_delta_prefill_bytes", "headwise_scan_prefill_bytes",
           "kda_prefill_bytes", "kda_training", "mamba2_prefill_bytes", "mamba2_saved_bytes", "mamba_backward_relief",
           "mamba_prefill_bytes", "mamba_saved_per_token", "recurrent_training", "rglru_prefill_bytes",
           "rglru_saved_bytes", "scan_sizes"]

FP32 = 4
# model types whose Mamba mixer is Mamba-1's selective scan run head by head: transformers 5.25
# models/zamba/modeling_zamba.py ZambaMambaMixer.forward calls mamba_selective_scan once per head
HEADWISE_SELECTIVE_SCAN = frozenset({"zamba"})


@dataclass(frozen=True)
class ScanSizes:
    """Bytes of the scan's tensor kinds for ``b`` sequences of ``s`` tokens (fp32 unless said)."""

    chunk2: int  # b·H·S·Q: L, G, M
    bc: int  # b·S·H·N: B or C repeated to every head
    d: int  # b·S·d: x·dt and the scan's outputs
    states: int  # b·c·H·P·N: the states at the chunk boundaries
    state1: int  # b·H·P·N: one more chunk's states (the initial/final state)
    conv_tokens: int  # b·s·conv_dim elements: the conv's channels (x, B, C)
    proj_tokens: int  # b·s·(d + conv_dim + H) elements: in_proj's output
    heads: int  # b·S·H: dt and the per-head decays


def scan_sizes(ssm: SSMSpec, b: int, s: int) -> ScanSizes:
    q = max(1, ssm.chunk_size)
    c = math.ceil(s / q)
    big_s = c * q
    d = ssm.num_heads * ssm.head_dim
    conv = ssm.d_inner + 2 * ssm.n_groups * ssm.d_state
    one = b * ssm.num_heads * ssm.head_dim * ssm.d_state * FP32
    return ScanSizes(chunk2=b * ssm.num_heads * big_s * q * FP32, bc=b * big_s * ssm.num_heads * ssm.d_state * FP32,
                     d=b * big_s * d * FP32, states=c * one, state1=one, conv_tokens=b * s * conv,
                     proj_tokens=b * s * (ssm.d_inner + conv + ssm.num_heads), heads=b * big_s * ssm.num_heads)


def mamba2_prefill_bytes(ssm: SSMSpec, b: int, s: int, dt: int) -> tuple[int, str]:
    """Bytes alive at the peak of one Mamba-2 mixer's prefill on the torch path (beyond the residual stream)."""
    z = scan_sizes(ssm, b, s)
    base = 3 * z.chunk2 + (z.proj_tokens + z.conv_tokens) * dt + 6 * z.heads * FP32
    # the end of the scan (the outputs summed and made contiguous) or, with a large state, the C·states einsum
    # (C and the chunk states copied into its batched layout beside the states it reads)
    end = 3 * z.bc + 7 * z.d + z.states + z.state1
    c_states = 4 * z.bc + 4 * z.d + 2 * z.states + z.state1
    at_end = end >= c_states
    text = (f"Mamba-2 chunked scan (torch path, chunk {ssm.chunk_size}): 3 × {z.chunk2:,} B chunk² (L, G, M) + "
            + (f"3 × {z.bc:,} B (B, C per head) + 7 × {z.d:,} B (x·dt, outputs) + chunk states "
               f"{z.states + z.state1:,} B" if at_end else
               f"4 × {z.bc:,} B (B, C per head, C copied for C·states) + 4 × {z.d:,} B (x·dt, outputs) + chunk "
               f"states twice {2 * z.states + z.state1:,} B")
            + f" + in_proj/conv outputs {(z.proj_tokens + z.conv_tokens) * dt:,} B")
    return base + max(end, c_states), text


def mamba2_saved_bytes(ssm: SSMSpec, b: int, s: int, proj_bytes: int, amp: bool) -> tuple[int, int]:
    """(saved, backward transient) bytes of one Mamba-2 mixer in training, beyond its in_proj/out_proj inputs.

    Without autocast the einsums keep fp32 operand copies: 3 chunk² (L, G, M), 5 B/C-sized, 5 d-sized in the scan,
    the chunk states twice, and in_proj's whole output (the conv's input is a view of it). Under bf16 autocast the
    einsums run in bf16 and keep bf16 casts (``amp``): L in fp32 and G, M in bf16 (2 chunk² of fp32 in all),
    3 B/C-sized, 3.5 d-sized and half the states, and the conv keeps its own bf16 input. The fp32 gated RMSNorm
    keeps 5 d-sized tensors either way (3 for gate · silu alone). The backward's extra is one chunk² tensor
    (the gradient of M or G while the other is alive), measured below the forward's own transients."""
    z = scan_sizes(ssm, b, s)
    norm = 5 if ssm.gated_norm else 3
    if amp:
        saved = (2 * z.chunk2 + 3 * z.bc + (7 * z.d) // 2 + (2 * z.states + z.state1) // 2
                 + 2 * z.conv_tokens * proj_bytes)
    else:
        saved = (3 * z.chunk2 + 5 * z.bc + 5 * z.d + 2 * z.states + z.state1
                 + (z.proj_tokens + z.conv_tokens) * proj_bytes)
    return saved + norm * z.d + 12 * z.heads, z.chunk2


def mamba_prefill_bytes(hidden: int, ssm: SSMSpec, tokens: int, dt: int) -> tuple[int, str]:
    """Bytes alive at the end of a Mamba(-1) layer's prefill scan on transformers' torch path
    (``mamba_selective_scan``; the mamba-ssm CUDA kernels are not assumed installed).

    The discretised ``exp(A·dt)``, ``dt·B`` and ``dt·B·u``, each (b, d_inner, s, d_state) fp32; per (b, d_inner, s)
    element: in_proj's output (x and gate, 2 × dtype), the conv output and its activation (2 × dtype), dt + bias
    and the D skip in fp32 (2 × 4), softplus(dt), the per-step outputs and their stack (3 × dtype); beside the
    embeddings, the fp32 residual (``residual_in_fp32``) and the normed input.
    """
    x = tokens * ssm.d_inner
    scan = 3 * x * ssm.d_state * FP32
    per_x = 7 * dt + 2 * FP32
    stream = tokens * hidden * (2 * dt + FP32)
    return scan + x * per_x + stream, (f"Mamba scan: 3 × {tokens:,} tokens × {ssm.d_inner} × {ssm.d_state} × 4 B "
                                       f"(exp(A·dt), dt·B, dt·B·u) + {tokens:,} × {ssm.d_inner} × {per_x} B "
                                       f"+ stream {stream:,}")


def headwise_scan_prefill_bytes(ssm: SSMSpec, b: int, s: int, dt: int) -> tuple[int, str]:
    """Bytes of one multi-head Mamba-1 mixer (Zamba) at its peak on transformers' torch path: the last head's
    ``scan_output + hidden_states * D``.

    ZambaMambaMixer.forward (transformers 5.25 models/zamba/modeling_zamba.py) holds, over all of ``d_inner`` in the
    model dtype, in_proj's output (the gate a view of it), the conv's activated output and the time steps
    (``dt_proj_weight @ time_step``), and ``x_proj``'s output (``R + 2N`` per head); then scans the ``H`` heads of
    ``P = d_inner / H`` channels one after another with ``mamba_selective_scan`` (the reference scan without
    mamba-ssm), each earlier head's fp32 output and final state kept in its lists. In a head, per (b, P, s)
    element: ``softplus(dt + bias)`` (model dtype), ``discrete_A = exp(A·dt)``, ``discrete_B = dt·B`` and
    ``deltaB_u`` (each N fp32), the loop's ``scan_outputs`` (one ``(b, P, 1)`` matmul output per step, each
    rounded to the allocator's 512 B), their ``torch.stack``, ``hidden_states * D`` (D fp32) and the fp32 sum, with
    the loop's last fp32 state. (At ``deltaB_u`` only u's fp32 copy is there instead: fewer bytes.)
    """
    heads = max(1, ssm.num_heads)
    p = ssm.d_inner // heads
    x = b * s * p
    state = b * p * ssm.d_state * FP32
    step = -(-b * p * dt // 512) * 512
    mixer = 4 * b * s * ssm.d_inner * dt + b * s * heads * (ssm.dt_rank + 2 * ssm.d_state) * dt
    earlier = (heads - 1) * (x * FP32 + state)
    head = 3 * x * ssm.d_state * FP32 + 2 * x * dt + s * step + 2 * x * FP32 + state
    return mixer + earlier + head, (
        f"Mamba-1 scan per head ({heads} heads): 3 × {x:,} × {ssm.d_state} × 4 B (exp(A·dt), dt·B, dt·B·u) + "
        f"{x:,} × (2 × {dt} + 2 × 4) B (dt, stacked outputs, u·D, sum) + {s:,} steps × {step:,} B + "
        f"{heads - 1} earlier heads' fp32 outputs and states + 4 × {b * s:,} × {ssm.d_inner} × {dt} B (in_proj "
        f"output, conv output, time steps) + x_proj's output")


def mamba_saved_per_token(ssm: SSMSpec, proj_bytes: int) -> tuple[int, int]:
    """(saved, backward transient) bytes per token of a Mamba(-1) mixer on transformers' sequential torch scan
    (jamba, mamba), beyond in_proj's input; the saved part counted with saved-tensor hooks on transformers 5.25's
    JambaMambaMixer.

    Per token and channel of d_inner: the discretised exp(A·dt) (fp32, N), dt·B (fp32, N), each step's new state
    (fp32, N, the loop's ``ssm_state``) and its bf16 copy for the output matmul (N): 14·N bytes; and 12 tensors of
    the projections' dtype: the conv's input and output, the activation, dt (softplus input, the discretisation),
    x_proj's and out_proj's inputs, the gate's silu and product, the fp32 input of the B·u product and the skip.
    The backward holds the fp32 gradients of exp(A·dt) and dt·B·u over the whole sequence, and each step's slice
    gradient made at full size (``select_backward``) before it is added in: 3 × 4·N bytes per channel."""
    return ssm.d_inner * (14 * ssm.d_state + 12 * proj_bytes), 3 * FP32 * ssm.d_inner * ssm.d_state


def rglru_saved_bytes(ssm: SSMSpec, b: int, s: int, pb: int) -> tuple[int, int]:
    """(saved, backward transient) bytes of one RecurrentGemma recurrent block in training, beyond linear_x/linear_y's
    input and linear_out's; read from transformers 5.25 ``RecurrentGemmaRecurrentBlock.forward`` and
    ``RecurrentGemmaRglru.forward`` / ``_rnn_scan`` (no cache in training) and checked against the simulator's trace.

    Per token, ``w`` = lru_width values each of 14 tensors of the model dtype (``pb``): linear_y's output (gelu's
    input) and gelu's (the product's), linear_x's (the conv's input), the conv's output (the gate product reads a
    view of it), the reshaped input copy both ``baddbmm`` keep, the two sigmoids, ``-8·gate`` (the product with
    ``softplus(recurrent_param)``), both ``exp`` outputs, ``x·input_gate``, ``1 - a²`` (``SqrtBoundDerivative``),
    the multiplier and the loop's ``contextualized_states``; and per time step two fp32 tensors of ``w`` (the gate's
    fp32 slice and the new state, both kept by the next step's product; in fp32 the slice is a view of the whole
    ``gate·~reset``, kept as well): 8 bytes. The conv's output is ``d_conv - 1`` columns longer per sequence.
    The backward copies the output's gradient to full size at every step (``CopySlices``) and makes each slice's
    gradient at full size (``select_backward``) while the two inputs' gradients accumulate: 4 full tensors."""
    w = ssm.d_inner
    t = b * s
    return t * w * (14 * pb + 2 * FP32) + b * w * (ssm.d_conv - 1) * pb, 4 * t * w * pb


def rglru_prefill_bytes(ssm: SSMSpec, b: int, s: int, dt: int) -> tuple[int, str]:
    """Bytes alive at the peak of one RecurrentGemma recurrent block's prefill (no grad), beyond the residual stream;
    read from transformers 5.25 modeling_recurrent_gemma.py and checked against the simulator's trace.

    ``RecurrentGemmaRecurrentBlock.forward`` holds gelu(linear_y) and the conv's output (``d_conv - 1`` columns
    longer, ``[..., :seq_len]`` a view of it; linear_x's output is freed once rebound). ``RecurrentGemmaRglru.forward``
    keeps every local until it returns: the reshaped input copy, ``res`` (the second ``baddbmm``), both sigmoids
    (``recurrent_gate`` rebound to its ``exp``), ``log_recurrent_gate``, ``a_square``, ``gated_inputs``, the
    multiplier and ``normalized_x``; ``_rnn_scan`` adds ``recurrent_gate * ~reset`` and ``contextualized_states``:
    13 tensors of ``lru_width`` per token in the model dtype, and per time step three fp32 vectors of ``lru_width``
    (the state, the gate's fp32 slice, their product)."""
    w, t = ssm.d_inner, b * s
    one = t * w * dt
    conv_extra = b * w * (ssm.d_conv - 1) * dt
    step = 3 * b * w * FP32
    return 13 * one + conv_extra + step, (f"RG-LRU prefill: 13 × {one:,} B lru-width tensors (gelu(y), conv output, "
                                          f"the gates and the scan's input/output) + {conv_extra + step:,} B conv "
                                          f"padding and fp32 scan step")


def mamba_backward_relief(layer: LayerSpec, h: int, grad_bytes: int, full: bool) -> int:
    """Weight-gradient bytes a Mamba(-1)-only layer (Zamba's ZambaMambaDecoderLayer, Mamba's MambaBlock: a norm and
    the mixer) trained in full has not made yet at its backward's peak, the scan's: autograd runs the mixer's
    backward from out_proj (its weight gradient first) back through the scan to x_proj, dt_proj and in_proj, whose
    weight gradients come after the scan's buffers are gone (``in_proj`` h × 2·d_inner, ``x_proj`` d_inner × (R +
    2N), ``dt_proj`` d_inner × R; the conv, biases, A_log and the norm, under 1 MB, are left in). 0 for any other
    layer or for LoRA (its base weights make no gradient)."""
    ssm = layer.ssm
    if not full or ssm is None or layer.mixer != "mamba" or layer.attention or layer.mlp or layer.moe:
        return 0
    return (h * 2 * ssm.d_inner + ssm.d_inner * (2 * ssm.dt_rank + 2 * ssm.d_state)) * grad_bytes


def recurrent_training(layer: LayerSpec, h: int, b: int, s: int, proj_bytes: int,
                       amp: bool, family: str = "") -> tuple[int, int, int, int, int]:
    """A recurrent mixer in training (KDA, LFM2's short conv, Mamba, Mamba-2): (saved bytes per token, saved bytes
    for the whole micro-batch, backward transient bytes, widths of the input and output projections whose inputs
    the caller counts as Linear inputs). ``family``: the model type (a head-by-head Mamba-1 scan,
    ``HEADWISE_SELECTIVE_SCAN``, runs its backward one head at a time)."""
    if layer.linear is not None and layer.linear.kind == "kda":  # its projections' inputs are in kda_training
        saved, back = kda_training(layer.linear, b, s)
        return 0, saved, back, 0, 0
    if layer.conv is not None:
        # LFM2's gated short conv (Lfm2ShortConv, saved-tensor hooks): in_proj's output (B, C, x: 3h, kept by B·x
        # and C·conv), B·x (the conv's input) and the conv's output, in the projections' dtype; then out_proj's input
        return 5 * h * proj_bytes, 0, 0, h, h
    ssm = layer.ssm
    if ssm is None:  # a gated delta-net: its training tensors are not modelled
        return 0, 0, 0, 0, 0
    if ssm.rglru:
        saved, back = rglru_saved_bytes(ssm, b, s, proj_bytes)
        return 0, saved, back, h, ssm.d_inner
    if ssm.rwkv:  # RwkvSelfAttention with rwkv_linear_attention_cpu's loop (memory/rwkv.py)
        saved, back = time_mix_training(ssm, b, s, proj_bytes)
        return 0, saved, back, h, ssm.d_inner
    if layer.mixer == "mamba2":
        saved, back = mamba2_saved_bytes(ssm, b, s, proj_bytes, amp)
        return 0, saved, back, h, ssm.d_inner
    kept, back_per_token = mamba_saved_per_token(ssm, proj_bytes)
    if family not in HEADWISE_SELECTIVE_SCAN:
        return kept, 0, b * s * back_per_token, h, 0
    # ZambaMambaMixer.forward (transformers 5.25 models/zamba/modeling_zamba.py) calls mamba_selective_scan once per
    # head, each a graph of its own over P = d_inner / H channels: the engine runs the last head's backward (higher
    # sequence numbers) through first, so the scan's full-sequence fp32 gradient buffers are one head's (3 × 4·N per
    # channel of P); beside them the fp32 gradient of torch.cat(scan_outputs) (the earlier heads' slices wait in it)
    # and the running head's gradients of silu(gate) (silu_backward), of the stacked outputs (scan_output + u·D
    # promoted them to fp32: cast back) and of u through the skip (cast back), each P wide in the model dtype
    p = ssm.d_inner // max(1, ssm.num_heads)
    return kept, 0, b * s * (p * back_per_token // ssm.d_inner + ssm.d_inner * FP32 + 3 * p * proj_bytes), h, 0


KDA_CHUNK = 64  # transformers' chunk_kimi_delta_attention(chunk_size=64), as KimiLinearDeltaAttention calls it


def kda_prefill_bytes(g: LinearAttentionSpec, b: int, s: int, dt: int) -> tuple[int, str]:
    """Bytes alive at the peak of one Kimi delta attention layer's prefill on transformers' torch path
    (``chunk_kimi_delta_attention``; FLA's kernels are not assumed installed), beyond the residual stream.

    The per-channel decay makes the intra-chunk mask ``(g_i − g_j).exp()`` a (b, H, c, 64, 64, d_k) fp32 tensor;
    at ``-(k_beta · key · decay_mask).sum(-1)`` it is alive with the two products: 3 such tensors, beside the fp32
    copies of q, k, v, g, β·k, β·v and the cumulated g (7 × b·H·S·d_k) and the conv output (model dtype)."""
    c = math.ceil(s / KDA_CHUNK)
    big = b * g.num_v_heads * c * KDA_CHUNK * KDA_CHUNK * g.head_k_dim * FP32
    copies = 7 * b * g.num_v_heads * c * KDA_CHUNK * g.head_k_dim * FP32
    conv = b * s * g.conv_dim * dt
    return 3 * big + copies + conv, (f"KDA chunked delta rule (torch path, chunk {KDA_CHUNK}): 3 × {big:,} B "
                                     f"per-channel decay mask and products + {copies:,} B fp32 q/k/v/g copies "
                                     f"+ conv output {conv:,} B")


def kda_training(g: LinearAttentionSpec, b: int, s: int) -> tuple[int, int]:
    """(saved, backward transient) bytes of one Kimi delta attention layer in training on the torch path, counted
    with saved-tensor hooks on transformers 5.25's KimiLinearDeltaAttention: the decay mask, the k_β·key product
    and the per-chunk q·k products (3 of b·H·S·64·d_k fp32), the row products of the intra-chunk solve
    (b·H·c·64³/3 fp32) and about 33 fp32 tensors of b·H·S·d_k (projections, conv, gates, chunk states, norm).
    The backward's extra is assumed to be two decay-mask-sized gradients alive at once (not traced; one simulated
    Kimi Linear training step: +0.39 %)."""
    c = math.ceil(s / KDA_CHUNK)
    big = b * g.num_v_heads * c * KDA_CHUNK * KDA_CHUNK * g.head_k_dim * FP32
    solve = b * g.num_v_heads * c * KDA_CHUNK ** 3 // 3 * FP32
    d = b * g.num_v_heads * c * KDA_CHUNK * g.head_k_dim * FP32
    return 3 * big + solve + 33 * d, 2 * big


def gated_delta_prefill_bytes(g: LinearAttentionSpec, b: int, s: int, dt: int) -> tuple[int, str]:
    """Bytes alive at the peak of one gated delta-net layer's prefill on transformers' torch path
    (``torch_chunk_gated_delta_rule``, chunk 64; qwen3-next, qwen3.5), beyond the residual stream, read off a
    fake-tensor allocation trace: at the output's reshape, fp32 copies of q, k (repeated to the value heads) and v
    and the chunked k_β, v_β, values, cumulated decays and outputs (5 of b·H_v·S·d_k and 5 of b·H_v·S·d_v), three
    b·H_v·S·64 decay / attention matrices, and in the model dtype the projections' outputs and the conv output."""
    c = math.ceil(s / KDA_CHUNK)
    big_s = c * KDA_CHUNK
    fp32 = b * g.num_v_heads * big_s * (5 * g.head_k_dim + 5 * g.head_v_dim + 3 * KDA_CHUNK) * FP32
    # held in the model dtype: the conv output and z, and Qwen3-Next's fused in_proj_qkvz output (its z a copy out of
    # it); Qwen3.5's in_proj_qkv output dies at the conv and z is in_proj_z's own (Qwen3_5GatedDeltaNet.forward)
    # (OLMo Hybrid's gate is projected after the rule: not alive then)
    gate = 0 if g.late_gate else g.value_dim
    model = b * s * ((g.conv_dim + gate) if g.split_proj else (2 * g.conv_dim + 2 * g.value_dim)) * dt
    return fp32 + model, (f"gated delta rule (torch path, chunk {KDA_CHUNK}): {fp32:,} B fp32 q/k/v copies, chunked "
                          f"values and decay matrices + {model:,} B projections and conv output")
