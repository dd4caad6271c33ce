"""GGUF repos on the fake Hub (127.0.0.1): headers by range requests, quant tags, split files, limits."""
# ruff: noqa: F811  (the fake Hub fixture is imported from test_hub and named as a parameter)

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

import memfit
from _checkpoint_files import tiny_spec, write_gguf
from memfit.errors import FormatError, UnsupportedError
from memfit.sources.hub_gguf import BLOCK, RemoteFile, choose_gguf, split_tag
from test_hub import MAIN, FakeHub, hub  # noqa: F401

pytest.importorskip("gguf")


def _publish(hub: FakeHub, name: str, files: dict[str, bytes]) -> None:
    hub.repos[name] = {MAIN: files}
    hub.refs[name] = {"main": MAIN}


def _big(tmp_path: Path, fname: str, types: dict[str, str] | None = None) -> Path:
    f = tmp_path / fname
    write_gguf(f, replace(tiny_spec(), vocab_size=32_768), types)  # token_embd 32768 × 64 f16 = 4 MiB
    return f


def test_quant_tag_reads_the_header_only(hub: FakeHub, tmp_path: Path) -> None:
    q8 = _big(tmp_path, "tiny-Q8_0.gguf", {"attn_q": "Q8_0"})
    f16 = _big(tmp_path, "tiny-F16.gguf")
    _publish(hub, "org/tiny-gguf", {"tiny-Q8_0.gguf": q8.read_bytes(), "tiny-F16.gguf": f16.read_bytes(),
                                     "mmproj-tiny-f16.gguf": b"GGUF", "README.md": b""})
    spec = memfit.load_model("org/tiny-gguf:q8_0")
    local = memfit.load_model(str(q8))
    assert spec.stored is not None and local.stored is not None
    assert spec.stored == replace(local.stored, header_bytes_read=spec.stored.header_bytes_read)
    assert spec.stored.file_bytes == q8.stat().st_size > 4 * BLOCK
    assert spec.source == f"hf:org/tiny-gguf@{MAIN}:tiny-Q8_0.gguf"
    assert (spec.num_layers, spec.hidden_size, spec.vocab_size) == (2, 64, 32_768)
    assert hub.served["tiny-Q8_0.gguf"] <= BLOCK  # the header's block, not the 4 MiB of tensor data
    assert "tiny-F16.gguf" not in hub.served and "mmproj-tiny-f16.gguf" not in hub.served
    with pytest.raises(UnsupportedError, match=r"holds 2 GGUF models .*tiny-F16.*tiny-Q8_0.*org/tiny-gguf:Q4_K_M"):
        memfit.load_model("org/tiny-gguf")
    with pytest.raises(UnsupportedError, match=r"no GGUF model matching 'Q5_K_M'"):
        memfit.load_model("org/tiny-gguf:Q5_K_M")


def test_split_gguf_repo(hub: FakeHub, tmp_path: Path) -> None:
    write_gguf(tmp_path / "m.gguf", tiny_spec(), split_max_tensors=8)
    parts = sorted(tmp_path.glob("m-*-of-*.gguf"))
    files = {p.name: p.read_bytes() for p in parts}
    _publish(hub, "org/split", files)
    spec = memfit.load_model("org/split")
    local = memfit.load_model(str(parts[0]))
    assert spec.stored is not None and local.stored is not None
    assert spec.stored.stored_bytes == local.stored.stored_bytes and spec.stored.tensors == 21
    assert spec.stored.file_bytes == sum(len(b) for b in files.values())
    del files[parts[1].name]
    _publish(hub, "org/split-missing", files)
    with pytest.raises(FormatError, match=r"3-file split but m-00002-of-00003\.gguf is not in the repo"):
        memfit.load_model("org/split-missing")


def test_hostile_remote_header_is_bounded(hub: FakeHub) -> None:
    import struct

    # a key claiming a 2**40-byte string: refused from its length, nothing more is fetched
    raw = b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 40) + b"k" * 64
    _publish(hub, "org/hostile", {"x.gguf": raw})
    with pytest.raises(FormatError, match=r"org/hostile/x\.gguf: a metadata key is 1,099,511,627,776 bytes long"):
        memfit.load_model("org/hostile")


def test_remote_file_limits() -> None:
    data = bytes(range(256)) * (3 * BLOCK // 256)
    calls: list[tuple[int, int]] = []

    def fetch(offset: int, length: int) -> bytes:
        calls.append((offset, length))
        return data[offset: offset + length]

    f = RemoteFile(fetch, len(data), "r/f.gguf", limit=2 * BLOCK)
    f.seek(BLOCK - 2)
    assert f.read(4) == data[BLOCK - 2: BLOCK + 2]  # across two blocks
    assert calls == [(0, BLOCK), (BLOCK, BLOCK)]
    f.seek(10)
    assert f.read(3) == data[10:13] and len(calls) == 2  # kept, not fetched again
    f.seek(2 * BLOCK)
    with pytest.raises(FormatError, match="runs past 2,097,152 bytes"):
        f.read(1)
    short = RemoteFile(lambda o, n: b"\0" * (n - 1), 100, "r/g.gguf")
    with pytest.raises(FormatError, match="asked for 100 bytes at offset 0 and got 99"):
        short.read(1)


def test_tags_and_choices() -> None:
    assert split_tag("org/name:Q4_K_M") == ("org/name", "Q4_K_M")
    assert split_tag("org/name@v1:q8_0") == ("org/name@v1", "q8_0")
    assert split_tag("org/name") == ("org/name", None)
    assert split_tag("hf:org/name") == ("hf:org/name", None)
    files = ["m-Q4_K_M.gguf", "m-Q4_K_S.gguf", "sub/m-Q8_0-00001-of-00002.gguf", "sub/m-Q8_0-00002-of-00002.gguf"]
    assert choose_gguf(files, "Q4_K_M", "r") == ["m-Q4_K_M.gguf"]
    assert choose_gguf(files, "q8_0", "r") == files[2:]
    with pytest.raises(UnsupportedError, match="holds 2 GGUF models"):
        choose_gguf(files, "Q4_K", "r")
    assert choose_gguf(["a.gguf", "mmproj-F16.gguf"], None, "r") == ["a.gguf"]
