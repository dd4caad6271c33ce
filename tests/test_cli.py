"""The command line as a user meets it: exit codes, one-line errors, the JSON contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from _cli import run


def test_estimate_json_contract(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["estimate", "llama-3.1-8b", "--json"], capsys)
    assert code == 0
    doc = json.loads(out)
    assert doc["parameters"] == 8_030_261_248
    assert isinstance(doc["total_bytes"], int)
    assert doc["components"]["weights"] == 8_030_261_248 * 2  # config dtype bfloat16
    assert doc["total_bytes"] == sum(doc["components"].values())
    assert doc["weights_by_dtype"]["float32"] == 8_030_261_248 * 4


def test_estimate_table_shows_both_units(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["estimate", "llama-3.1-8b"], capsys)
    assert code == 0
    assert "8,030,261,248" in out
    assert "16.06 GB" in out and "14.96 GiB" in out


def test_bare_count_with_dtype_long_form(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["estimate", "7B", "--dtype", "float16", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["total_bytes"] == 14_000_000_000


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["estimate", "llama-3.1-8x"], "did you mean 'llama-3.1-8b'"),
        (["estimate", "0"], "at least 1"),
        (["estimate", "7B", "--dtype", "fp7"], "fp7"),
        (["estimate", "llama-3.1-8b", "--batch", "0"], "batch"),
        (["estimate", "1e30"], "100T"),
    ],
)
def test_errors_are_one_line_exit_2(args: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(args, capsys)
    assert code == 2
    assert needle in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) <= 3


def test_bad_config_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    code, _, err = run(["estimate", str(bad_json)], capsys)
    assert code == 2 and "not valid JSON" in err

    no_type = tmp_path / "notype.json"
    no_type.write_text(json.dumps({"hidden_size": 10}))
    code, _, err = run(["estimate", str(no_type)], capsys)
    assert code == 2 and "model_type" in err

    unknown = tmp_path / "unknown.json"
    unknown.write_text(json.dumps({"model_type": "no_such_family"}))
    code, _, err = run(["estimate", str(unknown)], capsys)
    assert code == 2 and "no_such_family" in err and "llama" in err

    negative = tmp_path / "neg.json"
    cfg = json.loads((Path(__file__).parent.parent / "src/memfit/data/models/llama-3.1-8b.json").read_text())
    cfg["hidden_size"] = -4096
    negative.write_text(json.dumps(cfg))
    code, _, err = run(["estimate", str(negative)], capsys)
    assert code == 2 and "hidden_size" in err and "-4096" in err

    missing = tmp_path / "nothere" / "config.json"
    code, _, err = run(["estimate", str(missing)], capsys)
    assert code == 2 and "does not exist" in err


def test_folder_with_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = Path(__file__).parent.parent / "src/memfit/data/models/llama-3.2-1b.json"
    (tmp_path / "config.json").write_text(src.read_text())
    code, out, _ = run(["estimate", str(tmp_path), "--json"], capsys)
    assert code == 0
    assert json.loads(out)["parameters"] == 1_235_814_400


def test_models_listing(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["models", "--json"], capsys)
    assert code == 0
    rows = json.loads(out)
    ids = {r["id"] for r in rows}
    assert len(rows) >= 62
    assert {"llama-3.1-8b", "qwen2.5-7b", "mixtral-8x7b-v0.1"} <= ids
    assert all(r["source"] for r in rows)


@pytest.mark.parametrize("width", ["80", "60"])
def test_models_table_never_cuts_an_id(width: str, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # the id is what a user types next; an 80-column terminal used to show 'deepseek-moe-16b-…'
    monkeypatch.setenv("COLUMNS", width)
    code, out, _ = run(["models"], capsys)
    assert code == 0
    for model_id in ("deepseek-moe-16b-base", "ministral-8b-instruct-2410", "mamba-codestral-7b-v0.1",
                     "tinyllama-1.1b-chat-v1.0", "stablelm-2-zephyr-1.6b"):
        assert f" {model_id} " in out


def test_catalog_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["estimate", "mixtral-8x7b", "--json"], capsys)
    assert code == 0
    assert json.loads(out)["parameters"] == 46_702_792_704


def test_python_dash_m() -> None:
    r = subprocess.run([sys.executable, "-m", "memfit", "estimate", "7B", "--dtype", "fp16", "--json"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["total_bytes"] == 14_000_000_000


def test_bare_count_header_says_what_it_is(capsys: pytest.CaptureFixture[str]) -> None:
    # the header used to read "7,000,000,000 parameters: 7,000,000,000 (7.00B) parameters"
    code, out, _ = run(["estimate", "7B", "--dtype", "fp16"], capsys)
    assert code == 0
    first = out.splitlines()[0]
    assert first.startswith("a bare count: 7,000,000,000 (7.00B) parameters")
    assert "14,000,000,000" in out and "14.00 GB (13.04 GiB)" in out


def test_mistyped_subcommand_gets_did_you_mean(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["estimte", "llama-3.1-8b"], capsys)
    assert code == 2 and "No such command 'estimte'; did you mean 'estimate'?" in err
    code, _, err = run(["zzz"], capsys)
    assert code == 2 and "No such command 'zzz'" in err and "did you mean" not in err


def test_explain_single_component_has_no_echo_total(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["estimate", "11776", "--dtype", "fp16", "--explain"], capsys)
    assert code == 0
    assert "weights: 11,776 parameters × 2 bytes = 23,552 bytes" in out
    assert "total:" not in out
