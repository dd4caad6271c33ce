"""Inputs that must be refused, not read (issue 15): a shard of a multi-file checkpoint, more routed experts
than exist, a named pipe or device as MODEL (no hang), a config nested past any real one, and a GGUF file's
own type named in the JSON."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

import memfit
from _checkpoint_files import raw_safetensors, tiny_spec, write_gguf
from _cli import run
from memfit.errors import ConfigError


def test_one_shard_of_a_sharded_checkpoint_names_the_index(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    for i in (1, 2):
        raw_safetensors(tmp_path / f"model-0000{i}-of-00002.safetensors",
                        {"x.weight": {"dtype": "BF16", "shape": [4, 4], "data_offsets": [0, 32]}}, 32)
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {}}))
    code, _, err = run(["estimate", str(tmp_path / "model-00001-of-00002.safetensors")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "shard 1 of 2" in err and "model.safetensors.index.json" in err


def test_more_experts_per_token_than_experts() -> None:
    cfg = json.loads((Path(memfit.__file__).parent / "data" / "models" / "qwen1.5-moe-a2.7b.json").read_text())
    cfg["num_experts_per_tok"] = cfg["num_experts"] + 1
    with pytest.raises(ConfigError, match="num_experts_per_tok = 61 of 60 experts"):
        memfit.estimate(cfg)


@pytest.mark.skipif(sys.platform == "win32", reason="named pipes are a POSIX test")
def test_a_named_pipe_as_model_is_refused_without_opening_it(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    for name in ("config.json", "model.gguf", "weights.safetensors"):
        fifo = tmp_path / name
        os.mkfifo(fifo)  # opening it for reading would block until a writer comes: the test would hang
        code, _, err = run(["estimate", str(fifo)], capsys)
        assert code == 2 and "not a regular file" in err and err.count("\n") == 1
    code, _, err = run(["estimate", "/dev/zero"], capsys)
    assert code == 2 and "not a regular file" in err


def test_a_symlink_loop_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    code, _, err = run(["estimate", str(tmp_path / "a")], capsys)
    assert code == 2 and err.count("\n") == 1 and "internal error" not in err


def test_a_deeply_nested_config_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    p = tmp_path / "config.json"
    p.write_text('{"a": ' * 100_000 + "1" + "}" * 100_000)
    code, _, err = run(["estimate", str(p)], capsys)
    assert code == 2 and "nests JSON too deeply" in err and "internal error" not in err


def test_a_gguf_file_is_labelled_with_its_own_type(tmp_path: Path) -> None:
    linear = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
    p = tmp_path / "m.gguf"
    write_gguf(p, tiny_spec(), dict.fromkeys(linear, "Q4_0"), extra_kv={"general.file_type": 2})
    doc = memfit.estimate(str(p)).to_json()
    assert doc["dtype"] == "gguf:Q4_0"  # before: "float16", the config's dtype
    run_ = memfit.estimate(str(p), mode="inference", runtime="llamacpp")
    assert run_.dtype == "q4_0"  # llama.cpp runs the file's own type
    with pytest.raises(memfit.MemfitError, match="--runtime llamacpp"):
        memfit.estimate(str(p), mode="inference")  # transformers would dequantize it
