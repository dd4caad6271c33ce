"""The hardware catalog: every row sourced, figures as their datasheets state them, names resolve, dtype flags."""

from __future__ import annotations

import json
import re

import pytest

from memfit.cli import main
from memfit.errors import ConfigError, UnknownModelError
from memfit.hardware import check_dtype, devices, get_device, hardware_dtype

GIB = 1024**3

# Hand-written from the datasheets named in each row: (id, memory as printed in GB, bandwidth GB/s)
DATASHEET = [
    ("v100-16gb", 16, 900),  # V100 datasheet: 16 GB HBM2, 900 GB/s
    ("a100-40gb", 40, 1555),  # A100 datasheet: 1,555GB/s
    ("a100-80gb", 80, 2039),  # A100 datasheet: 80GB SXM 2,039GB/s
    ("a100-80gb-pcie", 80, 1935),
    ("h100-sxm", 80, 3350),  # nvidia.com/h100: 80GB, 3.35TB/s
    ("h100-nvl", 94, 3900),  # 94GB, 3.9TB/s
    ("h200", 141, 4800),  # 141GB, 4.8TB/s
    ("b200", 180, 8000),  # DGX B200: 1,440GB and 64TB/s over 8 GPUs
    ("l4", 24, 300),
    ("l40s", 48, 864),
    ("t4", 16, 320),
    ("rtx-4090", 24, 1008),
    ("rtx-3090", 24, 936),
    ("rtx-5090", 32, 1792),
    ("rx-7900-xtx", 24, 960),
    ("mi300x", 192, 5300),
    ("mi325x", 256, 6000),
    ("mi355x", 288, 8000),
    ("m4-max-128gb", 128, 546),
    ("m2-ultra-192gb", 192, 800),
]


def test_catalog_has_at_least_40_devices_across_vendors() -> None:
    ds = devices()
    assert len(ds) >= 40
    kinds = {(d.vendor, d.kind) for d in ds}
    for need in [("nvidia", "datacenter"), ("nvidia", "consumer"), ("amd", "consumer"), ("amd", "datacenter"),
                 ("apple", "apple"), ("cpu", "cpu")]:
        assert need in kinds
    ids = [d.id for d in ds]
    assert len(ids) == len(set(ids))
    for need_id in ("v100-16gb", "v100-32gb", "a100-40gb", "a100-80gb", "h100-sxm", "h100-pcie", "h100-nvl",
                    "h200", "gh200-96gb", "b200", "l4", "l40", "l40s", "a10", "a10g", "a30", "t4", "a40",
                    "rtx-a6000", "rtx-6000-ada", "rtx-3060", "rtx-3080", "rtx-3090", "rtx-4060-ti-16gb", "rtx-4070",
                    "rtx-4080", "rtx-4090", "rtx-5070", "rtx-5080", "rtx-5090", "rx-7900-xtx", "rx-7900-xt",
                    "mi210", "mi250", "mi250x", "mi300x", "mi325x", "mi355x", "m1-max-64gb", "m2-ultra-192gb",
                    "m3-max-128gb", "m4-max-128gb", "cpu"):
        assert need_id in ids, need_id


def test_every_row_names_a_source_that_states_a_figure() -> None:
    for d in devices():
        assert d.source, d.id
        assert d.dtypes_source, d.id
        if d.kind == "cpu":
            continue
        assert re.search(r"https?://", d.source), d.id
        # the source text quotes the capacity and the bandwidth it read
        text = d.source.replace(",", "")
        assert f"{d.memory_gb:g}" in text or d.derived, d.id
        if d.bandwidth is not None and not d.derived:
            gbs = d.bandwidth * d.logical_devices / 1e9
            assert any(f in text for f in (f"{gbs:g}", f"{gbs / 1000:g}", f"{gbs:.1f}")), d.id


@pytest.mark.parametrize(("dev_id", "gb", "gbs"), DATASHEET)
def test_rows_match_their_datasheets(dev_id: str, gb: int, gbs: int) -> None:
    d = get_device(dev_id)
    assert d.memory_gb == gb
    assert d.memory_bytes == gb * GIB
    assert d.bandwidth == gbs * 1e9


def test_h100_capacity_is_the_measured_cuda_total_and_proves_binary_gigabytes() -> None:
    d = get_device("H100")
    assert d.capacity_bytes == 85_017_493_504  # ground truth env line, device_total
    # more than 80 decimal GB, less than 80 GiB: the printed "80GB" is binary, minus the driver's reserve
    assert 80 * 10**9 < d.capacity_bytes < 80 * GIB


def test_unified_memory_uses_the_gpu_share() -> None:
    m4 = get_device("m4 max")
    assert m4.capacity_bytes == round(107.52 * GIB)  # measured recommendedMaxWorkingSetSize on 128 GiB
    m2 = get_device("M2 Ultra")
    assert m2.capacity_bytes == round(192 * GIB * 0.75)  # default share, no measurement for 192 GiB
    assert "iogpu.wired_limit_mb" in m2.capacity_basis


def test_two_die_instinct_cards_are_two_logical_gpus() -> None:
    d = get_device("mi250x")
    assert d.logical_devices == 2
    # half of 128 GiB per die, less the rule's reserve (no published CUDA total): 400 MiB + 0.55 %
    assert d.capacity_bytes == int((65536 - 400 - 0.0065 * 65536) * 2**20)
    assert d.bandwidth == 1.6e12


@pytest.mark.parametrize("name", ["h100", "H100", "h100-sxm", "NVIDIA H100 SXM 80GB", "h100 sxm", "H100_SXM5"])
def test_names_resolve_case_insensitively_with_aliases(name: str) -> None:
    assert get_device(name).id == "h100-sxm"


def test_typo_suggests_close_names() -> None:
    with pytest.raises(UnknownModelError, match=r"did you mean.*h100"):
        get_device("h10O")


def test_cpu_needs_memory_and_memory_overrides_capacity() -> None:
    with pytest.raises(ConfigError, match="--memory"):
        get_device("cpu")
    assert get_device("cpu", memory="64GiB").capacity_bytes == 64 * GIB
    assert get_device("rtx 4090", memory=20 * 10**9).capacity_bytes == 20 * 10**9
    with pytest.raises(ConfigError):
        get_device("rtx 4090", memory=0)


@pytest.mark.parametrize(("dev", "fmt", "native"), [
    ("v100", "bf16", False), ("t4", "bfloat16", False), ("t4", "fp16", True), ("a100", "bf16", True),
    ("a100", "fp8", False), ("rtx 3090", "fp8", False), ("h100", "fp8", True), ("l40s", "fp8", True),
    ("rtx 4090", "fp8", True), ("h100", "nvfp4", False), ("b200", "nvfp4", True), ("rtx 5090", "mxfp4", True),
    ("mi250x", "fp8", False), ("mi300x", "fp8", True), ("mi355x", "mxfp4", True), ("m4 max", "bf16", False),
])
def test_native_dtype_flags(dev: str, fmt: str, native: bool) -> None:
    c = check_dtype(get_device(dev), fmt)
    assert c.native is native
    if not native:
        assert "not native" in c.message


def test_weight_only_formats_need_no_native_support() -> None:
    for fmt in ("q4_k_m", "nf4", "gptq", "awq", "int4"):
        assert hardware_dtype(fmt) is None
        assert check_dtype(get_device("v100"), fmt).native is None


def test_gpus_cli_json_lists_every_device(capsys: pytest.CaptureFixture[str]) -> None:
    main(["gpus", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(devices())
    h100 = next(r for r in rows if r["id"] == "h100-sxm")
    assert h100["capacity_bytes"] == 85_017_493_504
    assert h100["bandwidth_bytes_per_s"] == 3.35e12
    assert all(r["source"] for r in rows)


def test_gpus_cli_table_filters(capsys: pytest.CaptureFixture[str]) -> None:
    main(["gpus", "instinct"])
    out = capsys.readouterr().out
    assert "mi300x" in out and "rtx-4090" not in out


def test_gpus_table_never_cuts_an_id(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # an 80-column terminal used to show 'a100-80gb…' and 'rtx-4070-…', ids a user cannot then type
    monkeypatch.setenv("COLUMNS", "80")
    main(["gpus"])
    out = capsys.readouterr().out
    for device_id in ("rtx-4070-ti-super", "a100-80gb-pcie", "gh200-144gb", "rtx-6000-ada"):
        if any(d.id == device_id for d in devices()):
            assert f" {device_id} " in out
    assert all(f" {d.id} " in out for d in devices())
