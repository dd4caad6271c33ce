"""XLM's full forward (``task forward``) as its own moments, read from transformers 5.25 models/xlm/modeling_xlm.py.

``XLMModel.forward`` builds its own cache whatever the caller asks (``if cache is None: cache =
EncoderDecoderCache(DynamicCache(...), DynamicCache(...))``) and every layer's ``MultiHeadAttention.forward`` stores
its K and V there (``curr_cache.update``: ``DynamicLayer.update`` keeps ``torch.cat([self.keys, key_states])``, a
contiguous copy, and the projection's output is freed); the cache is a local of the forward, not returned, so every
layer's K/V stays alive until ``XLMModel.forward`` returns (the simulator's trace: the four ``cat`` copies of a
2-layer cut freed together after the last layer's mask multiply). The forward also keeps:

* ``inputs_embeds`` (``self.embeddings(input_ids)``), bound to its name through the layer loop (``tensor`` is the
  sum with the learned positions, then ``layer_norm_emb``'s output);
* the previous layer's attention output: ``attn_outputs`` / ``attn`` are rebound only when the next layer's
  attention returns, so layer ``i``'s ``out_lin`` output lives through layer ``i + 1``'s attention (and the layer's
  own through its FFN).

Inside the attention (no SDPA path): the layer's input, the query divided by ``sqrt(head_dim)`` (a new tensor; the
projection's output freed), and the scores with their ``.float()`` copy and fp32 softmax
(:func:`~.transformers_own_attention.own_eager_score`). The masks are ``(batch, seq)`` bools (``get_masks``, and
``mask == 0`` in the attention). The FFN: ``lin1``'s output and the GELU's beside the layer's normed input. The last
layer's moments are the peaks: its cache holds every layer's K/V (XLM's layers are all alike). The logits after the
forward (the cache and ``inputs_embeds`` gone) stay the shared moment.
"""

from __future__ import annotations

from ...spec import ModelSpec
from ...workload import Workload
from .transformers import Moment
from .transformers_own_attention import own_eager_score

__all__ = ["XLM_FORWARD", "xlm_forward_moments"]

# families whose base model's forward is XLMModel.forward: its own cache, inputs_embeds and the previous layer's
# attention output held through the layer loop
XLM_FORWARD = ("xlm",)


def xlm_forward_moments(spec: ModelSpec, wl: Workload, dt: int, inputs: int) -> list[Moment] | None:
    """The last layer's attention and FFN moments of XLM's full forward (the module docstring); None elsewhere."""
    if spec.family not in XLM_FORWARD or wl.task != "forward" or not spec.layers:
        return None
    last = spec.layers[-1]
    att, mlp = last.attention, last.mlp
    if att is None or mlp is None:
        return None
    n, b, s, h = len(spec.layers), wl.batch, wl.context, spec.hidden_size
    t = b * s
    e = t * h * dt  # one hidden-sized tensor
    kv = 2 * n * t * att.num_heads * att.head_dim * dt  # every layer's K and V, torch.cat copies in the cache
    prev = e if n > 1 else 0  # the previous layer's attention output (attn_outputs / attn)
    masks = 2 * t  # get_masks' (batch, seq) bool and the attention's ``mask == 0``
    fixed = masks + inputs
    per_score, what = own_eager_score(spec.family, dt, False) or (2 * dt, "scores, softmax")
    scores = b * att.num_heads * s * s
    held = f"inputs_embeds {e:,} + the forward's cache: {n} layers' K/V {kv:,}"
    attention = e + kv + prev + 2 * e + scores * per_score + fixed
    ffn = e + kv + e + e + 2 * t * mlp.intermediate_size * dt + fixed
    return [
        Moment(
            f"prefill attention (layer {n - 1})",
            0,
            attention,
            formula=f"{held} + previous layer's attention output {prev:,} + input and scaled q {2 * e:,} + "
            f"scores {b}×{att.num_heads}×{s}×{s} × {per_score} B ({what}) + {fixed:,} masks/inputs",
        ),
        Moment(
            f"prefill MLP (layer {n - 1})",
            0,
            ffn,
            formula=f"{held} + the layer's attention output and normed input {2 * e:,} + lin1 and GELU "
            f"{t:,}×{mlp.intermediate_size:,} × 2 × {dt} B + {fixed:,} masks/inputs",
        ),
    ]
