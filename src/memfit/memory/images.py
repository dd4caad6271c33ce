"""Images in the prompt of an image-text model: the tokens they add to the context, and the vision tower's own peak.

Each image becomes ``VisionSpec.tokens_per_image`` text-model tokens (read from the config by the family's builder:
LLaVA-1.5 576, Qwen2.5-VL one per 28 × 28 px, Qwen3-VL one per 32 × 32 px, Gemma 3 256, Pixtral one per merged
patch plus row breaks …), so ``--images N`` lengthens every sequence by ``N × tokens_per_image`` and the KV cache,
activations and logits follow from the longer context.

Before the text prefill, transformers runs the vision tower once over all the images of the batch. At a tower
block's MLP it holds, per patch token of the tower, the block's input, residual and normed input and the attention
output (4 × d) and the MLP's intermediates (3 × I gated, 2 × I plain; SDPA keeps no patch × patch matrix), beside
the image features already projected to the text width. This moment is compared with the text model's peak; it is
read off the ViT block structure, not checked against a simulation.

While the text model then runs, transformers' image-text forward still holds what the images became: the pixel
tensor (an argument of the forward), the tower's last hidden state (two of its hidden states for LLaVA's
second-to-last-layer features), and the projected image features twice (the projector's output and the per-image
copy get_image_features returns; Qwen3-VL: for the main merger and each deepstack merger), and for Qwen3-VL's
deepstack one more hidden stream (the decoder loop keeps the layer's output beside the copy the features are added
to). Read off the simulator's live tensors at the prefill peak (LLaVA-1.5, Qwen2.5-VL, Qwen3-VL with one image).
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import ConfigError
from ..result import Component, Estimate
from ..spec import ModelSpec, VisionSpec
from ..units import fmt_bytes
from ..workload import Workload

__all__ = ["apply_tower_moment", "cross_attention_cache", "deepstack_used", "held_during_text", "held_parts",
           "idle_tower_parameters", "patches_per_image", "tower_checkpointed", "tower_moment", "tower_runs_first",
           "tower_tensors", "tower_training_saved", "with_images"]

_GATED_TOWERS = ("qwen2_5_vl", "gemma4")  # towers whose MLP is gate/up/down (three intermediates alive)


def with_images(spec: ModelSpec, wl: Workload) -> tuple[Workload, tuple[str, ...], dict[str, object]]:
    """``wl`` with the image tokens added to its context, the note that says how many, and the JSON details."""
    if not wl.images:
        return wl, (), {}
    v = spec.vision
    if v is None or not v.tokens_per_image:
        raise ConfigError(f"--images {wl.images}: {spec.name} has no vision tower whose image tokens memfit knows "
                          "(a text-only model, or a tower it does not describe); drop --images")
    added = wl.images * v.tokens_per_image
    note = (f"{wl.images} image{'s' if wl.images > 1 else ''} per sequence × {v.tokens_per_image:,} tokens per image "
            f"= {added:,} tokens added to the {wl.context:,}-token context ({v.description})")
    details: dict[str, object] = {"images": wl.images, "image_tokens_per_image": v.tokens_per_image,
                                  "image_tokens": added}
    return wl.replace(context=wl.context + added), (note,), details


def cross_attention_cache(spec: ModelSpec, wl: Workload, dtype_bytes: int) -> tuple[int, str]:
    """Llama 3.2 Vision: each cross-attention layer caches K and V of every image's vision tokens (tiles × (patches +
    1)) for each sequence, once, for the whole generation; the text tokens are not in these layers' cache."""
    v = spec.vision
    if not wl.images or v is None or not v.cross_attention_tokens:
        return 0, ""
    rows = [2 * a.num_kv_heads * a.head_dim * dtype_bytes for a in spec.attention_layers if a.cross_attention]
    tokens = wl.batch * wl.images * v.cross_attention_tokens
    return tokens * sum(rows), (f"cross-attention K/V: {wl.batch} sequence(s) × {wl.images} image(s) × "
                                f"{v.cross_attention_tokens:,} vision tokens × {len(rows)} layers × {rows[0]:,} B")


def patches_per_image(v: VisionSpec) -> int:
    """Patch tokens the tower runs per image: its own patches (merged towers: tokens × merge², as the text tokens
    count merged patches)."""
    if v.kind in ("qwen2_5_vl", "qwen3_vl"):
        return v.tokens_per_image * 4
    if v.cross_attention_tokens:
        return v.cross_attention_tokens
    return v.num_patches or v.tokens_per_image


def tower_moment(spec: ModelSpec, wl: Workload, dt: int) -> tuple[int, str]:
    """Bytes the vision tower holds at its peak while encoding the batch's images (0 without images)."""
    v = spec.vision
    if not wl.images or v is None or not v.hidden_size:
        return 0, ""
    if v.kind == "mllama" and v.tiles:
        return _mllama_tower_moment(v, wl.batch * wl.images, dt)
    patches = wl.batch * wl.images * patches_per_image(v)
    inter = (3 if v.kind in _GATED_TOWERS else 2) * v.intermediate_size
    features = wl.batch * wl.images * v.tokens_per_image * spec.hidden_size * dt
    total = patches * (4 * v.hidden_size + inter) * dt + features
    return total, (f"vision tower: {patches:,} patch tokens × (4 × {v.hidden_size} + {inter}) × {dt} B + image "
                   f"features {fmt_bytes(features)}")


def held_during_text(spec: ModelSpec, wl: Workload, dt: int) -> tuple[int, str]:
    """Bytes the images leave alive while the text model runs (``wl.context`` already counts their tokens)."""
    parts, text = held_parts(spec, wl, dt)
    return sum(parts), text


def held_parts(spec: ModelSpec, wl: Workload, dt: int) -> tuple[tuple[int, ...], str]:
    """:func:`held_during_text` tensor by tensor, in the order they are made: the pixels, the tower's output, each
    copy of the image features, the extra hidden stream (Qwen3-VL's deepstack); for Llama 3.2 Vision the pixels and
    the cross-attention states. Empty without images."""
    v = spec.vision
    if not wl.images or v is None or not v.hidden_size:
        return (), ""
    images = wl.batch * wl.images
    patches = images * patches_per_image(v)
    if v.kind in ("qwen2_5_vl", "qwen3_vl"):  # rows of C × t × p² values, one per patch
        pixels = patches * v.num_channels * v.temporal_patch * v.patch_size ** 2 * dt
        hidden = patches * v.hidden_size * dt
    elif v.kind == "mllama":  # the tiles' pixels and the projected vision states the cross-attention layers read
        pixels = images * v.tiles * v.num_channels * v.image_size ** 2 * dt
        hidden = images * v.cross_attention_tokens * spec.hidden_size * dt
        return (pixels, hidden), (f"images held while the text runs: pixels {fmt_bytes(pixels)} + cross-attention "
                                  f"states {fmt_bytes(hidden)}")
    else:
        side = v.image_size or 0
        pixels = images * v.num_channels * side * side * dt
        hidden = (2 if v.kind == "clip" else 1) * images * (v.num_patches + (1 if v.kind == "clip" else 0)) \
            * v.hidden_size * dt
    copies = 2 * (1 + v.deepstack)
    feature = images * v.tokens_per_image * spec.hidden_size * dt
    stream = wl.batch * wl.context * spec.hidden_size * dt if v.deepstack else 0
    parts = (pixels, hidden, *(feature,) * copies) + ((stream,) if stream else ())
    return parts, (f"images held while the text runs: pixels {fmt_bytes(pixels)} + tower output {fmt_bytes(hidden)} "
                   f"+ image features ×{copies} {fmt_bytes(copies * feature)}"
                   + (f" + deepstack hidden stream {fmt_bytes(stream)}" if stream else ""))


def tower_tensors(v: VisionSpec, text_hidden: int) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """The tower's parameter tensors (elements) in the order transformers 5.25 makes them, as (before the blocks,
    one block, after the blocks): Qwen2.5-VL's bias-free Conv3d patch embedding, blocks (RMSNorms, fused qkv and proj,
    gate/up/down with biases), merger (RMSNorm, two Linears over d·4); Qwen3-VL's Conv3d with bias and position
    embeddings, blocks (LayerNorms, qkv, proj, fc1/fc2), the merger and the deepstack mergers (LayerNorm over d·4);
    CLIP's class and patch embeddings, positions and pre-LayerNorm, blocks (k/v/q/out, LayerNorm, fc1/fc2,
    LayerNorm), post-LayerNorm, then LLaVA's projector (in → text width, text width²); Llama 3.2 Vision's patch
    convolution, class and position embeddings, the tile embeddings with their gates (one tensor here), the pre/post
    LayerNorms, the local and global blocks (bias-free q/k/v/o, fc1/fc2, two LayerNorms; the global blocks' two gate
    scalars counted with the tile embeddings), then its projector. Other towers: one lump.
    The parts add up to ``v.parameters`` (counted in ``sources/families/vision_towers.py``); where they do not (a
    tower laid out otherwise), one lump."""
    d, inter, n, c, p = v.hidden_size, v.intermediate_size, v.num_layers, v.num_channels, v.patch_size
    lump: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]] = ((v.parameters,), (), ())
    if not d or not n:
        return lump
    hs, out = 4 * d, v.projector_dim  # the 2 × 2 spatial merge
    merger: tuple[int, ...] = (hs * hs, hs, out * hs, out)
    parts: tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]
    block: tuple[int, ...]
    if v.kind == "qwen2_5_vl":
        parts = ((d * c * v.temporal_patch * p * p,),
                 (d, d, 3 * d * d, 3 * d, d * d, d, inter * d, inter, inter * d, inter, d * inter, d),
                 (d, *merger))
    elif v.kind == "qwen3_vl":
        block = (d, d, d, d, 3 * d * d, 3 * d, d * d, d, inter * d, inter, d * inter, d)
        after = (d, d, *merger) + (hs, hs, *merger) * v.deepstack
        positions = v.parameters - d * c * v.temporal_patch * p * p - d - n * sum(block) - sum(after)
        parts = ((d * c * v.temporal_patch * p * p, d, positions), block, after)
    elif v.kind == "clip":
        block = (d * d, d) * 4 + (d, d, inter * d, inter, d * inter, d, d, d)
        before = (d, d * c * p * p, (v.num_patches + 1) * d, d, d)
        projector = v.parameters - sum(before) - n * sum(block) - 2 * d
        parts = (before, block, (d, d, projector - text_hidden * text_hidden, text_hidden * text_hidden))
    elif v.kind == "mllama":  # the tile embeddings (and the pre/post tile tables and gates) as the rest
        positions = v.num_patches + 1
        block = (d * d,) * 4 + (inter * d, inter, d * inter, d, d, d, d, d)
        head = (d * c * p * p, d, positions * d)
        projector = v.output_dim * text_hidden + text_hidden
        rest = v.parameters - sum(head) - 4 * d - n * sum(block) - projector
        parts = ((*head, rest, d, d, d, d), block, (projector,))
    else:
        return lump
    if min(*parts[0], *parts[1], *parts[2]) <= 0 or sum(parts[0]) + n * sum(parts[1]) + sum(parts[2]) != v.parameters:
        return lump
    return parts


def deepstack_used(spec: ModelSpec) -> int:
    """How many of Qwen3-VL's deepstack mergers reach the text model. transformers 5.25's ``Qwen3VLTextModel.forward``
    adds merger j's features to text layer j's output only ``if layer_idx in range(len(deepstack_visual_embeds))``,
    so with fewer text layers than mergers the last mergers feed nothing: their output dies with the model's
    forward, they get no gradient, and AdamW keeps no state for them (``torch.optim.AdamW`` skips a parameter whose
    ``grad`` is None)."""
    v = spec.vision
    return min(v.deepstack, spec.num_layers) if v is not None else 0


def idle_tower_parameters(spec: ModelSpec) -> int:
    """Parameters of the deepstack mergers no text layer reads (:func:`deepstack_used`): no gradient, no state."""
    v = spec.vision
    if v is None or v.kind != "qwen3_vl" or v.deepstack <= spec.num_layers:
        return 0
    _before, _block, after = tower_tensors(v, spec.hidden_size)
    return (v.deepstack - deepstack_used(spec)) * sum(after[6:12]) if len(after) == 6 * (1 + v.deepstack) else 0


def tower_checkpointed(v: VisionSpec) -> bool:
    """Whether gradient checkpointing reaches the tower's blocks: transformers 5.25 checkpoints the blocks that are
    ``GradientCheckpointingLayer`` s (CLIP's, SigLIP's, Idefics3's, Qwen2.5-VL's and Qwen3-VL's); Llama 3.2 Vision's
    ``MllamaVisionEncoderLayer`` is a plain ``nn.Module``, so its encoders keep every layer's tensors even under
    ``gradient_checkpointing_enable()`` (modeling_mllama.py)."""
    return v.kind != "mllama"


def tower_runs_first(spec: ModelSpec) -> bool:
    """Whether the vision tower runs before the tokens are embedded, so that autograd runs the embedding's backward
    before the tower's: Llama 3.2 Vision's ``MllamaModel`` runs the vision model and projector before the language
    model embeds the tokens; LLaVA's and Qwen-VL's models embed the tokens first and scatter the image features in
    (transformers 5.25; the simulator's traces show the same order)."""
    return spec.vision is not None and spec.vision.kind == "mllama"


def tower_training_saved(spec: ModelSpec, wl: Workload, dt: int) -> int:
    """Bytes the vision tower keeps for backward when it trains on the batch's images (alive from its forward,
    before the text layers, to its backward, after them). With full checkpointing (what the simulator ran): each
    block's input, the patch merger's LayerNorm input (fp32) and output, its reordered input, fc1 and GELU outputs
    (or LLaVA's projector input, linear and GELU outputs), and the pixels. Without (or a tower checkpointing does not
    reach, :func:`tower_checkpointed`): each block's saved tensors read off the ViT block (norms, q/k/v/o inputs, the
    MLP's intermediates). Llama 3.2 Vision: its tiles' tokens (each tile's patches + class token padded to a multiple
    of 8), the tiles' attention mask the kernel saves, the concatenated states and the projector's output, and the
    tiles' pixels, as the simulator's trace of ``llama-3.2-11b-vision-l5/train-img1-…`` keeps them."""
    v = spec.vision
    if not wl.images or v is None or not v.hidden_size:
        return 0
    images = wl.batch * wl.images
    patches = images * patches_per_image(v)
    d, tokens = v.hidden_size, images * v.tokens_per_image
    if v.kind in ("qwen2_5_vl", "qwen3_vl"):
        pixels = patches * v.num_channels * v.temporal_patch * v.patch_size ** 2 * dt
        # an idle deepstack merger's tensors die with the model's forward (deepstack_used)
        projector = patches * d * (4 + dt + 3 * dt) * (1 + deepstack_used(spec))
    elif v.kind == "mllama" and v.tiles:
        positions = v.num_patches + 1
        patches = images * v.tiles * -(-positions // 8) * 8
        pixels = images * v.tiles * v.num_channels * v.image_size ** 2 * dt
        mask = images * (patches // images) ** 2 * dt
        projector = images * v.tiles * positions * (v.output_dim + spec.hidden_size) * dt + mask
    else:
        patches += images if v.kind == "clip" else 0  # CLIP's class token
        pixels = images * v.num_channels * (v.image_size or 0) ** 2 * dt
        projector = tokens * (d + 2 * spec.hidden_size) * dt
    if wl.checkpointing == "full" and tower_checkpointed(v):
        blocks = v.num_layers * patches * d * dt
    else:
        inter = (3 if v.kind in _GATED_TOWERS else 2) * v.intermediate_size
        blocks = v.num_layers * patches * (8 * d + inter) * dt
    return blocks + projector + pixels


def _mllama_tower_moment(v: VisionSpec, images: int, dt: int) -> tuple[int, str]:
    """Llama 3.2 Vision's encoders keep every layer's output (their hidden-states tuples, local and global) to the
    end, beside the tiles' pixels and patch embeddings, the tiles' attention mask (each tile's patches + class token
    padded to a multiple of 8), the stacked selected intermediate states and their concatenation with the final
    state (``vision_output_dim``); read off the simulator's live tensors at the encoder's peak (one image of 4
    tiles)."""
    positions = v.num_patches + 1
    padded = -(-positions // 8) * 8
    tokens = images * v.tiles * padded
    layers = v.kept_layers * tokens * v.hidden_size * dt
    mask = images * (v.tiles * padded) ** 2 * dt
    selected = max(0, v.output_dim // v.hidden_size - 1) * tokens * v.hidden_size * dt
    concat = images * v.tiles * positions * v.output_dim * dt
    inputs = images * v.tiles * (v.num_channels * v.image_size ** 2 + v.num_patches * v.hidden_size) * dt
    total = layers + mask + selected + concat + inputs
    return total, (f"vision encoder: {v.kept_layers} layers' outputs over {tokens:,} tile tokens "
                   f"{fmt_bytes(layers)} + tile mask {fmt_bytes(mask)} + selected states {fmt_bytes(selected)} + "
                   f"concatenated output {fmt_bytes(concat)} + pixels and patch embeddings {fmt_bytes(inputs)}")


def apply_tower_moment(spec: ModelSpec, wl: Workload, est: Estimate, dt: int) -> Estimate:
    """The estimate with the tower's moment: a note always, and the difference as a component when the tower's peak
    is above the text model's (cache + activations at the text peak)."""
    cross, cross_text = cross_attention_cache(spec, wl, dt)
    if cross:
        est = replace(est, components=(*est.components, Component("kv_cache", cross, f"{cross_text} = "
                                                                                      f"{fmt_bytes(cross)}")))
    held, held_text = held_during_text(spec, wl, dt)
    if held:
        est = replace(est, components=(*est.components, Component("image_inputs", held, f"{held_text} = "
                                                                                          f"{fmt_bytes(held)}")),
                      allocated_bytes=None if est.allocated_bytes is None else est.allocated_bytes + held)
    tower, text = tower_moment(spec, wl, dt)
    if not tower:
        return est
    peak = sum(c.bytes for c in est.components if c.name in ("kv_cache", "activations", "logits") and c.on_device)
    notes = (*est.notes, f"{text} = {fmt_bytes(tower)} while the images are encoded"
             + (" (above the text model's peak: the difference is added)" if tower > peak else
                f" (below the text model's peak, {fmt_bytes(peak)})"))
    comps = est.components
    allocated = est.allocated_bytes
    if tower > peak:
        comps = (*comps, Component("vision_activations", tower - peak, f"{text}: {fmt_bytes(tower)} − text peak "
                                                                       f"{fmt_bytes(peak)}"))
        allocated = None if allocated is None else allocated + tower - peak  # the allocator's peak moves too
    return replace(est, components=comps, notes=notes, allocated_bytes=allocated,
                   details={**est.details, "vision_tower_peak_bytes": tower})
