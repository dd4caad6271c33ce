"""Estimate from checkpoints by reading headers only: bytes read and time per file.

Builds (as sparse files, so they take no disk) a ~10 GB single safetensors file (Llama-3.1-8B's
tensor layout cut to 18 blocks, BF16) and a sharded folder (the full Llama-3.1-8B in BF16, 4 shards,
with model.safetensors.index.json and config.json), then times ``memfit.estimate(path)`` in-process
(median of repeated runs after one warm-up) and counts the bytes read twice: memfit's own
``header_bytes_read`` and the kernel's ``rchar`` counter from /proc/self/io around the call.
Also checks the header-derived count equals the description's exactly. Targets: < 1 MB read and
< 50 ms per file (safetensors).

A GGUF case is reported too (not held to the 1 MB target: a GGUF header carries the tokenizer, which
must be parsed through to reach the tensor infos): Llama-3.1-8B as Q4_K_M with a 128,256-token
vocabulary, tensor types from llama-quantize's rules (memfit.formats.gguf_tensor_types), sparse data;
its header-derived bytes must equal ``weights_bytes(spec, "q4_k_m")`` exactly.

Run: ``python benchmarks/bench_readers.py`` (needs the ``formats`` extra only). Prints JSON.
"""

from __future__ import annotations

import json
import statistics
import struct
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import memfit
from memfit.inventory import Tensor, inventory

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

RUNS = 20


def _rchar() -> int | None:
    try:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def write_sparse(path: Path, tensors: list[Tensor], dtype: str = "BF16", width: int = 2) -> int:
    """A safetensors file with a real header and a sparse (unwritten) data section; returns its size."""
    header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
    offset = 0
    for t in tensors:
        n = t.numel * width
        header[t.name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with path.open("wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        f.truncate(8 + len(raw) + offset)
    return 8 + len(raw) + offset


def measure(ref: str) -> dict[str, Any]:
    memfit.estimate(ref)  # warm-up: imports, caches
    times = []
    rchar = []
    header_bytes = 0
    for _ in range(RUNS):
        before = _rchar()
        t0 = time.perf_counter()
        spec = memfit.load_model(ref)
        est = memfit.estimate(spec)
        times.append(time.perf_counter() - t0)
        after = _rchar()
        if before is not None and after is not None:
            rchar.append(after - before)
        assert spec.stored is not None
        header_bytes = spec.stored.header_bytes_read
    assert spec.stored is not None
    return {
        "files": len(spec.stored.files),
        "parameters": est.parameters.total,
        "stored_bytes": spec.stored.stored_bytes,
        "header_bytes_read": header_bytes,
        "rchar_bytes_per_call": int(statistics.median(rchar)) if rchar else None,
        "ms_per_call_median": round(1000 * statistics.median(times), 2),
        "ms_per_call_max": round(1000 * max(times), 2),
        "ms_per_file_median": round(1000 * statistics.median(times) / len(spec.stored.files), 2),
    }


def main() -> int:
    base = memfit.load_model("llama-3.1-8b")
    cut = replace(base, layers=base.layers[:18])
    report: dict[str, Any] = {"runs": RUNS, "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        single = folder / "llama-18-blocks.safetensors"
        size = write_sparse(single, list(inventory(cut)))
        on_disk = single.stat().st_blocks * 512
        report["single"] = {"file_bytes": size, "disk_bytes": on_disk, **measure(str(single))}
        report["single"]["count_matches_description"] = (
            report["single"]["parameters"] == memfit.count_parameters(cut).total)

        shards = folder / "llama-3.1-8b"
        shards.mkdir()
        tensors = list(inventory(base))
        per = -(-len(tensors) // 4)
        weight_map: dict[str, str] = {}
        for i in range(4):
            part = tensors[i * per:(i + 1) * per]
            name = f"model-{i + 1:05d}-of-00004.safetensors"
            write_sparse(shards / name, part)
            weight_map.update({t.name: name for t in part})
        (shards / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
        from importlib import resources

        cfg = resources.files("memfit").joinpath("data", "models", "llama-3.1-8b.json").read_text()
        (shards / "config.json").write_text(cfg)
        report["sharded"] = measure(str(shards))
        report["sharded"]["count_matches_description"] = (
            report["sharded"]["parameters"] == memfit.count_parameters(base).total)
        gguf_file = folder / "llama-3.1-8b-Q4_K_M.gguf"
        from _checkpoint_files import write_sparse_gguf
        from memfit.memory.weights import weights_bytes

        size = write_sparse_gguf(gguf_file, base, "q4_k_m", tokens=128_256)
        report["gguf"] = {"file_bytes": size, **measure(str(gguf_file))}
        report["gguf"]["bytes_match_description"] = report["gguf"]["stored_bytes"] == weights_bytes(base, "q4_k_m")
    ok = all(r["header_bytes_read"] / r["files"] < 1_000_000 and r["ms_per_file_median"] < 50
             and r["count_matches_description"] for r in (report["single"], report["sharded"]))
    ok = ok and report["gguf"]["bytes_match_description"]
    report["targets_met"] = ok
    print(json.dumps(report, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
