"""Developer tool: write memfit's outputs to a folder so that two commits can be compared byte for byte.

    PYTHONPATH=src python tools/snapshot_outputs.py OUT_DIR

It writes, one file each:

* ``validate/<file>.txt`` and ``validate/<file>.json``: ``memfit validate`` (text and ``--json``) on every
  ground-truth file (tests/data/groundtruth/*.jsonl and tests/data/simulated/*.jsonl);
* ``estimate/<model>/<workload>.json``: ``memfit estimate --json`` for every catalog model in every mode
  (weights; inference with each runtime; train, lora and qlora with small shapes; two multi-GPU layouts).

Each file holds the exit code, the stdout and the stderr, so an error that changes is a difference too.
A refactor is byte-for-byte neutral when ``diff -r BEFORE AFTER`` prints nothing. The commands run in
this process (click's test runner), so the whole snapshot takes about a minute.
"""

from __future__ import annotations

import sys
from pathlib import Path

from click.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
GROUND_TRUTH = sorted([*ROOT.glob("tests/data/groundtruth/*.jsonl"), *ROOT.glob("tests/data/simulated/*.jsonl")])
SHAPES = ["--batch", "2", "--context", "512", "--new-tokens", "64"]
TRAIN_SHAPES = ["--batch", "1", "--context", "256"]
WORKLOADS: dict[str, list[str]] = {
    "weights": [],
    "weights-bf16": ["--dtype", "bf16"],
    "inference-transformers": ["--mode", "inference", "--runtime", "transformers", *SHAPES],
    "inference-vllm": ["--mode", "inference", "--runtime", "vllm", *SHAPES],
    "inference-vllm-tp8": ["--mode", "inference", "--runtime", "vllm", "--gpus", "8", "--tp", "8", "--kv-dtype",
                          "fp8", *SHAPES],
    "inference-llamacpp": ["--mode", "inference", "--runtime", "llamacpp", "--dtype", "q4_k_m", *SHAPES],
    "train": ["--mode", "train", *TRAIN_SHAPES],
    "train-zero3": ["--mode", "train", "--gpus", "4", "--zero", "3", "--checkpointing", "full", *TRAIN_SHAPES],
    "train-tp-pp": ["--mode", "train", "--gpus", "4", "--tp", "2", "--pp", "2", *TRAIN_SHAPES],
    "lora": ["--mode", "lora", "--lora-rank", "8", *TRAIN_SHAPES],
    "qlora": ["--mode", "qlora", "--quant", "nf4-dq", "--checkpointing", "full", *TRAIN_SHAPES],
}


def _run(args: list[str]) -> str:
    from memfit.cli import cli

    r = CliRunner().invoke(cli, args, prog_name="memfit")
    err = "" if r.exception is None or isinstance(r.exception, SystemExit) else f"{type(r.exception).__name__}: " \
        f"{r.exception}"
    return f"exit {r.exit_code}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}{err}\n"


def main(out: Path) -> int:
    from memfit.sources.catalog import catalog

    n = 0
    for f in GROUND_TRUTH:
        for suffix, extra in (("txt", []), ("json", ["--json"])):
            path = out / "validate" / f"{f.parent.name}-{f.stem}.{suffix}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_run(["validate", str(f), *extra]))
            n += 1
    for entry in catalog():
        model = entry.id
        for name, args in WORKLOADS.items():
            path = out / "estimate" / model / f"{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(_run(["estimate", model, "--json", *args]))
            n += 1
    print(f"{n} outputs written to {out}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tools/snapshot_outputs.py OUT_DIR")
    sys.exit(main(Path(sys.argv[1])))
