"""The images of an image-text prompt as the caching allocator sees them, for the pool emulation of
``transformers_pool.py``: what the model makes from the images before the text prefill and holds through it.

Every image-text family: the tensors ``memory/images.held_parts`` counts (the pixels, the tower's output, each copy of
the image features, Qwen3-VL's extra hidden stream; Llama 3.2 Vision's pixels and cross-attention states) are made
before the text model runs and go when the forward returns; without them the text's tensors found other free
blocks and the emulated pool missed what they take.

Llama 3.2 Vision's encoders and its cross-attention mask are replayed from the simulator's trace of
``llama-3.2-11b-vision-l5/gen-img2-b1-s1024-new8`` (:func:`_mllama_encoder`, :func:`_cross_attention_mask`).

Qwen2.5-VL's tower (``Qwen2_5_VisionTransformerPretrainedModel``) is replayed block by block, as the simulator's
allocation trace of the development case ``qwen2.5-vl-7b-instruct-l4/gen-img2-b1-s1024-new8`` shows it (P = patches ×
hidden × the model dtype's bytes, F the same in fp32): the pixels, the patch embedding (a convolution, then its rows
reordered by window), the 2-D rotary tables (fp32, kept to the tower's end); per block the RMSNorm in fp32 (x in
fp32, x², x·rsqrt, the cast, the weight), the fused qkv (3P), q and k in fp32 each rotated (q·cos, the negated half,
rotate_half's cat, ·sin, the sum) and cast back, the attention's output and proj, the residual; the second RMSNorm,
gate, its SiLU, up, their product, down, the residual; after the blocks the merger (its RMSNorm, the first Linear and
GELU on the merged 4 × hidden rows, the second Linear into the text width) and the features put back in image order.
The tensors it makes are freed block by block; the cached blocks they leave are what the text's tensors reuse.
"""

from __future__ import annotations

from ...spec import ModelSpec, VisionSpec
from ...workload import Workload
from ..allocator_trace import Trace
from ..images import held_parts, patches_per_image
from ..ssm_activations import FP32
from .transformers_pool_blocks import gated_mlp
from .transformers_pool_rope import rope

__all__ = ["image_prefill"]


def image_prefill(tr: Trace, spec: ModelSpec, wl: Workload, dt: int) -> list[int]:
    """What the images leave alive while the text model runs, made in order; returns their keys (the caller frees
    them when the forward returns). Nothing without images."""
    parts, _ = held_parts(spec, wl, dt)
    v = spec.vision
    if not parts or v is None:
        return []
    if v.kind == "mllama" and v.tiles and v.kept_layers:
        pixels, states = parts
        kept = [tr.alloc(pixels)]
        kept.append(_mllama_encoder(tr, v, wl.batch * wl.images, states, dt))
        return [*kept, _cross_attention_mask(tr, wl.batch * wl.context * wl.images * v.tiles * (v.num_patches + 1))]
    if v.kind != "qwen2_5_vl":
        return [tr.alloc(n) for n in parts]
    pixels, _hidden, *rest = parts
    kept = [tr.alloc(pixels)]
    kept.extend(_qwen2_5_tower(tr, v, wl.batch * wl.images * patches_per_image(v), spec.hidden_size,
                               wl.batch * wl.images * v.tokens_per_image, dt))
    kept.extend(tr.alloc(n) for n in rest[1:])  # get_image_features' copy (the merger's output is the first)
    return kept


def _qwen2_5_tower(tr: Trace, v: VisionSpec, patches: int, text_hidden: int, tokens: int,
                   dt: int) -> tuple[int, int]:
    """Qwen2.5-VL's tower over ``patches`` patches as the module docstring describes it; returns the tower's
    output (the last block's stream) and the merged features in image order."""
    p, f = patches * v.hidden_size * dt, patches * v.hidden_size * FP32
    head = v.hidden_size // max(1, v.num_heads)
    conv = tr.alloc(p)
    x = tr.alloc(p)  # the rows reordered by window
    tr.free(conv)
    tables = [tr.alloc(patches * head * FP32), tr.alloc(patches * head * FP32)]  # cos, sin
    for _ in range(v.num_layers):
        normed = _rms(tr, p, f)
        qkv = tr.alloc(3 * p)
        q32, k32 = tr.alloc(f), tr.alloc(f)
        q_rot = rope(tr, f, f, cat=False)
        k_rot = rope(tr, f, f, cat=False)
        q_low = tr.alloc(p)
        tr.free(q_rot)
        k_low = tr.alloc(p)
        tr.free(k_rot, q32, k32)
        att = tr.alloc(p)
        proj = tr.alloc(p)
        tr.free(att, qkv, k_low, q_low, normed)
        mid = tr.alloc(p)
        tr.free(proj)
        normed = _rms(tr, p, f)
        down = gated_mlp(tr, patches * v.intermediate_size * dt, p, fused=False)
        tr.free(normed)
        new = tr.alloc(p)
        tr.free(down, mid, x)
        x = new
    normed = _rms(tr, p, f)  # the merger: ln_q, Linear(4h, 4h), GELU, Linear(4h, text hidden)
    fc = tr.alloc(p)
    gelu = tr.alloc(p)
    tr.free(fc)
    merged = tr.alloc(tokens * text_hidden * dt)
    tr.free(gelu, normed)
    features = tr.alloc(tokens * text_hidden * dt)  # in image order: held with the tower's output
    tr.free(merged, *tables)
    return x, features


def _rms(tr: Trace, p: int, f: int) -> int:
    """RMSNorm in fp32: x in fp32, x² (freed at the mean), x·rsqrt, the cast back, times the weight."""
    x32 = tr.alloc(f)
    tr.free(tr.alloc(f))
    y = tr.alloc(f)
    tr.free(x32)
    cast = tr.alloc(p)
    out = tr.alloc(p)
    tr.free(cast, y)
    return out


def _mllama_encoder(tr: Trace, v: VisionSpec, images: int, states: int, dt: int) -> int:
    """Llama 3.2 Vision's encoders over ``images`` images of ``v.tiles`` tiles, as the simulator's trace of
    ``llama-3.2-11b-vision-l5/gen-img2-b1-s1024-new8`` shows them: the patch embedding (kept to the end), the
    positional and tile embeddings added and the class token concatenated, the pre-norm, the rows padded to a
    multiple of 8, the tiles' attention mask (made by a bmm, then scaled); per layer (every one keeps its output in
    the hidden-states tuple) the norm, q, k, v, the attention's output and o_proj, the residual, the norm, fc1, GELU,
    fc2, the residual; then the selected intermediate states stacked and concatenated with the final ones, everything
    but the concatenation freed, and the projector's output (the cross-attention states, ``states`` bytes: kept).
    Returns the states' key."""
    h = v.hidden_size
    tiles, positions = images * v.tiles, v.num_patches + 1
    padded = -(-positions // 8) * 8
    patch, token, p = tiles * v.num_patches * h * dt, tiles * positions * h * dt, tiles * padded * h * dt
    inner = tiles * padded * v.intermediate_size * dt
    mask = images * (v.tiles * padded) ** 2 * dt
    conv = tr.alloc(patch)
    pos = tr.alloc(patch)
    cat = tr.alloc(token)  # the class token
    tr.free(pos)
    added = tr.alloc(token)
    tile_emb, gated = tr.alloc(token), tr.alloc(token)
    x = tr.alloc(token)
    tr.free(added, tile_emb, gated, cat)
    pre = tr.alloc(token)
    tr.free(x)
    x = tr.alloc(p)  # padded
    tr.free(pre)
    made = tr.alloc(mask)
    scaled = tr.alloc(mask)
    tr.free(made)
    outputs = [x]
    for _ in range(v.kept_layers):
        normed = tr.alloc(p)
        qkv = [tr.alloc(p) for _ in range(3)]
        att = tr.alloc(p)
        o = tr.alloc(p)
        tr.free(att, *qkv, normed)
        mid = tr.alloc(p)
        tr.free(o)
        normed = tr.alloc(p)
        fc1 = tr.alloc(inner)
        act = tr.alloc(inner)
        tr.free(fc1)
        fc2 = tr.alloc(p)
        tr.free(act, normed)
        x = tr.alloc(p)
        tr.free(fc2, mid)
        outputs.append(x)
    selected = tr.alloc(max(0, v.output_dim // h - 1) * p)
    concat = tr.alloc(tiles * positions * v.output_dim * dt)
    tr.free(conv, scaled, *outputs, selected)
    out = tr.alloc(states)
    tr.free(concat)
    return out


def _cross_attention_mask(tr: Trace, n: int) -> int:
    """``_prepare_cross_attention_mask`` over ``n`` = batch × text tokens × images × tiles × vision positions
    elements (the same trace): the mask repeated per vision token (int64), 1 − it (fp32), cast to the model dtype,
    the bool of its padding, the masked fill (kept to the forward's end), the full-row check. Returns the kept key."""
    repeated = tr.alloc(8 * n)
    inverted = tr.alloc(4 * n)
    cast = tr.alloc(2 * n)
    tr.free(inverted)
    flags = tr.alloc(n)
    mask = tr.alloc(2 * n)
    tr.free(flags, repeated)
    tr.free(tr.alloc(n), cast)
    return mask
