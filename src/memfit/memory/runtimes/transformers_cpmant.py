"""CPM-Ant in transformers inference (transformers 5.25 ``models/cpmant/modeling_cpmant.py``; it has no SDPA path).

* ``CpmAntModel.forward`` puts ``prompt_length`` prompt tokens (``CpmAntConfig``'s default 32) ahead of every
  sequence (``torch.cat`` of the prompt ids and ``input_ids``): the layers run on ``s + prompt_length`` tokens, and the
  prompt is dropped before the head (``hidden_states[:, self.prompt_length:, :]``), so the logits cover ``s``;
* it keeps ``segment_states`` (the segment embedding, a hidden-sized tensor) bound beside the stream until it returns,
  and ``position_bias = self.position_bias(...)`` (``CpmAntSegmentPositionEmbedding.forward``: ``F.embedding`` of the
  ``b × S × S`` buckets, ``permute(0, 3, 1, 2).contiguous()``: ``b × heads × S × S`` in the model dtype) through every
  layer;
* ``CpmAntAttention.forward`` projects q, k and v (bound until it returns), then ``score = matmul / sqrt(d)``,
  ``score = score + position_bias`` and ``torch.masked_fill(score, ...)`` while the sum is still bound, then the
  softmax and a second ``masked_fill``: two score-sized tensors beside the bias at a time.
"""

from __future__ import annotations

from ...spec import AttentionSpec, ModelSpec
from .transformers_zaya import zaya_config

__all__ = ["SEGMENT_BIAS", "position_bias_bytes", "prompt_tokens", "segment_bias_attention"]

SEGMENT_BIAS = ("cpmant",)
PROMPT_LENGTH = 32  # CpmAntConfig's default prompt_length


def prompt_tokens(spec: ModelSpec) -> int:
    """The prompt tokens CPM-Ant puts ahead of every sequence (0 for other families)."""
    if spec.family not in SEGMENT_BIAS:
        return 0
    n = zaya_config(spec).get("prompt_length", PROMPT_LENGTH)
    return n if isinstance(n, int) and not isinstance(n, bool) and n >= 0 else PROMPT_LENGTH


def position_bias_bytes(spec: ModelSpec, b: int, queries: int, keys: int, dt: int) -> int:
    """CPM-Ant's position bias, alive through the whole forward: ``b × heads × queries × keys`` in the model dtype."""
    if spec.family not in SEGMENT_BIAS or not spec.attention_layers:
        return 0
    return b * spec.attention_layers[0].num_heads * queries * keys * dt


def segment_bias_attention(
    family: str, att: AttentionSpec, b: int, s: int, keys: int, dt: int
) -> tuple[int, str] | None:
    """CPM-Ant's attention at its peak beyond the stream, the masks and the position bias: q, k, v and two
    score-sized tensors (the biased scores and their ``masked_fill``); None for other families."""
    if family not in SEGMENT_BIAS:
        return None
    vectors = b * s * att.num_heads * (2 * att.head_dim + att.value_dim) * dt
    scores = b * att.num_heads * s * keys * dt
    return vectors + 2 * scores, (
        f"q, k, v + 2 × scores {b}×{att.num_heads}×{s}×{keys} × {dt} B (biased, "
        "masked_fill; the position bias held beside)"
    )
