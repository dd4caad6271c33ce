"""GGUF headers: metadata → model description, exact tensor bytes, split files, hostile headers."""

from __future__ import annotations

import struct
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

import memfit
from _checkpoint_files import TINY_PARAMS, tiny_moe_spec, tiny_spec, write_gguf
from memfit.errors import FormatError
from memfit.sources.gguf_reader import read_gguf
from memfit.spec import AttentionSpec, LayerSpec, MLPSpec, ModelSpec

pytest.importorskip("gguf")

# tiny_spec: 1-D tensors (4 layer norms + final norm) = 5 × 64 = 320 elements, stored F32 by write_gguf
TINY_1D = 320


def test_gguf_from_the_description_is_exact(tmp_path: Path) -> None:
    f = tmp_path / "tiny.gguf"
    write_gguf(f, tiny_spec())
    spec = memfit.load_model(str(f))
    s = spec.stored
    assert s is not None and s.container == "gguf"
    assert s.logical_parameters == TINY_PARAMS
    assert s.stored_bytes == s.loaded_bytes == (TINY_PARAMS - TINY_1D) * 2 + TINY_1D * 4
    assert dict((d, (e, b)) for d, e, b in s.bytes_by_dtype) == {
        "F16": (TINY_PARAMS - TINY_1D, (TINY_PARAMS - TINY_1D) * 2), "F32": (TINY_1D, TINY_1D * 4)}
    assert s.tensors == 21
    assert s.header_bytes_read < 4096  # the header only, not the 157 kB of tensor data
    # the description rebuilt from metadata + shapes equals the one the file was written from
    want = tiny_spec()
    assert (spec.hidden_size, spec.vocab_size, spec.num_layers) == (64, 128, 2)
    assert spec.layers[0].attention == want.layers[0].attention
    assert spec.layers[1].mlp is not None and spec.layers[1].mlp.intermediate_size == 96
    assert spec.max_position_embeddings == 256
    assert not spec.tie_word_embeddings
    assert memfit.count_parameters(spec).total == TINY_PARAMS
    assert spec.extra == ()


def test_gguf_quantized_tensor_bytes(tmp_path: Path) -> None:
    f = tmp_path / "q.gguf"
    write_gguf(f, tiny_spec(), {"attn_q": "Q8_0", "ffn_down": "Q4_0", "token_embd": "Q8_0"})
    s = memfit.load_model(str(f)).stored
    assert s is not None
    q8 = 2 * 64 * 64 + 128 * 64  # attn_q in both layers + token_embd
    q4 = 2 * 96 * 64
    f16 = TINY_PARAMS - TINY_1D - q8 - q4
    by = {d: (e, b) for d, e, b in s.bytes_by_dtype}
    assert by["Q8_0"] == (q8, q8 // 32 * 34)  # 32 int8 + one fp16 scale per block
    assert by["Q4_0"] == (q4, q4 // 32 * 18)  # 32 4-bit + one fp16 scale per block
    assert by["F16"] == (f16, f16 * 2)
    assert s.logical_parameters == TINY_PARAMS
    assert s.stored_bytes == q8 // 32 * 34 + q4 // 32 * 18 + f16 * 2 + TINY_1D * 4


def test_gguf_k_quants_and_file_type(tmp_path: Path) -> None:
    attn = AttentionSpec(num_heads=4, num_kv_heads=2, head_dim=64)
    spec = ModelSpec(name="k", family="llama", hidden_size=256, vocab_size=256,
                     layers=(LayerSpec("attention", attn, mlp=MLPSpec(512)),), max_position_embeddings=4096)
    f = tmp_path / "k.gguf"
    write_gguf(f, spec, {"attn_q": "Q6_K", "attn_k": "Q6_K", "attn_v": "Q6_K", "attn_output": "Q6_K",
                         "ffn_gate": "Q4_K", "ffn_up": "Q4_K", "ffn_down": "Q4_K"},
               extra_kv={"general.file_type": 15})
    got = memfit.load_model(str(f))
    s = got.stored
    assert s is not None
    attn_elems = 256 * 256 * 2 + 128 * 256 * 2
    ffn_elems = 3 * 512 * 256
    by = {d: (e, b) for d, e, b in s.bytes_by_dtype}
    assert by["Q6_K"] == (attn_elems, attn_elems // 256 * 210)
    assert by["Q4_K"] == (ffn_elems, ffn_elems // 256 * 144)
    assert s.quantization == "gguf:Q4_K_M"
    total = attn_elems + ffn_elems + 2 * 256 * 256 + 3 * 256  # + token_embd, output, 3 norms
    assert s.logical_parameters == memfit.count_parameters(spec).total == total


def test_gguf_tied_and_per_layer_kv_heads(tmp_path: Path) -> None:
    base = tiny_spec(tie=True)
    a0 = AttentionSpec(4, 2, 16)
    a1 = AttentionSpec(4, 1, 16)
    spec = replace(base, layers=(LayerSpec("attention", a0, mlp=MLPSpec(96)), LayerSpec("attention", a1,
                                                                                       mlp=MLPSpec(96))))
    f = tmp_path / "t.gguf"
    write_gguf(f, spec)
    got = memfit.load_model(str(f))
    assert got.tie_word_embeddings
    assert [layer.attention.num_kv_heads for layer in got.layers if layer.attention] == [2, 1]
    # tied: no output.weight; layer 1 has 16·64 fewer k and v weights each
    assert got.stored is not None
    assert got.stored.logical_parameters == TINY_PARAMS - 128 * 64 - 2 * 16 * 64
    assert memfit.count_parameters(got).total == got.stored.logical_parameters


def test_gguf_moe(tmp_path: Path) -> None:
    f = tmp_path / "moe.gguf"
    spec = tiny_moe_spec()
    write_gguf(f, spec)
    got = memfit.load_model(str(f))
    moe = got.layers[0].moe
    assert moe is not None and (moe.num_experts, moe.top_k, moe.expert_intermediate_size) == (4, 2, 32)
    # per layer: attention 12,288 + router 4·64 + 3 expert matrices 4·32·64 each + 2 norms; then embed, head, norm
    expected = 2 * (12_288 + 256 + 3 * 4 * 32 * 64 + 128) + 2 * 128 * 64 + 64
    assert got.stored is not None and got.stored.logical_parameters == expected
    assert memfit.count_parameters(got).total == expected
    assert memfit.count_parameters(got).active < expected


def test_gguf_split_files(tmp_path: Path) -> None:
    write_gguf(tmp_path / "m.gguf", tiny_spec(), split_max_tensors=8)
    parts = sorted(p.name for p in tmp_path.glob("*.gguf"))
    assert parts == ["m-00001-of-00003.gguf", "m-00002-of-00003.gguf", "m-00003-of-00003.gguf"]
    spec = memfit.load_model(str(tmp_path / parts[0]))
    assert spec.stored is not None
    assert spec.stored.files == tuple(parts)
    assert spec.stored.logical_parameters == TINY_PARAMS
    assert spec.stored.tensors == 21
    assert memfit.count_parameters(spec).total == TINY_PARAMS
    assert memfit.load_model(str(tmp_path)).stored == spec.stored  # the folder holding the split
    (tmp_path / parts[1]).unlink()
    with pytest.raises(FormatError, match=r"m-00002-of-00003\.gguf"):
        memfit.load_model(str(tmp_path / parts[0]))


def test_unknown_architecture_still_counts(tmp_path: Path) -> None:
    f = tmp_path / "odd.gguf"
    _raw(f, kvs=[("general.architecture", 8, "odd")], tensors=[("w", (32, 3), 0, 0)], data=32 * 3 * 4)
    spec = memfit.load_model(str(f))
    assert spec.is_bare and spec.parameters_override == 96
    assert spec.stored is not None and spec.stored.stored_bytes == 384


# --- hostile headers --------------------------------------------------------------------------

def _s(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _kv(key: str, vtype: int, value: Any) -> bytes:
    out = _s(key) + struct.pack("<I", vtype)
    if vtype == 8:
        return out + _s(value)
    if vtype == 4:
        return out + struct.pack("<I", value)
    if vtype == 9:
        etype, items = value
        return out + struct.pack("<IQ", etype, len(items)) + b"".join(struct.pack("<I", i) for i in items)
    return out + value  # raw bytes


def _raw(path: Path, *, magic: bytes = b"GGUF", version: int = 3, kvs: list[tuple[str, int, Any]] = (),
         tensors: list[tuple[str, tuple[int, ...], int, int]] = (), data: int = 0, n_tensors: int | None = None,
         n_kv: int | None = None, cut: int | None = None, align: int = 32) -> Path:
    head = magic + struct.pack("<IQQ", version, len(tensors) if n_tensors is None else n_tensors,
                               len(kvs) if n_kv is None else n_kv)
    head += b"".join(_kv(*kv) for kv in kvs)
    for name, dims, type_id, offset in tensors:
        head += _s(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        head += struct.pack("<IQ", type_id, offset)
    head += b"\0" * (-len(head) % align)
    raw = head + b"\0" * data
    path.write_bytes(raw if cut is None else raw[:cut])
    return path


HOSTILE: list[tuple[str, dict[str, Any], str]] = [
    ("magic", {"magic": b"GGML"}, "magic"),
    ("version 1", {"version": 1}, "version 1"),
    ("version 4", {"version": 4}, "version 4"),
    ("big endian", {"version": 3 << 24}, "big-endian"),
    ("tensor count", {"n_tensors": 2**40}, "tensors"),
    ("kv count", {"n_kv": 2**60}, "key/value"),
    ("truncated header", {"kvs": [("general.name", 8, "x" * 100)], "cut": 40}, "past the end"),
    ("string too long", {"kvs": [("general.name", 8, "x")], "cut": None, "data": 0}, ""),
    ("bad value type", {"kvs": [("k", 13, b"")]}, "value type 13"),
    ("bad array type", {"kvs": [("k", 9, (13, [1]))]}, "element type 13"),
    ("duplicate key", {"kvs": [("k", 4, 1), ("k", 4, 2)]}, "twice"),
    ("alignment", {"kvs": [("general.alignment", 4, 48)]}, "power of two"),
    ("unknown type", {"tensors": [("w", (32,), 99, 0)], "data": 256}, "type 99"),
    ("too many dims", {"tensors": [("w", (1, 1, 1, 1, 1), 0, 0)], "data": 64}, "5 dimensions"),
    ("zero dims", {"tensors": [("w", (), 0, 0)], "data": 64}, "0 dimensions"),
    ("negative dim", {"tensors": [("w", (2**64 - 4,), 0, 0)], "data": 64}, "dimension -4"),
    ("block multiple", {"tensors": [("w", (33,), 8, 0)], "data": 64}, "multiple of its block size 32"),
    ("misaligned", {"tensors": [("w", (4,), 0, 4)], "data": 64}, "alignment"),
    ("past end", {"tensors": [("w", (1024,), 0, 0)], "data": 64}, "runs past the end"),
    ("huge offset", {"tensors": [("w", (4,), 0, 2**63)], "data": 64}, "runs past the end"),
    ("overlap", {"tensors": [("a", (16,), 0, 0), ("b", (16,), 0, 32)], "data": 128}, "overlaps"),
    ("duplicate tensor", {"tensors": [("a", (8,), 0, 0), ("a", (8,), 0, 32)], "data": 64}, "twice"),
]


@pytest.mark.parametrize(("case", "kw", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_gguf_gives_a_clear_format_error(tmp_path: Path, case: str, kw: dict[str, Any],
                                                 message: str) -> None:
    f = tmp_path / "bad.gguf"
    if case == "string too long":  # a string whose length field claims 2**62 bytes
        f.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + _s("k") + struct.pack("<IQ", 8, 2**62))
        message = "limit"
    else:
        _raw(f, **kw)
    with pytest.raises(FormatError) as e:
        read_gguf(f)
    assert message in str(e.value)
    assert "bad.gguf" in str(e.value)


def test_tiny_or_empty_file(tmp_path: Path) -> None:
    f = tmp_path / "empty.gguf"
    f.write_bytes(b"")
    with pytest.raises(FormatError, match="magic"):
        memfit.load_model(str(f))


# --- catalog architectures through GGUF metadata + tensor infos (no file needed) ---------------

LLAMA_CPP_ARCH = {"llama": "llama", "qwen2": "qwen2", "qwen3_moe": "qwen3moe", "gemma2": "gemma2",
                  "gemma3_text": "gemma3", "mixtral": "llama", "phi3": "phi3", "deepseek_v2": "deepseek2",
                  "falcon_mamba": "mamba", "gpt_oss": "gpt-oss", "qwen2_moe": "qwen2moe"}
CATALOG = ["llama-3.1-8b", "qwen2-7b", "qwen3-30b-a3b", "gemma-2-9b", "gemma-3-1b-it", "mixtral-8x7b-v0.1",
           "phi-3.5-mini-instruct", "deepseek-v2-lite", "falcon-mamba-7b", "gpt-oss-20b", "qwen1.5-moe-a2.7b"]


def _metadata(spec: ModelSpec, arch: str) -> dict[str, Any]:
    """The architecture keys a llama.cpp converter writes for ``spec``."""
    a = arch + "."
    meta: dict[str, Any] = {"general.architecture": arch, a + "block_count": spec.num_layers,
                            a + "context_length": spec.max_position_embeddings,
                            a + "embedding_length": spec.hidden_size}
    attn = [layer.attention for layer in spec.layers]
    first = next((x for x in attn if x is not None), None)
    if first is not None:
        heads = [x.num_heads if x else 0 for x in attn]
        kv = [x.num_kv_heads if x else 0 for x in attn]
        meta[a + "attention.head_count"] = heads if len(set(heads)) > 1 else heads[0]
        meta[a + "attention.head_count_kv"] = kv if len(set(kv)) > 1 else kv[0]
        meta[a + "attention.key_length"] = first.head_dim
        meta[a + "attention.value_length"] = first.value_dim
        windows = [x.sliding_window for x in attn if x is not None and x.sliding_window]
        if windows:
            meta[a + "attention.sliding_window"] = windows[0]
        if first.kv_lora_rank:
            meta[a + "attention.kv_lora_rank"] = first.kv_lora_rank
            meta[a + "attention.q_lora_rank"] = first.q_lora_rank or 0
            meta[a + "rope.dimension_count"] = first.qk_rope_head_dim
    moe = next((layer.moe for layer in spec.layers if layer.moe), None)
    if moe is not None:
        meta[a + "expert_count"] = moe.num_experts
        meta[a + "expert_used_count"] = moe.top_k
        if moe.num_shared_experts:
            meta[a + "expert_shared_count"] = moe.num_shared_experts
    ssm = next((layer.ssm for layer in spec.layers if layer.ssm), None)
    if ssm is not None:
        meta.update({a + "ssm.inner_size": ssm.d_inner, a + "ssm.state_size": ssm.d_state,
                     a + "ssm.conv_kernel": ssm.d_conv, a + "ssm.time_step_rank": ssm.dt_rank or ssm.num_heads})
    return meta


@pytest.mark.parametrize("model", CATALOG)
def test_catalog_architectures_round_trip_through_gguf(model: str) -> None:
    from _checkpoint_files import gguf_name
    from memfit.inventory import inventory
    from memfit.sources.gguf_reader import GGUFTensor, spec_from_gguf

    spec = memfit.load_model(model)
    tensors = [GGUFTensor(gguf_name(t), tuple(reversed(t.shape)), 1, "F16", 0, 2 * t.numel)
               for t in inventory(spec) if t.group != "vision"]
    assert len({t.name for t in tensors}) == len(tensors)
    got = spec_from_gguf(_metadata(spec, LLAMA_CPP_ARCH[spec.family]), tensors, model)
    assert got is not None
    assert memfit.count_parameters(got).total == sum(t.numel for t in tensors)
    assert memfit.count_parameters(got).active == memfit.count_parameters(spec).active - (
        spec.vision.parameters if spec.vision else 0)

    def attn(s: ModelSpec) -> list[Any]:
        return [(x.num_heads, x.num_kv_heads, x.head_dim, x.value_dim, x.sliding_window, x.kind) if x else None
                for x in (layer.attention for layer in s.layers)]

    assert attn(got) == attn(spec)
    assert [layer.mixer for layer in got.layers] == [layer.mixer for layer in spec.layers]
    assert [(m.num_experts, m.top_k, m.expert_intermediate_size, m.shared_size) if m else None
            for m in (layer.moe for layer in got.layers)] == \
        [(m.num_experts, m.top_k, m.expert_intermediate_size, m.shared_size) if m else None
         for m in (layer.moe for layer in spec.layers)]
    assert got.tie_word_embeddings == spec.tie_word_embeddings


@pytest.mark.parametrize("fmt", ["q4_k_m", "q8_0", "q6_k"])
def test_gguf_mixture_bytes_equal_the_description(tmp_path: Path, fmt: str) -> None:
    from _checkpoint_files import write_sparse_gguf
    from memfit.memory.weights import weights_bytes

    attn = AttentionSpec(num_heads=4, num_kv_heads=2, head_dim=64)
    spec = ModelSpec(name="k", family="llama", hidden_size=256, vocab_size=512,
                     layers=(LayerSpec("attention", attn, mlp=MLPSpec(768)),) * 4, max_position_embeddings=4096)
    f = tmp_path / f"k-{fmt}.gguf"
    size = write_sparse_gguf(f, spec, fmt, tokens=512)
    assert f.stat().st_size == size
    got = memfit.load_model(str(f))
    assert got.stored is not None
    assert got.stored.logical_parameters == memfit.count_parameters(spec).total
    assert got.stored.stored_bytes == weights_bytes(spec, fmt)  # llama-quantize's per-tensor types, exactly
    assert got.stored.quantization == f"gguf:{fmt.upper()}"
    assert got.stored.header_bytes_read < 16_384  # header only (incl. a 512-token vocabulary)
