"""memfit validate on the bundled H100 measurements: the files, the CLI and its JSON contract.

The accuracy bounds of every ground-truth file are in tests/test_accuracy.py."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from click.testing import CliRunner

from memfit.cli import cli
from memfit.validate import validate_file

GROUNDTRUTH = Path(__file__).parent / "data" / "groundtruth"

FILES = sorted(GROUNDTRUTH.glob("*.jsonl"))


def test_bundled_copies_cover_the_shared_ground_truth() -> None:
    """`memfit validate` must cover every file of ../shared/groundtruth: the bundled copies are those files,
    byte for byte (skipped where the shared folder is not beside the checkout)."""
    shared = Path(__file__).resolve().parent.parent.parent / "shared" / "groundtruth"
    if not shared.is_dir():
        pytest.skip("../shared/groundtruth is not beside this checkout")
    for src in sorted(shared.glob("*.jsonl")):
        copy = GROUNDTRUTH / src.name
        assert copy.is_file(), f"{src.name} is not bundled in tests/data/groundtruth"
        assert copy.read_bytes() == src.read_bytes(), f"{src.name} differs from ../shared"
        results, _ = validate_file(src)
        assert all(r.predicted_bytes is not None for r in results), src.name


def test_cli_json_contract() -> None:
    path = FILES[0]
    r = CliRunner().invoke(cli, ["validate", str(path), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    cases = [x for x in lines if "case" in x and "peak_alloc" in x]
    assert [c["case"] for c in doc["cases"]] == [c["case"] for c in cases]
    for c in doc["cases"]:
        assert isinstance(c["measured_bytes"], int)
        assert c["predicted_bytes"] is None or isinstance(c["predicted_bytes"], int)
        if c["predicted_bytes"] is None:
            assert c["note"]
    assert "inference" in doc["summary"] and "training" in doc["summary"]


def test_cli_table() -> None:
    r = CliRunner().invoke(cli, ["validate", str(FILES[0])])
    assert r.exit_code == 0, r.output
    assert "median |error|" in r.output


def test_skipped_lines_listed(tmp_path: object) -> None:
    from pathlib import Path

    p = Path(str(tmp_path)) / "gt.jsonl"
    p.write_text('{"env": {}}\n{"case": "x/y", "skipped": "budget"}\n{"case": "a/b", "oom": "out of memory"}\n')
    results, summary = validate_file(p)
    assert results == []
    assert summary["not_measured"] == [{"case": "x/y", "reason": "skipped"}, {"case": "a/b", "reason": "oom"}]


def _first_case() -> dict[str, object]:
    gt = Path(__file__).parent / "data" / "groundtruth" / "h100.jsonl"
    return next(r for r in map(json.loads, gt.read_text().splitlines()) if "peak_alloc" in r)


@pytest.mark.parametrize(("text", "message"), [
    ("[1, 2]\n", ":1 is a JSON list; each line must be one object"),
    ('{"env": 5}\n', ":1: 'env' must be an object"),
    ("", "holds no cases"),
    ("\n\n", "holds no cases"),
])
def test_malformed_files_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    from memfit.errors import ConfigError

    p = tmp_path / "gt.jsonl"
    p.write_text(text)
    with pytest.raises(ConfigError, match=message):
        validate_file(p)


def test_a_binary_file_is_one_clear_error(tmp_path: Path) -> None:
    from memfit.errors import ConfigError

    p = tmp_path / "gt.jsonl"
    p.write_bytes(b"\xf2\x00\xff\xfe" * 100)
    with pytest.raises(ConfigError, match="is not a text file"):
        validate_file(p)


@pytest.mark.parametrize("peak", ["x", 0, -5, 1.5, True])
def test_a_bad_measurement_names_the_line(tmp_path: Path, peak: object) -> None:
    from memfit.errors import ConfigError

    p = tmp_path / "gt.jsonl"
    p.write_text(json.dumps({**_first_case(), "peak_alloc": peak}) + "\n")
    with pytest.raises(ConfigError, match=r"gt.jsonl:1: peak_alloc = .* must be a positive integer"):
        validate_file(p)


@pytest.mark.parametrize(("change", "note"), [
    ({"config": 5}, "no 'config' object"),
    ({"config": None}, "no 'config' object"),
    ({"params": [1]}, "'params' must be an object"),
    ({"kind": None}, "no 'kind'"),
])
def test_a_case_memfit_cannot_read_is_null_with_a_note(tmp_path: Path, change: dict[str, object], note: str) -> None:
    p = tmp_path / "gt.jsonl"
    p.write_text(json.dumps({**_first_case(), **change}) + "\n")
    results, _ = validate_file(p)
    assert len(results) == 1 and results[0].predicted_bytes is None and note in results[0].note


def test_summary_as_recorded_compares_with_peak_alloc_untouched() -> None:
    """Beside the fresh-process error, the summary keeps the contract's figure: predicted against ``peak_alloc``
    exactly as the file records it (leftovers of earlier cases included), computed here from the file itself."""
    path = GROUNDTRUTH / "h100.jsonl"
    recorded = {}
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if "peak_alloc" in rec:
            recorded[rec["case"]] = rec["peak_alloc"]
    results, summary = validate_file(path)
    raw = [(r.predicted_bytes + r.prior_bytes - recorded[r.case]) / recorded[r.case] for r in results
           if r.group == "inference" and r.predicted_bytes is not None]
    got = summary["inference"]["as_recorded"]
    assert got["median_abs_error"] == statistics.median(abs(e) for e in raw)
    assert got["most_under"] == min(raw)
    assert any(r.prior_bytes for r in results)  # the file does hold leftovers, so both figures are shown


def test_kernel_modules_of_earlier_cases_are_taken_off() -> None:
    """What earlier cases of the measuring process loaded, beyond the first case's kernels, the first training
    case's and the case's own growth, is taken off the memory outside the pool (worked by hand, MiB)."""
    from memfit.validate import _LoadedModules

    mib = 1 << 20
    loaded = _LoadedModules()
    cases = [("generate", 100, 0),  # the first case: the base a fresh process has
             ("generate", 104, 0),  # grew 4 itself: 104 - 100 - 4
             ("generate", 110, 4),  # grew 6 itself, carries the second case's 4
             ("train", 180, 10),  # the first training case: grew 70 (the training kernels), carries 10
             ("train", 182, 10),  # base 100 + training 70 + own 2
             ("generate", 183, 82)]  # base 100 + own 1
    for kind, outside, modules in cases:
        rec = {"kind": kind, "device_used_end": (outside + 1000) * mib, "reserved_end": 1000 * mib}
        assert loaded.prior(rec) == modules * mib, (kind, outside)


def test_a_published_device_peak_is_the_measured_total(tmp_path: Path) -> None:
    """``device_used_peak`` (a published nvidia-smi peak, groundtruth/published.md) is the measured device total as
    it stands, less only what earlier cases of the process held; it takes precedence over the reserved fields."""
    from memfit.validate import prior_bytes

    case = {**_first_case(), "device_used_peak": 5_000_000_000}
    p = tmp_path / "gt.jsonl"
    p.write_text(json.dumps(case) + "\n")
    (r,), _ = validate_file(p)
    assert r.measured_total == 5_000_000_000 - prior_bytes(case)


def test_a_case_gpu_sets_the_context_of_the_predicted_total(tmp_path: Path) -> None:
    """``gpu`` puts that GPU generation's CUDA context in the predicted total (the allocated peak is unchanged); an
    unknown GPU is a note naming the value and the fix, not a traceback."""
    from memfit.memory.overhead import cuda_context_bytes

    case = _first_case()
    p = tmp_path / "gt.jsonl"
    p.write_text(json.dumps(case) + "\n" + json.dumps({**case, "gpu": "rtx-4090"}) + "\n"
                 + json.dumps({**case, "gpu": "tpu-v9"}) + "\n")
    (h100, ada, unknown), _ = validate_file(p)
    assert ada.predicted_bytes == h100.predicted_bytes
    assert h100.predicted_total is not None and ada.predicted_total is not None
    assert ada.predicted_total - h100.predicted_total == cuda_context_bytes("ada")[0] - cuda_context_bytes()[0] != 0
    assert unknown.predicted_bytes is None and "'tpu-v9' is not a GPU of data/gpus.toml" in unknown.note


def test_a_case_memfit_fails_on_is_one_row_not_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """memfit raising on one case (a bug, as blind round 6's roberta and xlnet training did) is that case's row:
    its error in the note, counted as failed in the summary and printed; the other cases are still scored."""
    import memfit.validate as v

    def predict(rec: dict[str, object]) -> tuple[int | None, int | None, str]:
        if rec["case"] == "breaks":
            raise ValueError("146 is not in list")
        return 1_000, None, ""

    monkeypatch.setattr(v, "_predict", predict)
    monkeypatch.delenv("MEMFIT_DEBUG", raising=False)
    first = _first_case()
    p = tmp_path / "gt.jsonl"
    p.write_text("".join(json.dumps({**first, "case": c, "kind": "train", "peak_alloc": 2_000}) + "\n"
                         for c in ("breaks", "scores")))
    results, summary = validate_file(p)
    assert [(r.case, r.predicted_bytes, r.failed) for r in results] == [
        ("breaks", None, True), ("scores", 1_000, False)]
    assert results[0].note == "memfit failed: ValueError: 146 is not in list (a memfit bug: please report it)"
    assert results[0].to_json()["failed"] is True
    assert summary["training"]["failed"] == 1 and summary["training"]["missing"] == 1
    assert summary["training"]["median_abs_error"] == 0.5  # the other case: (1,000 - 2,000) / 2,000
    r = CliRunner().invoke(cli, ["validate", str(p)])
    assert r.exit_code == 0, r.output
    assert "training: memfit failed on 1 case(s)" in r.output and "ValueError: 146 is not in list" in r.output


def test_json_predicted_bytes_is_the_recorded_figures_prediction() -> None:
    """gpt2-medium/gen-b4-s1000 was measured after a training case: the process held 69,206,528 B before the build,
    one 32 MiB cuBLAS workspace (33,554,432 B) more than a fresh generate process holds at its peak, so 35,652,096 B
    of leftovers. The JSON's predicted_bytes is the fresh prediction plus them; its error against peak_alloc as
    recorded is then the raw one."""
    path = GROUNDTRUTH / "h100.jsonl"
    r = CliRunner().invoke(cli, ["validate", str(path), "--json"])
    assert r.exit_code == 0, r.output
    case = next(c for c in json.loads(r.output)["cases"] if c["case"] == "gpt2-medium/gen-b4-s1000")
    assert case["prior_bytes"] == 69_206_528 - 33_554_432 == 35_652_096
    assert case["predicted_bytes"] == case["fresh_predicted_bytes"] + 35_652_096
    assert case["raw_relative_error"] == (case["predicted_bytes"] - 1_329_480_192) / 1_329_480_192
