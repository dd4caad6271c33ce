"""Simulated cases for DeepSeek-V4 (tests/data/simulated/families-v4.jsonl).

Developer tool, not part of the memfit package: the same simulator and record format as
``tools/simulate_families.py`` (real transformers code on fake tensors under an imitation of the CUDA caching
allocator, docs/simulator.md), on DeepSeek-V4-Flash's widths with fewer layers. The widths are
``DeepseekV4Config``'s defaults (transformers 5.25 documents them as deepseek-ai/DeepSeek-V4-Flash-Base's: hidden
4096, 64 heads × 512, q_lora 1024, 8 output groups × 1024, 256 experts × 2048, top 6, 4 hyper-connection streams,
window 128, indexer 64 × 128, top-k 512); the layer schedule is Flash's ``compress_ratios`` (layers 0 and 1 sliding
only, then ratio 4 (CSA) on even and 128 (HCA) on odd layers: https://huggingface.co/deepseek-ai/DeepSeek-V4-Flash),
cut to the layers kept.

Usage:  python tools/simulate_families_v4.py [--only NAME,...] [--out PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import simulate_families as sf  # the record format beside this file
import simulate_memory as sm

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "data" / "simulated" / "families-v4.jsonl"

FLASH_RATIOS = [0, 0] + [4 if i % 2 == 0 else 128 for i in range(2, 43)]

# (case name, layers kept, kind, workload parameters, config overrides)
CASES: list[tuple[str, int, str, dict[str, Any], dict[str, Any]]] = [
    ("deepseek-v4-flash-l4/gen-b1-s2048-new8", 4, "generate", dict(batch=1, seq=2048, new=8, attn="eager"), {}),
    ("deepseek-v4-flash-l4/train-bf16-adamw-fused-ckpt-b1-s1024", 4, "train",
     dict(batch=1, seq=1024, opt="adamw-fused", amp=False, ckpt=True, attn="eager"), {}),
    ("deepseek-v4-flash-l4/train-bf16-adamw-fused-b1-s1024", 4, "train",
     dict(batch=1, seq=1024, opt="adamw-fused", amp=False, attn="eager"), {}),
    # listed before it was run, after the first generate case had fixed the attention model (a blind check)
    ("deepseek-v4-flash-l6/gen-b2-s3072-new8", 6, "generate", dict(batch=2, seq=3072, new=8, attn="eager"), {}),
    # 16 experts instead of 256: the weights, gradients and AdamW states no longer hide the activations
    ("deepseek-v4-flash-e16-l4/train-bf16-adamw-fused-b1-s2048", 4, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, attn="eager"), {"n_routed_experts": 16}),
    ("deepseek-v4-flash-e16-l4/train-bf16-adamw-fused-ckpt-b1-s2048", 4, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True, attn="eager"), {"n_routed_experts": 16}),
    # listed blind after the two 16-expert cases above, it missed at -4.79 % (with two sequences the matmuls copy the
    # broadcast K=V head to every head) and became a development case; the next one is the blind check
    ("deepseek-v4-flash-e16-l6/train-bf16-adamw-fused-b2-s1536", 6, "train",
     dict(batch=2, seq=1536, opt="adamw-fused", amp=False, attn="eager"), {"n_routed_experts": 16}),
    ("deepseek-v4-flash-e16-l5/train-bf16-adamw-fused-ckpt-b2-s2048", 5, "train",
     dict(batch=2, seq=2048, opt="adamw-fused", amp=False, ckpt=True, attn="eager"), {"n_routed_experts": 16}),
    # moved from the families held-out set (issue 12: its device total was +7.66 %);
    # deepseek-v4-flash-e12-l5/train-bf16-adamw-fused-ckpt-b2-s1024 was listed blind in its place
    ("deepseek-v4-flash-e8-l4/train-bf16-adamw-fused-ckpt-b1-s1536", 4, "train",
     dict(batch=1, seq=1536, opt="adamw-fused", amp=False, ckpt=True, attn="eager"), {"n_routed_experts": 8}),
]


def scaled_config(layers: int, overrides: dict[str, Any]) -> dict[str, Any]:
    """DeepSeek-V4-Flash's config cut to ``layers`` layers."""
    raw: dict[str, Any] = {"model_type": "deepseek_v4", "num_hidden_layers": layers,
                           "compress_ratios": FLASH_RATIOS[:layers], "torch_dtype": "bfloat16", **overrides}
    return sm.config_from_dict(raw).to_dict()  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    jobs: list[sf.Job] = [(name, name.split("/")[0], "deepseek-v4-flash", kind, p,
                           lambda layers=layers, over=over: scaled_config(layers, over))
                          for name, layers, kind, p, over in CASES]
    return sf.run_jobs(jobs, OUT, "simulate_families_v4.py", argv, save_each=True)


if __name__ == "__main__":
    sys.exit(main())
