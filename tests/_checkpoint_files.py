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


def gguf_name(t: Any) -> str:
    """The GGUF name of an inventory tensor: blk.{layer}.{kind}.weight, token_embd.weight, output.weight …"""
    suffix = "bias" if t.is_bias else "weight"
    return f"blk.{t.layer}.{t.kind}.{suffix}" if t.layer is not None else f"{t.kind}.{suffix}"


def _add_architecture(w: Any, spec: ModelSpec) -> None:
    """The GGUF architecture keys llama.cpp reads, from the description (first layer's attention and MLP)."""
    a = spec.layers[0].attention
    assert a is not None
    w.add_block_count(spec.num_layers)
    w.add_context_length(spec.max_position_embeddings)
    w.add_embedding_length(spec.hidden_size)
    w.add_head_count(a.num_heads)
    kv = [layer.attention.num_kv_heads if layer.attention is not None else 0 for layer in spec.layers]
    w.add_head_count_kv(kv if len(set(kv)) > 1 else kv[0])
    w.add_key_length(a.head_dim)
    w.add_value_length(a.value_dim)
    layer = spec.layers[0]
    if layer.mlp is not None:
        w.add_feed_forward_length(layer.mlp.intermediate_size)
    if layer.moe is not None:
        w.add_expert_count(layer.moe.num_experts)
        w.add_expert_used_count(layer.moe.top_k)
        w.add_expert_feed_forward_length(layer.moe.expert_intermediate_size)
    if a.sliding_window:
        w.add_sliding_window(a.sliding_window)


def write_gguf(path: Path, spec: ModelSpec, types: Mapping[str, str] | None = None, *, arch: str = "llama",
               split_max_tensors: int = 0, extra_kv: Mapping[str, Any] | None = None) -> None:
    """A real GGUF file written by gguf.GGUFWriter from ``inventory(spec)``.

    ``types`` maps a tensor kind (``attn_q``, ``ffn_down`` …) to a ggml type name (``Q8_0``, ``Q4_0`` …);
    other tensors are F32 (1-D) or F16. Quantized tensors hold zero bytes of the right size.
    """
    import gguf
    import numpy as np

    types = types or {}
    w = gguf.GGUFWriter(path, arch, split_max_tensors=split_max_tensors)
    _add_architecture(w, spec)
    for key, value in (extra_kv or {}).items():
        if isinstance(value, str):
            w.add_string(key, value)
        else:
            w.add_uint32(key, value)
    for t in inventory(spec):
        tname = types.get(t.kind, "F32" if len(t.shape) == 1 else "F16")
        qtype = gguf.GGMLQuantizationType[tname]
        if tname in ("F32", "F16"):
            w.add_tensor(gguf_name(t), np.zeros(t.shape, dtype=np.float32 if tname == "F32" else np.float16))
        else:
            block, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
            row = t.shape[-1] // block * block_bytes
            w.add_tensor(gguf_name(t), np.zeros((*t.shape[:-1], row), dtype=np.uint8), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def write_sparse_gguf(path: Path, spec: ModelSpec, fmt_name: str, *, tokens: int = 0, arch: str = "llama") -> int:
    """A GGUF file whose tensor types follow llama-quantize's rules for ``fmt_name`` (memfit.formats
    ``gguf_tensor_types``), with real tensor infos and a sparse (unwritten) data section.

    ``tokens`` adds a tokenizer vocabulary of that many strings, as real files carry. Returns the size.
    """
    import gguf
    import numpy as np

    from memfit.formats import get_format, gguf_tensor_types

    w = gguf.GGUFWriter(path, arch)
    _add_architecture(w, spec)
    fmt = get_format(fmt_name)
    if fmt.ftype_id is not None:
        w.add_file_type(fmt.ftype_id)
    if tokens:
        w.add_token_list([f"tok{i}" for i in range(tokens)])
        w.add_token_scores([0.0] * tokens)
    data = 0
    for t, type_name in gguf_tensor_types(spec, fmt):
        qtype = gguf.GGMLQuantizationType[type_name]
        block, block_bytes = gguf.GGML_QUANT_SIZES[qtype]
        nbytes = t.numel // block * block_bytes
        w.add_tensor_info(gguf_name(t), t.shape, np.dtype(np.float32), nbytes, raw_dtype=qtype)
        data += nbytes + (-nbytes % 32)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_ti_data_to_file()
    w.close()
    start = path.stat().st_size
    start += -start % 32
    with path.open("r+b") as f:
        f.truncate(start + data)
    return start + data
