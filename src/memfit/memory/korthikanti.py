"""Megatron-LM's activation memory per transformer layer (Korthikanti et al. 2022, "Reducing Activation
Recomputation in Large Transformer Models", arXiv 2205.05198, Table 2): the parallel module's reference formula."""

from __future__ import annotations

__all__ = ["korthikanti_layer_bytes"]


def korthikanti_layer_bytes(s: int, b: int, h: int, a: int, t: int = 1, sequence_parallel: bool = False,
                            recompute: str = "none") -> int:
    """Megatron's per-layer activation bytes (Korthikanti et al. 2022, Table 2; 16-bit, 4h MLP, dropout).

    ``recompute``: ``none``, ``selective`` (attention core recomputed) or ``full`` (layer input only).
    """
    if recompute == "full":
        return 2 * s * b * h
    sbh = s * b * h
    attn_core = 5 * a * s * s * b  # softmax input/output, dropout mask and output: 5as²b
    base = 34 * sbh // t if sequence_parallel else 10 * sbh + 24 * sbh // t
    if recompute == "selective":
        return base
    return base + attn_core // t
