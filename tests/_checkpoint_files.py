"""Small checkpoint files for the reader tests, written by the official libraries (safetensors, gguf)."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from memfit.inventory import inventory
from memfit.spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec, MoESpec

# A tiny llama: h=64, vocab=128, 2 layers, 4 heads of 16, 2 KV heads, SwiGLU 96, untied.
# Per layer: q 64·64 + k 32·64 + v 32·64 + o 64·64 = 12,288; gate/up/down 3·96·64 = 18,432; 2 norms 128
#   = 30,848; two layers 61,696. Embedding 128·64 = 8,192, lm_head 8,192, final norm 64. Total 78,144.
TINY_PARAMS = 78_144
TINY_LINEARS = 2 * (64 * 64 + 32 * 64 + 32 * 64 + 64 * 64 + 3 * 96 * 64)  # 61,440 in the 14 block matrices


def tiny_spec(tie: bool = False) -> ModelSpec:
    attn = AttentionSpec(num_heads=4, num_kv_heads=2, head_dim=16)
    layer = LayerSpec("attention", attn, mlp=MLPSpec(96))
    return ModelSpec(name="tiny", family="llama", hidden_size=64, vocab_size=128, layers=(layer, layer),
                     tie_word_embeddings=tie, max_position_embeddings=256)


def tiny_moe_spec() -> ModelSpec:
    attn = AttentionSpec(num_heads=4, num_kv_heads=2, head_dim=16)
    layer = LayerSpec("attention", attn, moe=MoESpec(num_experts=4, top_k=2, expert_intermediate_size=32))
    return ModelSpec(name="tiny-moe", family="qwen3_moe", hidden_size=64, vocab_size=128, layers=(layer, layer),
                     max_position_embeddings=256)


TINY_CONFIG: dict[str, Any] = {
    "model_type": "llama", "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 128, "max_position_embeddings": 256,
    "tie_word_embeddings": False, "torch_dtype": "bfloat16",
}

# Hugging Face llama names for the tiny spec (what a real checkpoint holds)
def hf_llama_shapes(layers: int = 2) -> dict[str, tuple[int, ...]]:
    out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (128, 64), "model.norm.weight": (64,),
                                       "lm_head.weight": (128, 64)}
    for i in range(layers):
        p = f"model.layers.{i}."
        out.update({
            p + "input_layernorm.weight": (64,), p + "post_attention_layernorm.weight": (64,),
            p + "self_attn.q_proj.weight": (64, 64), p + "self_attn.k_proj.weight": (32, 64),
            p + "self_attn.v_proj.weight": (32, 64), p + "self_attn.o_proj.weight": (64, 64),
            p + "mlp.gate_proj.weight": (96, 64), p + "mlp.up_proj.weight": (96, 64),
            p + "mlp.down_proj.weight": (64, 96),
        })
    return out


def save_torch(path: Path, tensors: Mapping[str, tuple[tuple[int, ...], str]]) -> None:
    """Write a real safetensors file with the safetensors library (zeros; dtype names from torch)."""
    import torch
    from safetensors.torch import save_file

    save_file({name: torch.zeros(shape, dtype=getattr(torch, dtype)) for name, (shape, dtype) in tensors.items()},
              str(path))


def save_spec(path: Path, spec: ModelSpec, dtype: str = "bfloat16") -> None:
    save_torch(path, {t.name: (t.shape, dtype) for t in inventory(spec)})


def raw_safetensors(path: Path, header: bytes | Mapping[str, Any], data: int | bytes = 0,
                    length: int | None = None) -> Path:
    """A hand-made safetensors file: 8-byte length, header bytes, then ``data`` zero bytes (or given bytes)."""
    raw = header if isinstance(header, bytes) else json.dumps(header).encode()
    n = len(raw) if length is None else length
    body = data if isinstance(data, bytes) else b"\0" * data
    path.write_bytes(struct.pack("<Q", n) + raw + body)
    return path


def write_config(folder: Path, config: Mapping[str, Any]) -> None:
    (folder / "config.json").write_text(json.dumps(config))
