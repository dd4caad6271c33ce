"""Device capacity as CUDA reports it, the names vendor tools print, and ``--gpu auto`` (faked tool output)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from _cli import run
from memfit.detect import detect
from memfit.errors import UnknownModelError
from memfit.hardware import detect_device, devices, get_device

GIB = 1024**3
MIB = 1024**2


def test_every_capacity_is_below_the_marketing_size_and_has_a_source_or_the_rule() -> None:
    for d in devices():
        if d.kind == "cpu":
            continue
        assert 0 < d.capacity_bytes < d.memory_gb * GIB / d.logical_devices, d.id
        if d.capacity_measured:
            assert re.search(r"https?://|ground truth", d.capacity_basis), d.id
        else:
            assert "derived" in d.capacity_basis or "default GPU share" in d.capacity_basis, d.id


# (id, the figure a public log prints, in GiB) — the same numbers as the rows' sources quote
MEASURED = [("t4", 14.56), ("l40s", 44.53), ("l40", 44.40), ("rtx-4090", 23.64), ("rtx-3090", 23.58), ("h200", 139.72),
            ("rtx-5090", 31.36), ("rtx-5080", 15.48), ("rtx-3080", 9.78)]


@pytest.mark.parametrize(("dev_id", "gib"), MEASURED)
def test_measured_cuda_totals(dev_id: str, gib: float) -> None:
    d = get_device(dev_id)
    assert d.capacity_bytes == round(gib * GIB)
    assert d.capacity_measured and f"{gib:.2f}" in d.capacity_basis


def test_exact_byte_totals() -> None:
    assert get_device("h100").capacity_bytes == 85_017_493_504  # memfit's own H100 measurement
    assert get_device("a100-40gb").capacity_bytes == 42_298_834_944  # deviceQuery, A100-SXM4-40GB


def test_rule_for_unmeasured_rows() -> None:
    # L4: 24 GiB GDDR6 with ECC on: 24576 × 15/16 = 23040 MiB, less 400 MiB and 0.55 %
    assert get_device("l4").capacity_bytes == int((23040 - 400 - 0.0065 * 23040) * MIB)
    # H100 PCIe (HBM, no ECC share): 80 GiB = 81920 MiB
    assert get_device("h100-pcie").capacity_bytes == int((81920 - 400 - 0.0065 * 81920) * MIB)


def test_rule_stays_below_every_measured_row_but_the_gddr7_geforce_cards() -> None:
    for d in devices():
        if d.capacity_measured and d.vendor == "nvidia" and d.id not in ("rtx-5090", "rtx-5080"):
            m = d.memory_gb * 1024 * (15 / 16 if d.id in ("t4", "l40", "l40s") else 1)
            assert int((m - 400 - 0.0065 * m) * MIB) <= d.capacity_bytes, d.id
    # the RTX 5090 (GDDR7, measured 31.36 GiB on Linux) leaves 655 MiB; the rule would take 400 + 0.65 % x 32768 = 613
    rule_5090 = int((32768 - 400 - 0.0065 * 32768) * MIB)
    assert 0 < rule_5090 - get_device("rtx-5090").capacity_bytes < 45 * MIB
    # the RTX 5080 (15.48 GiB measured) by 16384 - 400 - 106.5 = 15877.5 MiB against about 15852
    assert 0 < int((16384 - 400 - 0.0065 * 16384) * MIB) - get_device("rtx-5080").capacity_bytes < 30 * MIB


# Windows / WSL2 (WDDM): CUDA's total is the whole nvidia-smi total; native Linux keeps a few hundred MiB back
@pytest.mark.parametrize(("dev_id", "smi_mib", "wddm_gib", "linux_gib"), [
    ("rtx-4090", 24564, 23.99, 23.64), ("rtx-5090", 32607, 31.84, 31.36), ("rtx-pro-6000", 97887, 95.59, None),
    ("rtx-4080", 16376, 15.99, None)])
def test_wddm_total_is_the_nvidia_smi_total(dev_id: str, smi_mib: int, wddm_gib: float,
                                            linux_gib: float | None) -> None:
    d = get_device(dev_id)
    assert d.smi_total_mib == smi_mib and round(smi_mib / 1024, 2) == wddm_gib
    assert d.wddm_total_bytes == round(wddm_gib * GIB)
    assert d.capacity_bytes < d.wddm_total_bytes < d.memory_gb * GIB
    if linux_gib is not None:  # a measured Linux total: the basis names the WDDM figure beside it
        assert d.capacity_bytes == round(linux_gib * GIB)
        assert f"WSL2 CUDA reports {wddm_gib} GiB" in d.capacity_basis


def test_wsl2_serving_logs_print_the_wddm_total() -> None:
    seen = 0
    for name in ("vllm.jsonl", "sglang.jsonl"):
        for line in (Path(__file__).parent / "data" / "serving" / name).read_text().splitlines():
            row = json.loads(line)
            text = row.get("source", "") + row.get("note", "")
            if "WSL2" in text and row.get("device_total_gib") is not None:
                wddm = get_device(row["gpu"]).wddm_total_bytes
                if wddm is not None:
                    seen += 1
                    assert round(wddm / GIB, 2) == row["device_total_gib"], row["case"]
    assert seen >= 6  # the five RTX 4090 rows and the RTX 4080 one


def test_rule_stays_below_the_rtx_pro_6000_log() -> None:
    # a public blog log prints "NVIDIA RTX PRO 6000 Blackwell Server Edition 95.01 GiB" (no address, so not a row)
    assert get_device("rtx-pro-6000").capacity_bytes < round(95.01 * GIB)


def test_t4_nvidia_smi_total_is_15_of_16_gib() -> None:
    assert get_device("t4").smi_total_mib == 15360 == 16 * 1024 * 15 // 16


@pytest.mark.parametrize(("printed", "dev_id"), [
    ("NVIDIA GeForce RTX 4090", "rtx-4090"), ("NVIDIA H100 80GB HBM3", "h100-sxm"), ("Tesla T4", "t4"),
    ("NVIDIA A100-SXM4-80GB", "a100-80gb"), ("NVIDIA A100-SXM4-40GB", "a100-40gb"), ("NVIDIA L40S", "l40s"),
    ("NVIDIA A10G", "a10g"), ("Tesla V100-SXM2-16GB", "v100-16gb"), ("NVIDIA GeForce RTX 3060", "rtx-3060"),
    ("NVIDIA RTX 6000 Ada Generation", "rtx-6000-ada"), ("AMD Instinct MI300X", "mi300x"),
    ("AMD Radeon RX 7900 XTX", "rx-7900-xtx"), ("NVIDIA H100 PCIe", "h100-pcie"),
    ("NVIDIA GeForce RTX 5090", "rtx-5090"),
])
def test_names_vendor_tools_print(printed: str, dev_id: str) -> None:
    assert get_device(printed).id == dev_id


def test_unknown_printed_name_is_refused() -> None:
    with pytest.raises(UnknownModelError, match="unknown GPU"):
        get_device("NVIDIA GeForce GT 710")


def _fake(outputs: dict[str, str]):  # type: ignore[no-untyped-def]
    def run(cmd: list[str]) -> str | None:
        return outputs.get(cmd[0] + (" " + cmd[-1] if cmd[0] == "sysctl" else ""))
    return run


def test_auto_nvidia_smi(tmp_path: Path) -> None:
    run = _fake({"nvidia-smi": "NVIDIA GeForce RTX 4090, 24564\nNVIDIA GeForce RTX 4090, 24564\n"})
    found = detect(run, tmp_path / "none")
    assert [f.name for f in found] == ["NVIDIA GeForce RTX 4090"] * 2 and found[0].total_bytes == 24564 * MIB
    d = detect_device(run, tmp_path / "none")
    assert d.id == "rtx-4090" and d.capacity_bytes == round(23.64 * GIB)
    assert "1 of 2 detected" in d.capacity_basis


def test_auto_mig_slice_uses_the_reported_total(tmp_path: Path) -> None:
    d = detect_device(_fake({"nvidia-smi": "NVIDIA A100-SXM4-80GB MIG 3g.40gb, 40192\n"}), tmp_path / "none")
    assert d.id == "auto" and d.capacity_bytes == int((40192 - 400 - 0.0065 * 40192) * MIB)


def test_auto_rocm_smi(tmp_path: Path) -> None:
    doc = {"card0": {"Card Series": "AMD Instinct MI300X", "VRAM Total Memory (B)": str(205822885888)}}
    d = detect_device(_fake({"rocm-smi": json.dumps(doc)}), tmp_path / "none")
    assert d.id == "mi300x"


def test_auto_apple_and_cpu(tmp_path: Path) -> None:
    d = detect_device(_fake({"sysctl machdep.cpu.brand_string": "Apple M4 Max\n",
                             "sysctl hw.memsize": str(128 * GIB)}), tmp_path / "none")
    assert d.id == "m4-max-128gb" and d.capacity_bytes == round(107.52 * GIB)
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       65536000 kB\nMemFree: 1 kB\n")
    d = detect_device(_fake({}), meminfo)
    assert d.kind == "cpu" and d.capacity_bytes == 65536000 * 1024


def test_auto_hostile_output_is_ignored(tmp_path: Path) -> None:
    run = _fake({"nvidia-smi": "garbage\n,\n" + "x" * 10000, "rocm-smi": "{not json"})
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 1024 kB\n")
    assert detect_device(run, meminfo).kind == "cpu"


def test_cli_accepts_printed_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["fit", "llama-3.1-8b", "--gpu", "NVIDIA GeForce RTX 4090", "-d", "fp16", "--json"], capsys)
    assert code == 0 and json.loads(out)["device"] == "rtx-4090"


def test_ecc_cards_nvidia_smi_totals_are_15_16_of_the_dram() -> None:
    # data-centre GDDR with ECC on by default shows 15/16 of its DRAM in nvidia-smi, a few MiB less on some boards
    # (T4 15360 = 16 GiB x 15/16; L4 23034 and A10/A10G 23028 of 23040; A40 and L40S 46068 of 46080)
    rows = {d.id: d for d in devices() if d.smi_total_mib and d.id in ("t4", "l4", "a10", "a10g", "a40", "l40s")}
    assert set(rows) == {"t4", "l4", "a10", "a10g", "a40", "l40s"}
    for d in rows.values():
        ecc_mib = round(d.memory_gb * 1024 * 15 / 16)
        assert d.smi_total_mib is not None and ecc_mib - 16 <= d.smi_total_mib <= ecc_mib, d.id
        assert d.capacity_bytes < d.smi_total_mib * 2**20 < d.memory_bytes, d.id


@pytest.mark.parametrize("runtime", ["vllm", "sglang"])
def test_estimates_name_the_wsl2_total(runtime: str) -> None:
    import memfit

    kw = dict(mode="inference", runtime=runtime, context=8192)
    notes = memfit.estimate("qwen2.5-0.5b", device=get_device("rtx-4090"), **kw).notes
    assert any("under Windows / WSL2 (WDDM) CUDA reports the whole nvidia-smi total, 23.99 GiB" in n for n in notes)
    given = memfit.estimate("qwen2.5-0.5b", device=get_device("rtx-4090", memory="23.99GiB"), **kw).notes
    assert not any("WDDM" in n for n in given)
    assert not any("WDDM" in n for n in memfit.estimate("qwen2.5-0.5b", device=get_device("l40s"), **kw).notes)


def test_rtx_6000_ada_rule_stays_below_its_ecc_off_nvidia_smi_total() -> None:
    d = get_device("rtx-6000-ada")
    assert not d.capacity_measured and d.smi_total_mib == 49140
    assert d.capacity_bytes == int((49152 - 400 - 0.0065 * 49152) * MIB) < 49140 * MIB
