"""A llama-style model description from tensor names and shapes alone (a checkpoint without config.json)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from ..spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec

_LAYER = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


def spec_from_tensor_shapes(shapes: Mapping[str, tuple[int, ...]], name: str, logical: int,
                            dtype: str = "bfloat16") -> ModelSpec | None:
    """A llama-style ``ModelSpec`` from tensor names and shapes (no config.json), or None.

    Only returned when its parameter count equals ``logical`` exactly; head_dim is not in the
    shapes, so it is read from ``q_norm`` when present and otherwise assumed 128 (or the largest
    power of two ≤ 128 dividing the q and k rows), which
    changes neither the parameter count nor the KV cache size (both use heads × head_dim).
    """
    try:
        return _spec_from_shapes(shapes, name, logical, dtype)
    except Exception:  # shapes that parse but describe no coherent model
        return None


def _spec_from_shapes(shapes: Mapping[str, tuple[int, ...]], name: str, logical: int,
                      dtype: str) -> ModelSpec | None:
    from ..inventory import count_parameters

    emb = shapes.get("model.embed_tokens.weight")
    if emb is None or len(emb) != 2:
        return None
    vocab, h = emb
    layers: dict[int, dict[str, tuple[int, ...]]] = {}
    for key, shape in shapes.items():
        m = _LAYER.match(key)
        if m:
            layers.setdefault(int(m.group(1)), {})[m.group(2)] = shape
    if not layers or sorted(layers) != list(range(len(layers))):
        return None
    built: list[LayerSpec] = []
    for i in range(len(layers)):
        t = layers[i]
        q, k, v = (t.get(f"self_attn.{p}_proj.weight") for p in "qkv")
        up, down = t.get("mlp.up_proj.weight"), t.get("mlp.down_proj.weight")
        if q is None or k is None or v is None or up is None or down is None or len(q) != 2 or len(k) != 2:
            return None
        qn = t.get("self_attn.q_norm.weight")
        common = math.gcd(q[0], k[0])
        hd = qn[0] if qn is not None and len(qn) == 1 and qn[0] else next(
            (d for d in (128, 64, 32, 16, 8) if common % d == 0), common)
        if q[0] % hd or k[0] % hd or not q[0] or not k[0]:
            return None
        norms = sum(1 for key, s in t.items() if "norm" in key and "self_attn" not in key and key.endswith(".weight")
                    and s == (h,))
        attn = AttentionSpec(q[0] // hd, k[0] // hd, hd, qkv_bias="self_attn.q_proj.bias" in t,
                             o_bias="self_attn.o_proj.bias" in t, qk_norm="head" if qn is not None else "none")
        mlp = MLPSpec(up[0], "gated" if "mlp.gate_proj.weight" in t else "plain", "mlp.up_proj.bias" in t)
        built.append(LayerSpec("attention", attn, mlp=mlp, norms=norms))
    norm_bias = any(key.endswith("norm.bias") for key in shapes)
    spec = ModelSpec(name=name, family="llama", hidden_size=h, vocab_size=vocab, layers=tuple(built),
                     tie_word_embeddings="lm_head.weight" not in shapes, norm="layernorm" if norm_bias else "rms",
                     final_norm="model.norm.weight" in shapes, lm_head_bias="lm_head.bias" in shapes, dtype=dtype)
    return spec if count_parameters(spec).total == logical else None


