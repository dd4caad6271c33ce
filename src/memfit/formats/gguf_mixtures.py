"""GGUF: the ggml type llama.cpp's ``llama-quantize`` gives every tensor of a mixture, after llama.cpp's
``src/llama-quant.cpp`` (``tensor_allows_quantization``, ``llama_tensor_get_type_impl``, ``tensor_type_fallback``)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from ..errors import ConfigError
from ..inventory import Tensor, inventory
from ..spec import ModelSpec
from .base import Format
from .registry import ggml_types

_IQ_LOW = {"IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ2_S", "IQ2_M", "IQ1_M"}  # the 1-2 bit IQ mixtures
_OUTPUT_Q5K = _IQ_LOW | {"IQ3_XXS"}  # their output.weight gets Q5_K
# tensor_type_fallback: a row that is not a multiple of the block goes to a 32-block type
_FALLBACK = {**{t: "IQ4_NL" for t in ("IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ3_XXS", "IQ3_S", "IQ4_XS")},
             **{t: "Q4_0" for t in ("Q2_0", "Q2_K", "Q3_K", "TQ1_0", "TQ2_0")},
             "Q4_K": "Q5_0", "Q5_K": "Q5_1", "Q6_K": "Q8_0"}
_SEVENTY_B_FAMILIES = {"llama", "mistral", "qwen2"}  # archs whose 80-layer model llama.cpp calls LLM_TYPE_70B
# tensor_requires_imatrix: llama-quantize refuses these mixtures without an importance matrix, so
# their rules run with has_imatrix; every other mixture is assumed made without one.
_NEEDS_IMATRIX = {"IQ1_S", "IQ1_M", "IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ2_M", "IQ3_XXS", "Q2_K_S"}


def _allows_quantization(t: Tensor) -> bool:
    """tensor_allows_quantization: 2-D and 3-D weights only; not norms, routers, position
    embeddings, convolutions, SSM A/D (names without ``.weight``), biases."""
    if t.is_bias or len(t.shape) < 2 or t.group in ("vision", "other"):
        return False
    if "norm" in t.kind:
        return False
    return t.kind not in ("ffn_gate_inp", "pos_embd", "ssm_conv1d", "ssm_a", "ssm_d", "attn_sinks")


def _unquantized_type(t: Tensor) -> str:
    """The type a tensor llama-quantize leaves alone has in the converted file: convert_hf_to_gguf
    writes 1-D tensors, norms, routers, position embeddings and conv1d in F32; a vision tower ships
    as a separate F16 mmproj file."""
    return "F16" if t.group == "vision" else "F32"


def _category(kind: str) -> str:
    if kind in ("output", "token_embd", "attn_qkv", "attn_kv_b", "attn_v", "attn_k", "attn_q", "attn_output"):
        return kind
    for prefix in ("ffn_up", "ffn_gate", "ffn_down"):
        if kind.startswith(prefix):
            return prefix
    return "other"


def _use_more_bits(i: int, n: int) -> bool:
    return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2


def _fallback(t: Tensor, type_name: str) -> str:
    ncols = t.shape[-1]
    types = ggml_types()
    if ncols % types[type_name].block == 0:
        return type_name
    alt = _FALLBACK.get(type_name, "F16")
    return alt if ncols % types[alt].block == 0 else "F16"


@dataclass
class _GGUFState:
    ftype: str
    n_gqa: int
    n_expert: int
    n_layer: int
    is_70b: bool
    falcon: bool
    tied: bool
    n_attention_wv: int
    imatrix: bool = False
    i_attention_wv: int = 0
    i_ffn_down: int = 0
    i_ffn_gate: int = 0
    i_ffn_up: int = 0


def _gguf_state(spec: ModelSpec, fmt: Format, tensors: tuple[Tensor, ...]) -> _GGUFState:
    attn = spec.attention_layers
    n_gqa = attn[0].num_heads // attn[0].num_kv_heads if attn and attn[0].num_kv_heads else 0
    n_expert = next((layer.moe.num_experts for layer in spec.layers if layer.moe is not None), 0)
    is_70b = (spec.num_layers == 80 and spec.family in _SEVENTY_B_FAMILIES
              and (spec.family != "llama" or n_gqa > 1))
    return _GGUFState(
        ftype=fmt.ftype or "", n_gqa=n_gqa, n_expert=n_expert, n_layer=spec.num_layers, is_70b=is_70b,
        falcon=spec.family == "falcon", tied=not any(t.kind == "output" and not t.is_bias for t in tensors),
        n_attention_wv=sum(1 for t in tensors if not t.is_bias and t.kind in ("attn_v", "attn_qkv", "attn_kv_b")),
        imatrix=(fmt.ftype or "") in _NEEDS_IMATRIX,
    )


def _layer_of(s: _GGUFState, counter: int, t: Tensor) -> int:
    """llama.cpp's layer_info: MoE models read the layer from the tensor name, others count."""
    return t.layer if s.n_expert > 1 and t.layer is not None else counter


def _mixture_type(s: _GGUFState, t: Tensor, new: str) -> str:
    """llama_tensor_get_type_impl for one quantizable tensor; ``new`` is the mixture's default type."""
    f, cat = s.ftype, _category(t.kind)
    if cat == "output" or (s.tied and cat == "token_embd"):
        if f == "MXFP4_MOE" or s.falcon or t.shape[-1] % ggml_types()[new].block:
            return "Q8_0"
        if f in _OUTPUT_Q5K:
            return "Q5_K"
        return new if new == "Q8_0" else "Q6_K"
    if f == "MXFP4_MOE":
        return "MXFP4" if len(t.shape) == 3 and t.shape[0] > 1 else "Q8_0"
    if cat == "token_embd":
        if f in ("IQ2_XXS", "IQ2_XS", "IQ1_S", "IQ1_M"):
            return "Q2_K"
        if f in ("IQ2_S", "IQ2_M", "IQ3_XXS"):
            return "IQ3_S"
        if f in ("TQ1_0", "TQ2_0", "Q2_0"):
            return "Q4_K"
        return new
    attn_v_like = cat in ("attn_v", "attn_qkv", "attn_kv_b")
    if f in _IQ_LOW:
        iq2_sm = f in ("IQ2_S", "IQ2_M")
        if attn_v_like:
            s.i_attention_wv += 1
            if s.n_gqa >= 4 or s.n_expert >= 4:
                return "Q4_K"
            return "IQ3_S" if iq2_sm else "Q2_K"
        if s.n_expert == 8 and cat == "attn_k":
            return "Q4_K"
        if cat == "ffn_down":
            i = s.i_ffn_down
            s.i_ffn_down += 1
            if i < s.n_layer // 8:
                return "IQ3_S" if iq2_sm else "Q2_K"
            return new
        if cat == "attn_output":
            if s.n_expert == 8:
                return "Q5_K"
            if f in ("IQ1_S", "IQ1_M"):
                return "IQ2_XXS"
            if iq2_sm:
                return "IQ3_S"
        return new
    if attn_v_like:
        i, n = s.i_attention_wv, s.n_attention_wv
        s.i_attention_wv += 1
        if f == "Q2_K":
            new = "Q4_K" if s.n_gqa >= 4 else "Q3_K"
        elif f == "Q2_K_S" and s.n_gqa >= 4:
            new = "Q4_K"
        elif f == "IQ3_XXS":
            new = "Q4_K" if s.n_gqa >= 4 else "IQ3_XXS" if s.imatrix else "IQ3_S"
        elif (f in ("IQ3_XS", "IQ3_S") and s.n_gqa >= 4) or f == "IQ3_M":
            new = "Q4_K"
        elif f == "Q3_K_M":
            new = "Q5_K" if i < 2 else "Q4_K"
        elif f == "Q3_K_L" or (f in ("IQ4_NL", "IQ4_XS") and s.n_gqa >= 4):
            new = "Q5_K"
        elif f in ("Q4_K_M", "Q5_K_M") and _use_more_bits(i, n):
            new = "Q6_K"
        elif f == "Q4_K_S" and i < 4:
            new = "Q5_K"
        if s.is_70b and new in ("Q3_K", "Q4_K"):
            new = "Q5_K"
        if s.n_expert == 8:
            new = "Q8_0"
        return new
    if cat == "attn_k":
        if s.n_expert == 8:
            return "Q8_0"
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(f, new)
    if cat == "attn_q":
        return {"IQ3_XS": "IQ3_XXS", "IQ3_XXS": "IQ2_S"}.get(f, new)
    if cat == "ffn_down":
        i, n = _layer_of(s, s.i_ffn_down, t), s.n_layer
        s.i_ffn_down += 1
        return _ffn_down_type(s, f, new, i, n)
    if cat == "attn_output":
        if s.falcon:
            return "Q4_K" if f == "Q3_K_L" else new
        if s.n_expert == 8:
            bumped = {"Q2_K", "IQ3_XS", "IQ3_XXS", "Q3_K_S", "Q3_K_M", "IQ4_NL", "Q4_K_S", "Q4_K_M", "IQ3_S", "IQ3_M",
                      "IQ4_XS"}
            return "Q5_K" if f in bumped else new
        return {"Q2_K": "Q3_K", "IQ3_XXS": "IQ3_S", "Q3_K_M": "Q4_K", "Q3_K_L": "Q5_K", "IQ3_M": "Q4_K"}.get(f, new)
    if cat in ("ffn_gate", "ffn_up"):
        counter = s.i_ffn_gate if cat == "ffn_gate" else s.i_ffn_up
        i, n = _layer_of(s, counter, t), s.n_layer
        if cat == "ffn_gate":
            s.i_ffn_gate += 1
        else:
            s.i_ffn_up += 1
        if f == "IQ3_XS" and n // 8 <= i < 7 * n // 8:
            return "IQ3_XXS"
    return new


def _ffn_down_type(s: _GGUFState, f: str, new: str, i: int, n: int) -> str:
    if f == "Q2_K":
        return "Q3_K"
    if f == "Q2_K_S":
        return "Q4_K" if i < n // 8 else new
    if f == "IQ3_XXS" and not s.imatrix:
        return "Q4_K" if i < n // 8 else "Q3_K"
    if f == "Q3_K_M":
        if i < n // 16:
            return "Q5_K"
        return "Q4_K" if not s.falcon or _use_more_bits(i, n) else "Q3_K"
    if f == "IQ3_M" and (i < n // 8 or (s.n_expert == 8 and _use_more_bits(i, n))):
        return "Q4_K"
    if f == "Q3_K_L":
        return "Q4_K" if s.falcon else "Q5_K"
    if f == "Q4_K_M":
        if s.falcon:
            return "Q6_K" if i < n // 16 else "Q5_K" if _use_more_bits(i, n) else "Q4_K"
        return "Q6_K" if _use_more_bits(i, n) else new
    if f in ("IQ4_NL", "IQ4_XS") and i < n // 8 and not s.imatrix:
        return "Q5_K"
    if f == "Q5_K_M" and _use_more_bits(i, n):
        return "Q6_K"
    if f == "Q4_K_S" and not s.falcon and i < n // 8:
        return "Q5_K"
    return new


def gguf_tensor_types(spec: ModelSpec, fmt: Format) -> list[tuple[Tensor, str]]:
    """The ggml type of every tensor of ``spec`` in a GGUF file made with ``fmt`` (a mixture such as
    Q4_K_M, or a pure type), as llama-quantize picks it from an F16/BF16 conversion with no
    --leave-output-tensor / --tensor-type overrides, and with an importance matrix only for the
    mixtures that require one (IQ1_*, IQ2_*, IQ3_XXS, Q2_K_S).

    Rules (llama.cpp ``src/llama-quant.cpp``): tensors that may not be quantized (1-D, norms,
    routers, conv1d, SSM A/D, position embeddings) keep the converter's F32; ``output.weight`` (and a
    tied ``token_embd``) goes to Q6_K (Q8_0, Q5_K for the 1-2 bit IQ mixtures); attn_v / ffn_down
    get more bits in the layers ``use_more_bits`` picks; rows that do not fill a block fall back
    (Q4_K → Q5_0, Q6_K → Q8_0, IQ* → IQ4_NL, …, F16 as last resort).
    """
    if fmt.kind != "gguf" or fmt.default_type is None:
        raise ConfigError(f"{fmt.name} is not a GGUF format")
    try:
        hash(spec)
    except TypeError:  # a hand-built spec holding a list: worked out every time
        return list(_tensor_types(spec, fmt))
    return list(_cached_tensor_types(spec, fmt))


@lru_cache(maxsize=256)
def _cached_tensor_types(spec: ModelSpec, fmt: Format) -> tuple[tuple[Tensor, str], ...]:
    """gguf_tensor_types, once per (spec, format): every llama.cpp estimate prices the file from it."""
    return _tensor_types(spec, fmt)


def _tensor_types(spec: ModelSpec, fmt: Format) -> tuple[tuple[Tensor, str], ...]:
    tensors = inventory(spec)
    types = ggml_types()
    default = fmt.default_type
    assert default is not None  # checked by gguf_tensor_types
    state = _gguf_state(spec, fmt, tensors)
    out: list[tuple[Tensor, str]] = []
    for t in tensors:
        if not _allows_quantization(t):
            out.append((t, _unquantized_type(t)))
        elif not types[default].quantized:
            out.append((t, default))
        elif fmt.pure:
            out.append((t, _fallback(t, default)))
        else:
            out.append((t, _fallback(t, _mixture_type(state, t, default))))
    return tuple(out)
