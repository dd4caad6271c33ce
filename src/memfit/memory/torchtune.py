"""torchtune's own Llama in a full fine-tune (``--trainer torchtune``): what its layers keep beyond transformers'.

Read in torchtune's source at 1814feb1 (2024-11-18, the README "Optimization flags" table's commit):

* ``MultiHeadAttention.forward`` (``torchtune/modules/attention.py``): with grouped K/V (``num_heads !=
  num_kv_heads``) it runs ``k.unsqueeze(2).expand(b, n_kv, q_per_kv, s, h_d).flatten(1, 2)``, and the same for
  ``v``, before the attention call: ``flatten`` of the expanded view copies K and V to every query head, and the
  kernel (SDPA, or ``flex_attention`` for a packed batch's block mask, ``torchtune/modules/attention_utils.py``)
  keeps those copies for its backward. transformers 5 hands the kernel the grouped K/V (flash / ``enable_gqa``), so
  each layer keeps ``heads × (d + dv) − kv × (d + dv)`` more bytes per token in the kernel's dtype; the grouped K
  and V themselves are not kept (the copy's backward, a sum over the expanded dimension, needs no input).
* ``Llama3ScaledRoPE.forward`` (``torchtune/models/llama3_1/_position_embeddings.py``, as
  ``RotaryPositionalEmbeddings.forward``): with ``input_pos`` (a packed batch: each token's position inside its own
  sample, ``PackedDataset`` / ``padded_collate_packed``) the cache is gathered, ``self.cache[input_pos]``: a new
  float32 ``(b, s, d/2, 2)`` tensor per call, which the products ``xshaped[..., i] * rope_cache[..., j]`` keep
  (``mul`` saves the operand that needs no gradient). The layer calls it for q and for k: ``2 × d × 4`` bytes per
  token. Without ``input_pos`` the cache is sliced, ``self.cache[:seq_len]``, a view of the buffer: nothing new.
* ``TransformerDecoder.forward`` (``torchtune/modules/transformer.py``): ``output = self.output(h).float()``, the
  16-bit logits freed before the recipe's loss runs (``Precision.model_float_logits``, as in transformers < 4.46);
  ``full_finetune_single_device._loss_step`` then ``del logits`` after the loss, before backward.
* The kernel's output: torch's flex lowering allocates it with the query's strides (``torch/_inductor/kernel/
  flex_attention.py``: "Construct output layout with strides matching the query", read in later releases than the
  row's torch 2.5, not in 2.5 itself: with a (b, heads, s, d)-contiguous output the ``.contiguous()`` below would
  copy it, 2 bytes × heads × d more per token and layer), and SDPA's flash kernel likewise,
  so ``output.transpose(1, 2).contiguous()`` returns it uncopied and o_proj keeps the kernel's output, as memfit
  already prices transformers' (``activations._attention``).

* The RoPE table: the builder makes one ``Llama3ScaledRoPE(dim=head_dim, max_seq_len=max_seq_len, ...)`` shared by
  every layer (``torchtune/models/llama3_2/_component_builders.py``; ``llama3_2_3b``: ``max_seq_len=131072``), whose
  ``rope_init`` / ``build_rope_cache`` register ``cache``, ``stack([cos, sin], -1)`` of ``(max_seq_len, d/2)``
  float32 angles (``.float()``), a non-persistent buffer built on the GPU with the model (the recipe instantiates it
  under ``self._device``): ``max_seq_len × d × 4`` bytes alive the whole run (67,108,864 for Llama 3.2 3B);
  transformers' rotary module keeps only ``inv_freq``. memfit takes ``max_seq_len`` from the config's
  ``max_position_embeddings``.

Everything else of the layer (torchtune's ``RMSNorm``: ``x.float()`` and the normed input kept; ``FeedForward``:
``w2(silu(w1(x)) * w3(x))``) keeps what transformers' Llama keeps. Priced for the Llama family only (the one read).
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import ConfigError
from ..spec import ModelSpec
from .activations import LayerActivations, Precision

__all__ = ["TORCHTUNE_FAMILIES", "rope_cache_bytes", "rope_cache_formula", "torchtune_layers", "torchtune_token_extra"]

TORCHTUNE_FAMILIES = frozenset({"llama"})  # torchtune.models.llama3_2 / llama3_1 / llama3 / llama2 (one module)


def torchtune_token_extra(heads: int, kv: int, d: int, dv: int, kernel_bytes: int, packed: bool) -> int:
    """Bytes per token one torchtune attention layer keeps beyond transformers': K and V copied from ``kv`` to
    ``heads`` heads, and (packed) the two float32 RoPE caches gathered at ``input_pos``."""
    expanded = (heads - kv) * (d + dv) * kernel_bytes if kv < heads else 0
    return expanded + (2 * d * 4 if packed else 0)


def torchtune_layers(
    spec: ModelSpec, p: Precision, layers: tuple[LayerActivations, ...], tokens: int
) -> tuple[LayerActivations, ...]:
    """``layers`` (transformers' Llama) with what torchtune's own layers keep beyond them, over ``tokens``."""
    if spec.family not in TORCHTUNE_FAMILIES:
        raise ConfigError(
            f"--trainer {p.trainer}: torchtune's model code is priced for the Llama family only "
            f"(memory/torchtune.py); this model is {spec.family!r}"
        )
    kernel_bytes = 2 if p.amp else p.proj_bytes
    packed = p.trainer == "torchtune-packed"
    out = []
    for layer, la in zip(spec.layers, layers, strict=True):
        a = layer.attention
        if a is None:
            out.append(la)
            continue
        extra = tokens * torchtune_token_extra(
            a.num_heads, a.num_kv_heads, a.head_dim, a.value_dim, kernel_bytes, packed
        )
        out.append(replace(la, saved=la.saved + extra))
    return tuple(out)


def _rope_dims(spec: ModelSpec) -> tuple[int, int]:
    heads = [la.attention.head_dim for la in spec.layers if la.attention is not None]
    return spec.max_position_embeddings, heads[0] if heads else 0


def rope_cache_bytes(spec: ModelSpec) -> int:
    """torchtune's RoPE table on the GPU: ``(max_seq_len, d/2, 2)`` float32, one for the model."""
    rows, d = _rope_dims(spec)
    return rows * d * 4


def rope_cache_formula(spec: ModelSpec) -> str:
    rows, d = _rope_dims(spec)
    return f" + torchtune's fp32 RoPE table {rows:,} × {d} × 4 B"
