"""X-MOD's feed-forward block with its language adapter in transformers inference: its peak (:func:`adapter_ffn_bytes`,
the moments of ``transformers.py``) and its tensors as the caching allocator sees them (:func:`adapter_ffn`, the
prefill's pool emulation of ``transformers_pool.py``), from transformers 5.25 ``models/xmod/modeling_xmod.py``:

* ``XmodLayer.forward``: ``intermediate_output = apply_chunking_to_forward(self.feed_forward_chunk, ...)`` (its
  ``XmodIntermediate``: ``dense``, then ``intermediate_act_fn``: the dense output goes once the activation is made),
  then ``layer_output = self.output(intermediate_output, residual, lang_ids)`` and the post-norm
  ``self.output.LayerNorm(layer_output)``: the activation stays referenced by the layer's frame until it returns;
* ``XmodOutput.forward``: ``dense``, dropout, ``hidden_states + input_tensor`` (a new tensor the frame holds while
  ``lang_adapter`` runs), then ``lang_adapter``;
* ``XmodOutput.lang_adapter``: the shared ``adapter_layer_norm`` or (``adapter_reuse_layer_norm``) ``self.LayerNorm``
  of the sum, the residual taken before or after it (``ln_before_adapter``); ``torch.zeros_like`` of the input; per
  language ``lang_mask = lang_ids == adapter_idx``, ``hidden_states[lang_mask]`` (a copy of the rows of that
  language: all of them, ``XmodModel.forward`` gives every sequence ``default_language``'s index), the
  ``XmodAdapter`` (``dense1`` to ``hidden_size // adapter_reduction_factor``, the activation, ``dense2``), written
  into the zeros in place; dropout (its input in eval), ``+= residual`` in place; the copies go when it returns.
"""

from __future__ import annotations

import json
from typing import Any

from ...spec import LayerSpec, ModelSpec
from ..allocator_trace import Trace

__all__ = ["ADAPTER_FFN", "adapter_ffn", "adapter_ffn_bytes", "plain_ffn"]

# the families whose feed-forward block ends with XmodOutput.lang_adapter
ADAPTER_FFN = ("xmod",)


def _config(spec: ModelSpec) -> dict[str, Any]:
    config_json = getattr(spec.tensor_source, "config_json", None)
    value = json.loads(config_json) if isinstance(config_json, str) else None
    return value if isinstance(value, dict) else {}


def bottleneck_size(spec: ModelSpec) -> int:
    """``XmodAdapter.bottleneck_size``: ``hidden_size // adapter_reduction_factor`` (XmodConfig's default 2)."""
    factor = _config(spec).get("adapter_reduction_factor", 2)
    return int(spec.hidden_size // factor) if isinstance(factor, int | float) and factor > 0 else spec.hidden_size // 2


def adapter_normed(spec: ModelSpec) -> bool:
    """Whether ``lang_adapter`` norms its input (a new tensor): ``adapter_layer_norm`` or ``adapter_reuse_layer_norm``
    (XmodConfig's defaults False and True)."""
    cfg = _config(spec)
    return bool(cfg.get("adapter_layer_norm", False)) or bool(cfg.get("adapter_reuse_layer_norm", True))


def adapter_ffn(tr: Trace, spec: ModelSpec, batch: int, t: int, inner: int, dt: int) -> tuple[int, int]:
    """The block from its input (the attention's normed output) to ``lang_adapter``'s output, on ``t`` tokens of
    ``batch`` sequences; returns (that output, the activation the layer holds until it returns)."""
    n = t * spec.hidden_size * dt
    fc = tr.alloc(t * inner * dt)
    act = tr.alloc(t * inner * dt)
    tr.free(fc)
    dense = tr.alloc(n)
    added = tr.alloc(n)
    tr.free(dense)
    normed = tr.alloc(n) if adapter_normed(spec) else 0
    new = tr.alloc(n)  # zeros_like
    mask = tr.alloc(batch)  # lang_ids == adapter_idx (bool)
    rows = tr.alloc(n)  # hidden_states[lang_mask]
    down = tr.alloc(t * bottleneck_size(spec) * dt)
    down_act = tr.alloc(t * bottleneck_size(spec) * dt)
    tr.free(down)
    up = tr.alloc(n)
    tr.free(down_act)
    tr.free(up, mask, rows, normed, added)
    return new, act


def adapter_ffn_bytes(spec: ModelSpec, t: int, inner: int, dt: int) -> tuple[int, str]:
    """The block's peak beyond the residual stream on ``t`` tokens: the larger of the intermediate's dense output
    and activation together, and the moment ``dense2`` writes its output (:func:`adapter_ffn`): the activation, the
    sum, its norm, the zeros, the language's rows, ``dense2``'s output and the bottleneck's activation."""
    h, r = spec.hidden_size, bottleneck_size(spec)
    hidden = 4 + adapter_normed(spec)
    adapter = t * (inner + hidden * h + r) * dt
    return max(2 * t * inner * dt, adapter), (
        f"max(2 × {t:,} tokens × {inner} (fc out, activation), {t:,} × ({inner} activation + {hidden} × {h} adapter "
        f"input, sum, zeros, rows, output + {r} bottleneck) × {dt} B)"
    )


def plain_ffn(
    tr: Trace, spec: ModelSpec, layer: LayerSpec, batch: int, t: int, dt: int, f_bytes: int
) -> tuple[int, int]:
    """The pool's feed-forward block where no replay of its own applies: X-MOD's (:func:`adapter_ffn`), else the
    two halves of its transient ``f_bytes`` and its output; returns (the output, a tensor the layer holds until it
    returns, or 0)."""
    if spec.family in ADAPTER_FFN and layer.mlp is not None:
        return adapter_ffn(tr, spec, batch, t, layer.mlp.intermediate_size, dt)
    parts = [tr.alloc(f_bytes // 2), tr.alloc(f_bytes - f_bytes // 2)]
    out = tr.alloc(t * spec.hidden_size * dt)
    tr.free(*parts)
    return out, 0
