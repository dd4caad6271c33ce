"""GGUF file size on disk: real files written by the gguf package, compared with os.path.getsize."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import memfit
from _checkpoint_files import tiny_spec, write_gguf
from memfit.inventory import inventory
from memfit.sources.gguf_size import file_size, kv_bytes, pad, tensor_info_bytes, value_bytes

gguf = pytest.importorskip("gguf")
np = pytest.importorskip("numpy")

VOCAB = [f"tok{i}" for i in range(300)] + ["é", "日本", "\u2581the"]  # multi-byte UTF-8 strings too
MERGES = [f"t o{i}" for i in range(150)]
TEMPLATE = "{% for m in messages %}{{ m['content'] }}{% endfor %}"


def _write(path: Path, alignment: int | None) -> list[tuple[str, str, Any]]:
    """A GGUF with a full tokenizer, written by gguf.GGUFWriter; returns the key/values memfit's formula
    is given (the writer's own general.architecture included)."""
    w = gguf.GGUFWriter(path, "llama")
    kv: list[tuple[str, str, Any]] = [("general.architecture", "str", "llama")]
    if alignment is not None:
        w.add_custom_alignment(alignment)
        kv.append(("general.alignment", "u32", alignment))
    w.add_block_count(2)
    w.add_name("tiny test model")
    w.add_tokenizer_model("gpt2")
    w.add_token_list(VOCAB)
    w.add_token_scores([0.0] * len(VOCAB))
    w.add_token_types([1] * len(VOCAB))
    w.add_token_merges(MERGES)
    w.add_bos_token_id(1)
    w.add_chat_template(TEMPLATE)
    kv += [("llama.block_count", "u32", 2), ("general.name", "str", "tiny test model"),
           ("tokenizer.ggml.model", "str", "gpt2"), ("tokenizer.ggml.tokens", "array:str", VOCAB),
           ("tokenizer.ggml.scores", "array:f32", [0.0] * len(VOCAB)),
           ("tokenizer.ggml.token_type", "array:i32", [1] * len(VOCAB)),
           ("tokenizer.ggml.merges", "array:str", MERGES), ("tokenizer.ggml.bos_token_id", "u32", 1),
           ("tokenizer.chat_template", "str", TEMPLATE)]
    w.add_tensor("token_embd.weight", np.zeros((7, 64), dtype=np.float16))  # 896 bytes: 0 mod 32, 0 mod 64
    w.add_tensor("output_norm.weight", np.zeros(13, dtype=np.float32))  # 52 bytes: padded
    w.add_tensor("blk.0.attn_q.weight", np.zeros((3, 18), dtype=np.uint8), raw_dtype=gguf.GGMLQuantizationType.Q4_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return kv


TENSORS = [("token_embd.weight", 2, 896), ("output_norm.weight", 1, 52), ("blk.0.attn_q.weight", 2, 54)]


def test_hand_sizes() -> None:
    assert value_bytes("str", "é") == 8 + 2  # UTF-8 bytes, not characters
    assert value_bytes("array:str", ["a", "bc"]) == 4 + 8 + 9 + 10
    assert value_bytes("array:f32", [0.0] * 5) == 12 + 20
    assert kv_bytes("general.name", "str", "x") == 8 + 12 + 4 + 9
    assert tensor_info_bytes("output.weight", 2) == 8 + 13 + 4 + 16 + 4 + 8
    assert pad(52, 32) == 64 and pad(64, 32) == 64 and pad(0, 32) == 0


@pytest.mark.parametrize("alignment", [None, 64, 256])
def test_formula_equals_the_written_file_to_the_byte(tmp_path: Path, alignment: int | None) -> None:
    f = tmp_path / "tok.gguf"
    kv = _write(f, alignment)
    a = alignment or 32
    size = file_size(kv, TENSORS, a)
    assert size.total == os.path.getsize(f)
    assert size.data == pad(896, a) + pad(52, a) + pad(54, a)
    # the reader's figure for the same file (its own header, each tensor padded)
    stored = memfit.load_model(str(f)).stored
    assert stored is not None and stored.file_bytes == os.path.getsize(f)


def test_split_file_sums_its_parts(tmp_path: Path) -> None:
    write_gguf(tmp_path / "m.gguf", tiny_spec(), split_max_tensors=8)
    parts = sorted(tmp_path.glob("m-*-of-*.gguf"))
    assert len(parts) == 3
    stored = memfit.load_model(str(parts[0])).stored
    assert stored is not None and stored.file_bytes == sum(os.path.getsize(p) for p in parts)


def test_llamacpp_json_reports_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from _cli import run

    f = tmp_path / "tok.gguf"
    write_gguf(f, tiny_spec(), {"attn_q": "Q8_0"})
    code, out, err = run(["estimate", str(f), "--mode", "inference", "--runtime", "llamacpp", "--json"], capsys)
    assert code == 0, err
    d = json.loads(out)["details"]
    assert d["gguf_file_bytes"] == os.path.getsize(f)
    assert d["gguf_file_not_counted"] == []
    stored = memfit.load_model(str(f)).stored
    assert stored is not None and d["model_buffer_bytes"] == stored.stored_bytes  # loaded as stored (Q8_0 + F16)
    code, out, err = run(["estimate", str(f), "--mode", "inference", "--runtime", "llamacpp"], capsys)
    assert code == 0 and f"GGUF file on disk: {os.path.getsize(f):,} bytes" in out


def test_priced_format_counts_tensor_infos_and_data_and_names_the_rest() -> None:
    from memfit.formats import get_format, ggml_types, gguf_tensor_types

    spec = tiny_spec()
    est = memfit.estimate(spec, memfit.Workload(mode="inference", runtime="llamacpp", dtype="q8_0"))
    d = est.details
    rows = list(gguf_tensor_types(spec, get_format("q8_0")))
    types = ggml_types()
    # by hand: each tensor info (blk.N.kind.weight names), 24-byte preamble, then the padded data
    names = [f"blk.{t.layer}.{t.kind}.{'bias' if t.is_bias else 'weight'}" if t.layer is not None
             else f"{t.kind}.weight" for t, _ in rows]
    header = 24 + sum(8 + len(n) + 4 + 8 * len(t.shape) + 12 for n, (t, _) in zip(names, rows, strict=True))
    data = sum(-(-types[ty].tensor_bytes(t.shape) // 32) * 32 for t, ty in rows)
    assert len(rows) == len(inventory(spec))
    assert d["gguf_header_bytes"] == -(-header // 32) * 32
    assert d["gguf_tensor_data_bytes"] == data
    assert d["gguf_file_bytes"] == d["gguf_header_bytes"] + data
    assert "tokenizer" in d["gguf_file_not_counted"][0]
