"""``memfit.plot``: the curve numbers (by hand), the pictures (real PNG/SVG files) and ``memfit plot``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from _cli import run
from memfit.errors import ConfigError
from memfit.plot import MAX_POINTS, curve, default_points, render_curve
from memfit.workload import Workload

LLAMA_8B = 8_030_261_248  # derived by hand in test_web_api.py
KV_BYTES_PER_TOKEN_8B_BF16 = 2 * 32 * 8 * 128 * 2  # K and V × 32 layers × 8 KV heads × 128 dims × 2 bytes


def test_default_points_context() -> None:
    assert default_points("context", 2048, 131_072) == (512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072)
    assert default_points("context", 3000, 8192) == (512, 1024, 2048, 3000, 4096, 8192)
    assert default_points("context", 2048, 0)[-1] == 131_072  # unknown max: 128K
    assert default_points("context", 2048, 1024)[-1] == 4096  # at least 4K


def test_default_points_batch() -> None:
    assert default_points("batch", 1) == (1, 2, 4, 8, 16, 32, 64, 128, 256)
    assert default_points("batch", 1000) == (1, 2, 4, 8, 16, 32, 64, 128, 256, 1000)


def test_weights_curve_is_flat_and_exact() -> None:
    c = curve("llama-3.1-8b", Workload(dtype="float32"), "batch", [8, 1, 2])
    assert c.points == (1, 2, 4 * 2)
    assert c.components == ("weights",)
    assert c.series["weights"] == (4 * LLAMA_8B,) * 3
    assert c.total_bytes == (4 * LLAMA_8B,) * 3
    doc = c.to_json()
    assert doc["x"] == "batch" and doc["points"] == [1, 2, 8]


def test_inference_curve_kv_grows_by_the_kv_bytes_per_token() -> None:
    try:
        c = curve("llama-3.1-8b", Workload(mode="inference", dtype="bf16", batch=1, new_tokens=0),
                  "context", [1024, 2048])
    except (ImportError, NotImplementedError) as e:  # the inference formulas are not in this tree
        pytest.skip(f"inference estimates unavailable: {e}")
    assert "kv_cache" in c.series
    kv = c.series["kv_cache"]
    assert kv[1] - kv[0] == 1024 * KV_BYTES_PER_TOKEN_8B_BF16
    assert c.total_bytes[1] > c.total_bytes[0]
    assert all(t == sum(c.series[n][i] for n in c.components if not n.startswith("host_"))
               for i, t in enumerate(c.total_bytes))


@pytest.mark.parametrize(("x", "points", "message"), [
    ("dtype", None, "must be one of"),
    ("context", list(range(1, MAX_POINTS + 2)), "at most"),
])
def test_curve_rejects(x: str, points: list[int] | None, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        curve("llama-3.1-8b", Workload(), x, points)


def test_render_png_and_svg(tmp_path: Path) -> None:
    c = curve("llama-3.1-8b", Workload(), "context")
    png = render_curve(c, tmp_path / "a.png", limit_bytes=24 * 10**9)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = render_curve(c, tmp_path / "sub" / "a.svg", title="llama")
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text
    assert "weights" in text and "llama" in text
    with pytest.raises(ConfigError, match=r"\.png or a \.svg"):
        render_curve(c, tmp_path / "a.jpg")


def test_cli_plot_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "batch.svg"
    code, stdout, err = run(["plot", "llama-3.1-8b", "--x", "batch", "--points", "1,4,16", "--memory", "24GB",
                             "--out", str(out)], capsys)
    assert code == 0, err
    assert out.exists() and "<svg" in out.read_text()
    assert "batch 1 … 16" in stdout and "16.06 GB" in stdout


def test_cli_plot_gpu_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "gpu.svg"
    code, _, err = run(["plot", "llama-3.1-8b", "--x", "batch", "--points", "1,2", "--gpu", "rtx 4090", "--gpus", "2",
                        "--memory", "20GB", "--out", str(out)], capsys)
    assert code == 0, err
    text = out.read_text()
    assert "2 × NVIDIA GeForce RTX 4090" in text and "40.0 GB" in text  # 2 × the 20 GB given


@pytest.mark.parametrize(("args", "message"), [
    (["--points", "1,x"], "integers separated by commas"),
    (["--points", "0,4"], "≥ 1"),
    (["--out", "a.jpg"], ".png or a .svg"),
    (["--memory", "lots"], "not a memory size"),
    (["--batch", "-3"], "batch = -3"),
    (["--gpu", "rtx 9090"], "unknown GPU"),
])
def test_cli_plot_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                      message: str) -> None:
    base = ["plot", "llama-3.1-8b", "--out", str(tmp_path / "x.png")]
    code, _, err = run(base + args, capsys)
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_heavy_imports_stay_lazy() -> None:
    code = ("import sys, memfit, memfit.plot, memfit.cli.plot, memfit.cli.serve\n"
            "heavy = [m for m in ('matplotlib', 'fastapi', 'uvicorn', 'starlette') if m in sys.modules]\n"
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_plot_json_prints_the_plotted_numbers(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import json

    pytest.importorskip("matplotlib")
    out = tmp_path / "m.svg"
    code, text, err = run(["plot", "llama-3.1-8b", "--mode", "inference", "--points", "1024,2048",
                           "--out", str(out), "--json"], capsys)
    assert code == 0, err
    doc = json.loads(text)
    assert out.exists() and doc["out"] == str(out) and doc["points"] == [1024, 2048]
    # Llama-3.1-8B bf16 KV: 2 × 32 layers × 8 heads × 128 × 2 B = 131,072 B per token
    assert doc["series"]["kv_cache"] == [1024 * 131_072, 2048 * 131_072]
    assert doc["series"]["weights"] == [16_060_522_496, 16_060_522_496]
    for i in range(2):
        assert doc["total_bytes"][i] == sum(v[i] for v in doc["series"].values())
