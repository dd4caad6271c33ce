"""Tensor roles (what a quantizer sees) and the exact bytes of one weight tensor in a Hugging Face-side format."""

from __future__ import annotations

import math

from ..errors import ConfigError
from ..inventory import Tensor
from .base import Format, Role
from .registry import ggml_type

_NOT_LINEAR = {"ssm_a", "ssm_d", "ssm_conv1d", "attn_sinks", "ffn_gate_inp", "ffn_gate_inp_shexp", "exp_probs_b"}


def tensor_role(t: Tensor) -> Role:
    """What a quantizer sees: ``linear`` (a 2-D weight of a projection inside a block), ``experts``
    (fused 3-D MoE weights), ``embedding``, ``lm_head``, ``router``, ``vector`` (norms, biases,
    1-D parameters), ``vision`` (the vision tower, counted as one tensor) or ``other``."""
    if t.group == "vision":
        return "vision"
    if t.is_bias or len(t.shape) < 2 or "norm" in t.kind:
        return "vector"
    if t.kind in ("token_embd", "pos_embd"):
        return "embedding"
    if t.kind == "output":
        return "lm_head"
    if t.kind in ("ffn_gate_inp", "ffn_gate_inp_shexp"):
        return "router"
    if t.kind.endswith("_exps") and len(t.shape) == 3:
        return "experts"
    if t.layer is not None and len(t.shape) == 2 and t.kind not in _NOT_LINEAR:
        return "linear"
    return "other"


def quantizes(fmt: Format, role: Role, moe: bool) -> bool:
    """Whether ``fmt`` stores a tensor of ``role`` quantized. MXFP4 quantizes MoE experts only
    (gpt-oss); on a model without experts it falls back to the block linears."""
    if fmt.kind == "dense":
        return True
    if fmt.kind == "microscaled" and fmt.quantizes == ("experts",) and not moe:
        return role == "linear"
    return role in fmt.quantizes


def _matrices(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(count, out, in) for a weight of PyTorch shape (out, in) or fused experts (e, out, in)."""
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    n = math.prod(shape[:-1])
    return 1, n, shape[-1]


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def quantized_tensor_bytes(fmt: Format, shape: tuple[int, ...], role: Role = "linear") -> int:
    """Exact bytes of one weight tensor of PyTorch ``shape`` ((out, in), or (experts, out, in),
    each expert quantized on its own) stored in ``fmt``: codes, scales, zeros and code tables. ``role``
    matters to EXL2/EXL3 only, which store the output layer (``lm_head``) at ``head_bits``.

    * dense: numel × bytes;
    * scaled ``none``: numel·b/8 (codes only); ``tensor``: numel·b/8 + 4 per matrix; ``row``: out·ceil(in·b/8) + 4·out
      (+ zero_bytes·out where a zero point is stored per row: torchao int8);
      ``block2d`` (DeepSeek fp8): numel + 4·ceil(out/128)·ceil(in/128);
    * bnb4 (block 64, on the flattened tensor): ceil(numel/2) codes + 4·ceil(numel/64) absmax
      + 16·4 code; with double quantization ceil(numel/64) uint8 absmax + 4·ceil(blocks/256)
      + 4 (offset) + 256·4 (nested code) + 16·4;
    * GPTQ: qweight 4·ceil(in·b/32)·out + qzeros 4·G·ceil(out·b/32) + scales 2·G·out + g_idx 4·in,
      G = ceil(in/g); AWQ: the same without g_idx;
    * microscaled (MXFP4, NVFP4): out·ceil(in/block)·(block·4/8 + scale) + per-matrix scale;
    * EXL2 / EXL3: ``formats.exllama.exl_tensor_bytes``.
    """
    numel = math.prod(shape)
    if fmt.kind == "dense":
        return numel * int(fmt.bits) // 8
    if fmt.kind == "gguf":
        return ggml_type(fmt.default_type or "").tensor_bytes(shape)
    if fmt.kind == "bnb4":
        blocks = _ceil(numel, fmt.block)
        codes = _ceil(numel * fmt.element_bits, 8)
        if not fmt.double_quant:
            return codes + 4 * blocks + 4 * fmt.code_entries
        return (codes + blocks + 4 * _ceil(blocks, fmt.dq_block) + 4 + 4 * fmt.dq_code_entries
                + 4 * fmt.code_entries)
    count, out, inp = _matrices(shape)
    b = fmt.element_bits
    if fmt.kind == "scaled":
        if fmt.scale == "none":  # the rule of thumb: codes only
            per = _ceil(out * inp * b, 8)
        elif fmt.scale == "tensor":
            per = _ceil(out * inp * b, 8) + 4
        elif fmt.scale == "row":
            per = out * _ceil(inp * b, 8) + (4 + fmt.zero_bytes) * out
        elif fmt.scale == "block2d":
            per = _ceil(out * inp * b, 8) + 4 * _ceil(out, fmt.block) * _ceil(inp, fmt.block)
        else:
            raise ConfigError(f"format {fmt.name}: unknown scale layout {fmt.scale!r}")
        return count * per
    if fmt.kind in ("gptq", "awq"):
        groups = _ceil(inp, fmt.block) if fmt.block > 0 else 1
        qweight = 4 * _ceil(inp * b, 32) * out
        qzeros = 4 * groups * _ceil(out * b, 32)
        scales = 2 * groups * out
        g_idx = 4 * inp if fmt.kind == "gptq" else 0
        return count * (qweight + qzeros + scales + g_idx)
    if fmt.kind in ("exl2", "exl3"):
        from .exllama import exl_tensor_bytes

        return count * exl_tensor_bytes(fmt, out, inp, role)
    if fmt.kind == "microscaled":
        blocks = _ceil(inp, fmt.block)
        per = out * blocks * (fmt.block * b // 8 + fmt.scale_bytes) + fmt.tensor_scale_bytes
        return count * per
    raise ConfigError(f"format {fmt.name}: unknown kind {fmt.kind!r}")

