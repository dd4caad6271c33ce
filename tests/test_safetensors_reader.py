"""safetensors headers: exact counts and bytes, quantized layouts, hostile headers."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path
from typing import Any

import pytest

import memfit
from _checkpoint_files import (
    TINY_CONFIG,
    TINY_PARAMS,
    hf_llama_shapes,
    raw_safetensors,
    save_spec,
    save_torch,
    tiny_spec,
    write_config,
)
from memfit.errors import FormatError
from memfit.inventory import inventory
from memfit.sources.safetensors_reader import load_safetensors, read_header

pytest.importorskip("safetensors")
pytest.importorskip("torch")

# The 7 matrices of one tiny block as (in, out), PyTorch weight shape (out, in)
BLOCK_LINEARS = [(64, 64), (64, 32), (64, 32), (64, 64), (64, 96), (64, 96), (96, 64)]
PROJ = ["self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj", "mlp.gate_proj",
        "mlp.up_proj", "mlp.down_proj"]
UNQUANTIZED = 128 * 64 * 2 + 64 + 2 * 2 * 64  # embed + lm_head + final norm + 4 layer norms = 16,704


def _unquantized_tensors(dtype: str = "float16") -> dict[str, tuple[tuple[int, ...], str]]:
    out: dict[str, tuple[tuple[int, ...], str]] = {
        "model.embed_tokens.weight": ((128, 64), dtype), "lm_head.weight": ((128, 64), dtype),
        "model.norm.weight": ((64,), dtype)}
    for i in range(2):
        for n in ("input_layernorm", "post_attention_layernorm"):
            out[f"model.layers.{i}.{n}.weight"] = ((64,), dtype)
    return out


def test_single_file_from_the_description_is_exact(tmp_path: Path) -> None:
    f = tmp_path / "tiny.safetensors"
    save_spec(f, tiny_spec())
    spec = memfit.load_model(str(f))
    assert spec.stored is not None
    s = spec.stored
    assert s.container == "safetensors"
    assert s.logical_parameters == TINY_PARAMS == memfit.count_parameters(tiny_spec()).total
    assert s.stored_bytes == s.loaded_bytes == TINY_PARAMS * 2
    assert s.bytes_by_dtype == (("BF16", TINY_PARAMS, TINY_PARAMS * 2),)
    assert s.tensors == len(inventory(tiny_spec())) == 2 * 9 + 3
    assert s.quantization is None
    assert s.files == ("tiny.safetensors",)
    # only the header was read: 8 bytes + the JSON, far less than the 156 kB file
    header_len = struct.unpack("<Q", f.read_bytes()[:8])[0]
    assert s.header_bytes_read == 8 + header_len
    assert memfit.estimate(str(f)).parameters.total == TINY_PARAMS


def test_only_header_bytes_are_read_from_a_large_file(tmp_path: Path) -> None:
    f = tmp_path / "big.safetensors"
    n = 200_000_000  # 400 MB of F16 as a sparse file: never read
    header = json.dumps({"w": {"dtype": "F16", "shape": [n], "data_offsets": [0, 2 * n]}}).encode()
    with f.open("wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        fh.truncate(8 + len(header) + 2 * n)
    h = read_header(f)
    assert h.bytes_read == 8 + len(header)
    assert h.tensors[0].numel == n


def test_sharded_folder_with_index_and_config(tmp_path: Path) -> None:
    shapes = hf_llama_shapes()
    names = sorted(shapes)
    first, second = names[: len(names) // 2], names[len(names) // 2:]
    save_torch(tmp_path / "model-00001-of-00002.safetensors", {n: (shapes[n], "bfloat16") for n in first})
    save_torch(tmp_path / "model-00002-of-00002.safetensors", {n: (shapes[n], "bfloat16") for n in second})
    weight_map = {n: "model-00001-of-00002.safetensors" for n in first}
    weight_map.update({n: "model-00002-of-00002.safetensors" for n in second})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    write_config(tmp_path, TINY_CONFIG)
    spec = memfit.load_model(str(tmp_path))
    assert spec.family == "llama" and spec.num_layers == 2
    assert spec.stored is not None
    assert spec.stored.files == ("model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    assert spec.stored.logical_parameters == TINY_PARAMS
    assert memfit.count_parameters(spec).total == TINY_PARAMS
    assert spec.stored.stored_bytes == 2 * TINY_PARAMS
    # the index file itself names the same checkpoint (it used to be read as a config.json: "no 'model_type'")
    by_index = memfit.load_model(str(tmp_path / "model.safetensors.index.json"))
    assert by_index.stored is not None and by_index.stored.files == spec.stored.files
    assert memfit.count_parameters(by_index).total == TINY_PARAMS


def test_folder_without_config_is_described_from_llama_names(tmp_path: Path) -> None:
    save_torch(tmp_path / "model.safetensors", {n: (s, "float16") for n, s in hf_llama_shapes().items()})
    spec = memfit.load_model(str(tmp_path))
    assert not spec.is_bare
    assert (spec.hidden_size, spec.vocab_size, spec.num_layers) == (64, 128, 2)
    a = spec.layers[0].attention
    assert a is not None and a.num_heads * a.head_dim == 64 and a.num_kv_heads * a.head_dim == 32
    assert spec.layers[0].mlp is not None and spec.layers[0].mlp.intermediate_size == 96
    assert memfit.count_parameters(spec).total == TINY_PARAMS
    assert spec.dtype == "float16"
    assert memfit.estimate(spec, dtype="float32").total_bytes == TINY_PARAMS * 4


def test_unknown_names_without_config_give_a_bare_count_with_stored(tmp_path: Path) -> None:
    f = tmp_path / "x.safetensors"
    save_torch(f, {"encoder.a": ((3, 5), "float32"), "encoder.b": ((7,), "float32")})
    spec = memfit.load_model(str(f))
    assert spec.is_bare and spec.parameters_override == 22
    assert spec.stored is not None and spec.stored.stored_bytes == 88


def _gptq(tmp_path: Path, group: int, bits: int, awq: bool) -> Path:
    tensors = _unquantized_tensors()
    per = 32 // bits
    for i in range(2):
        for name, (fin, fout) in zip(PROJ, BLOCK_LINEARS, strict=True):
            p = f"model.layers.{i}.{name}"
            groups = math.ceil(fin / group)
            if awq:
                tensors[p + ".qweight"] = ((fin, fout // per), "int32")
            else:
                tensors[p + ".qweight"] = ((fin // per, fout), "int32")
                tensors[p + ".g_idx"] = ((fin,), "int32")
            tensors[p + ".qzeros"] = ((groups, fout // per), "int32")
            tensors[p + ".scales"] = ((groups, fout), "float16")
    save_torch(tmp_path / "model.safetensors", tensors)
    return tmp_path


@pytest.mark.parametrize("awq", [False, True])
def test_gptq_and_awq_logical_count_is_unpacked(tmp_path: Path, awq: bool) -> None:
    folder = _gptq(tmp_path, group=32, bits=4, awq=awq)
    cfg = dict(TINY_CONFIG, torch_dtype="float16",
               quantization_config={"quant_method": "awq" if awq else "gptq", "bits": 4, "group_size": 32})
    write_config(folder, cfg)
    spec = memfit.load_model(str(folder))
    s = spec.stored
    assert s is not None
    assert s.logical_parameters == TINY_PARAMS
    # stored: 4-bit codes + per-group fp16 scale and int32-packed zeros (+ int32 g_idx for GPTQ)
    expected = UNQUANTIZED * 2
    for fin, fout in BLOCK_LINEARS:
        groups = math.ceil(fin / 32)
        expected += 2 * (fin * fout // 2 + groups * fout * 2 + groups * fout // 8 * 4 + (0 if awq else fin * 4))
    assert s.stored_bytes == expected
    assert s.quantization == ("awq-4bit" if awq else "gptq-4bit")
    assert dict((d, e) for d, e, _ in s.bytes_by_dtype)["I32"] > 0


@pytest.mark.parametrize("awq", [False, True])
def test_gptq_awq_bits_detected_from_shapes_without_config(tmp_path: Path, awq: bool) -> None:
    folder = _gptq(tmp_path, group=32, bits=8, awq=awq)
    spec = memfit.load_model(str(folder))
    assert spec.stored is not None
    assert spec.stored.logical_parameters == TINY_PARAMS
    assert spec.stored.quantization == ("awq-8bit" if awq else "gptq-8bit")
    assert spec.is_bare and spec.parameters_override == TINY_PARAMS


def test_fp8_block_scales_are_not_parameters(tmp_path: Path) -> None:
    tensors = _unquantized_tensors("bfloat16")
    scale_elems = 0
    for i in range(2):
        for name, (fin, fout) in zip(PROJ, BLOCK_LINEARS, strict=True):
            p = f"model.layers.{i}.{name}"
            tensors[p + ".weight"] = ((fout, fin), "float8_e4m3fn")
            tensors[p + ".weight_scale_inv"] = ((math.ceil(fout / 128), math.ceil(fin / 128)), "float32")
            scale_elems += math.ceil(fout / 128) * math.ceil(fin / 128)
    save_torch(tmp_path / "model.safetensors", tensors)
    write_config(tmp_path, dict(TINY_CONFIG, quantization_config={"quant_method": "fp8", "fmt": "e4m3",
                                                                  "weight_block_size": [128, 128]}))
    s = memfit.load_model(str(tmp_path)).stored
    assert s is not None
    assert s.logical_parameters == TINY_PARAMS
    assert scale_elems == 14  # every tiny matrix fits in one 128×128 block
    assert s.stored_bytes == UNQUANTIZED * 2 + (TINY_PARAMS - UNQUANTIZED) + 14 * 4
    assert s.quantization == "fp8-block"
    assert ("F8_E4M3", TINY_PARAMS - UNQUANTIZED, TINY_PARAMS - UNQUANTIZED) in s.bytes_by_dtype


def test_bitsandbytes_nf4_layout(tmp_path: Path) -> None:
    tensors = _unquantized_tensors()
    blob = 0
    for i in range(2):
        for name, (fin, fout) in zip(PROJ, BLOCK_LINEARS, strict=True):
            p = f"model.layers.{i}.{name}.weight"
            n = fin * fout
            tensors[p] = ((n // 2, 1), "uint8")
            tensors[p + ".absmax"] = ((n // 64,), "uint8")
            tensors[p + ".quant_map"] = ((16,), "float32")
            tensors[p + ".nested_absmax"] = ((max(1, n // 64 // 256),), "float32")
            tensors[p + ".nested_quant_map"] = ((256,), "float32")
            tensors[p + ".quant_state.bitsandbytes__nf4"] = ((97,), "uint8")
            blob += 97
    save_torch(tmp_path / "model.safetensors", tensors)
    write_config(tmp_path, dict(TINY_CONFIG, torch_dtype="float16"))
    s = memfit.load_model(str(tmp_path)).stored
    assert s is not None
    assert s.logical_parameters == TINY_PARAMS
    assert s.quantization == "bitsandbytes-nf4"
    assert s.loaded_bytes == s.stored_bytes - blob  # the JSON quant_state blobs become host objects
    assert blob == 14 * 97


def test_bitsandbytes_int8_layout(tmp_path: Path) -> None:
    tensors = _unquantized_tensors()
    for i in range(2):
        for name, (fin, fout) in zip(PROJ, BLOCK_LINEARS, strict=True):
            p = f"model.layers.{i}.{name}"
            tensors[p + ".weight"] = ((fout, fin), "int8")
            tensors[p + ".SCB"] = ((fout,), "float32")
            tensors[p + ".weight_format"] = ((), "uint8")
    save_torch(tmp_path / "model.safetensors", tensors)
    s = memfit.load_model(str(tmp_path)).stored
    assert s is not None and s.logical_parameters == TINY_PARAMS
    assert s.quantization == "bitsandbytes-int8"


def test_mxfp4_expert_blocks(tmp_path: Path) -> None:
    # gpt-oss style: 4 experts, hidden 64, expert intermediate 32: gate_up (4, 64, 64) and down (4, 64, 32)
    tensors = {"model.embed_tokens.weight": ((128, 64), "bfloat16")}
    for i in range(2):
        p = f"model.layers.{i}.mlp.experts."
        tensors[p + "gate_up_proj_blocks"] = ((4, 64, 2, 16), "uint8")  # 64 rows × 64 inputs / 32 per block
        tensors[p + "gate_up_proj_scales"] = ((4, 64, 2), "uint8")
        tensors[p + "gate_up_proj_bias"] = ((4, 64), "bfloat16")
        tensors[p + "down_proj_blocks"] = ((4, 64, 1, 16), "uint8")
        tensors[p + "down_proj_scales"] = ((4, 64, 1), "uint8")
        tensors[p + "down_proj_bias"] = ((4, 64), "bfloat16")
    f = tmp_path / "experts.safetensors"
    save_torch(f, tensors)
    s = memfit.load_model(str(f)).stored
    assert s is not None
    expert_weights = 2 * (4 * 64 * 64 + 4 * 64 * 32)
    assert s.logical_parameters == 128 * 64 + expert_weights + 2 * 2 * 4 * 64
    assert s.quantization == "mxfp4"
    # 4.25 bits per expert weight: 17 bytes per 32 values
    assert s.stored_bytes == 128 * 64 * 2 + expert_weights * 17 // 32 + 2 * 2 * 4 * 64 * 2


# --- hostile headers --------------------------------------------------------------------------

def _ok(**tensors: Any) -> dict[str, Any]:
    return dict(tensors)


HOSTILE: list[tuple[str, bytes | dict[str, Any], int, int | None, str]] = [
    ("empty", b"", 0, 0, "header length"),
    ("length too large", b"{}", 0, 200_000_000, "exceeds"),
    ("length past end", b"{}", 0, 5000, "past the end"),
    ("not json", b"{not json", 0, None, "not valid JSON"),
    ("not utf8", b"{\"\xff\": 1}", 0, None, "UTF-8"),
    ("array", b"[1, 2]", 0, None, "start with"),
    ("duplicate", b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
     b'"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}', 8, None, "twice"),
    ("bad dtype", {"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, 16, None, "dtype 'F128'"),
    ("negative dim", {"a": {"dtype": "F32", "shape": [-1, 4], "data_offsets": [0, 16]}}, 16, None, "≥ 0"),
    ("float dim", {"a": {"dtype": "F32", "shape": [1.5], "data_offsets": [0, 4]}}, 4, None, "dimension 1.5"),
    ("shape not list", {"a": {"dtype": "F32", "shape": 4, "data_offsets": [0, 16]}}, 16, None, "shape 4"),
    ("absurd shape", {"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 16]}}, 16, None,
     "more elements"),
    ("size mismatch", {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 16]}}, 16, None, "need 12 bytes"),
    ("out of range", {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 8, None, "outside"),
    ("negative offset", {"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 0]}}, 8, None, "outside"),
    ("overlap", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, 12, None, "overlap"),
    ("gap", {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
             "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, 12, None, "no gaps"),
    ("truncated data", {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 20, None, "trailing"),
    ("bad offsets", {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}}, 4, None, "data_offsets"),
    ("tensor not object", {"a": [1, 2]}, 0, None, "must be an object"),
    ("bad metadata", {"__metadata__": {"format": 1}}, 0, None, "__metadata__"),
    ("deep nesting", b"{\"a\": " + b"[" * 100_000 + b"]" * 100_000 + b"}", 0, None, "nested too deeply"),
]


@pytest.mark.parametrize(("case", "header", "data", "length", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_headers_give_a_clear_format_error(tmp_path: Path, case: str, header: bytes | dict[str, Any],
                                                   data: int, length: int | None, message: str) -> None:
    f = raw_safetensors(tmp_path / "bad.safetensors", header, data, length)
    if case == "empty":
        f.write_bytes(b"\x01\x02")
    with pytest.raises(FormatError) as e:
        memfit.load_model(str(f))
    assert message in str(e.value)
    assert "bad.safetensors" in str(e.value)


def test_too_many_tensors_is_rejected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import memfit.sources.safetensors_header as r

    monkeypatch.setattr(r, "MAX_TENSORS", 3)
    header = {f"t{i}": {"dtype": "U8", "shape": [1], "data_offsets": [i, i + 1]} for i in range(4)}
    f = raw_safetensors(tmp_path / "many.safetensors", header, 4)
    with pytest.raises(FormatError, match="4 tensors"):
        read_header(f)


def test_duplicate_tensor_across_shards(tmp_path: Path) -> None:
    save_torch(tmp_path / "a.safetensors", {"w": ((2,), "float32")})
    save_torch(tmp_path / "b.safetensors", {"w": ((2,), "float32")})
    with pytest.raises(FormatError, match="in both"):
        load_safetensors(tmp_path)


@pytest.mark.parametrize("shard", ["../evil.safetensors", "sub/x.safetensors", "x.bin"])
def test_index_may_only_name_plain_shards(tmp_path: Path, shard: str) -> None:
    save_torch(tmp_path / "model.safetensors", {"w": ((2,), "float32")})
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {"w": shard}}))
    with pytest.raises(FormatError, match="plain"):
        load_safetensors(tmp_path)


def test_index_naming_a_missing_shard(tmp_path: Path) -> None:
    save_torch(tmp_path / "model-1.safetensors", {"w": ((2,), "float32")})
    (tmp_path / "model.safetensors.index.json").write_text(
        json.dumps({"weight_map": {"w": "model-1.safetensors", "v": "model-2.safetensors"}}))
    with pytest.raises(FormatError, match=r"model-2\.safetensors"):
        load_safetensors(tmp_path)


def test_cli_estimate_reads_a_safetensors_file(tmp_path: Path) -> None:
    import subprocess
    import sys

    f = tmp_path / "tiny.safetensors"
    save_spec(f, tiny_spec())
    result = subprocess.run([sys.executable, "-m", "memfit", "estimate", str(f), "--json"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["parameters"] == TINY_PARAMS
    bad = raw_safetensors(tmp_path / "bad.safetensors", b"{}", 0, 999)
    result = subprocess.run([sys.executable, "-m", "memfit", "estimate", str(bad)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 2
    assert "past the end" in result.stderr
    assert "Traceback" not in result.stderr


def test_compressed_tensors_pack_quantized(tmp_path: Path) -> None:
    tensors = _unquantized_tensors("bfloat16")
    for i in range(2):
        for name, (fin, fout) in zip(PROJ, BLOCK_LINEARS, strict=True):
            p = f"model.layers.{i}.{name}"
            tensors[p + ".weight_packed"] = ((fout, fin // 8), "int32")  # eight 4-bit values per int32
            tensors[p + ".weight_scale"] = ((fout, fin // 32), "bfloat16")
            tensors[p + ".weight_shape"] = ((2,), "int64")
    save_torch(tmp_path / "model.safetensors", tensors)
    write_config(tmp_path, dict(TINY_CONFIG, quantization_config={
        "quant_method": "compressed-tensors", "format": "pack-quantized",
        "config_groups": {"group_0": {"weights": {"num_bits": 4, "group_size": 32}}}}))
    s = memfit.load_model(str(tmp_path)).stored
    assert s is not None
    assert s.logical_parameters == TINY_PARAMS
    assert s.quantization == "compressed-tensors-4bit"
    quantized = TINY_PARAMS - UNQUANTIZED
    assert s.stored_bytes == UNQUANTIZED * 2 + quantized // 2 + quantized // 32 * 2 + 14 * 16


def test_nvfp4_modelopt_layout(tmp_path: Path) -> None:
    tensors = _unquantized_tensors("bfloat16")
    for i in range(2):
        for name, (fin, fout) in zip(PROJ, BLOCK_LINEARS, strict=True):
            p = f"model.layers.{i}.{name}"
            tensors[p + ".weight"] = ((fout, fin // 2), "uint8")
            tensors[p + ".weight_scale"] = ((fout, fin // 16), "float8_e4m3fn")
            tensors[p + ".weight_scale_2"] = ((), "float32")
            tensors[p + ".input_scale"] = ((), "float32")
    save_torch(tmp_path / "model.safetensors", tensors)
    s = memfit.load_model(str(tmp_path)).stored
    assert s is not None
    assert s.logical_parameters == TINY_PARAMS
    assert s.quantization == "nvfp4"
    quantized = TINY_PARAMS - UNQUANTIZED
    assert s.stored_bytes == UNQUANTIZED * 2 + quantized // 2 + quantized // 16 + 14 * 8  # 4.5 bits + 2 fp32


def test_unsupported_family_config_falls_back_but_a_broken_config_is_reported(tmp_path: Path) -> None:
    save_torch(tmp_path / "model.safetensors", {n: (s, "float16") for n, s in hf_llama_shapes().items()})
    write_config(tmp_path, {"model_type": "no-such-family", "hidden_size": 64})
    spec = memfit.load_model(str(tmp_path))
    assert spec.stored is not None and memfit.count_parameters(spec).total == TINY_PARAMS
    write_config(tmp_path, dict(TINY_CONFIG, hidden_size="sixty-four"))
    with pytest.raises(memfit.ConfigError, match="hidden_size"):
        memfit.load_model(str(tmp_path))
