"""Simulated cases for the families added in issue 10 (tests/data/simulated/families.jsonl).

Developer tool, not part of the memfit package: runs ``tools/simulate_memory.py``'s simulator (real transformers
code on fake tensors under an imitation of the CUDA caching allocator, docs/simulator.md) on scaled-down versions
of the real configs in tests/data/families/real_configs.json (fewer layers, the real widths), one inference and
one training workload per family. Output: same JSON-lines format as tests/data/simulated/cases.jsonl, every line
``"simulated": true``.

Usage:  python tools/simulate_families.py [--only NAME,...] [--out PATH]
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import simulate_memory as sm  # the simulator beside this file

REPO = Path(__file__).resolve().parents[1]
REAL = REPO / "tests" / "data" / "families" / "real_configs.json"
OUT = REPO / "tests" / "data" / "simulated" / "families.jsonl"

# (case name, real config, layers kept, kind, workload parameters)
CASES: list[tuple[str, str, int, str, dict[str, Any]]] = [
    ("smollm3-3b-l8/gen-b2-s2048-new16", "smollm3-3b", 8, "generate", dict(batch=2, seq=2048, new=16)),
    ("smollm3-3b-l4/train-amp-adamw-fused-b2-s1024", "smollm3-3b", 4, "train",
     dict(batch=2, seq=1024, opt="adamw-fused", amp=True)),
    ("olmo-3-7b-l4/gen-b2-s6144-new8", "olmo-3-7b", 4, "generate", dict(batch=2, seq=6144, new=8)),
    ("olmo-3-7b-l4/train-bf16-adamw-fused-ckpt-b2-s2048", "olmo-3-7b", 4, "train",
     dict(batch=2, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    ("seed-oss-36b-l2/gen-b1-s4096-new8", "seed-oss-36b-instruct", 2, "generate", dict(batch=1, seq=4096, new=8)),
    ("seed-oss-36b-l2/train-amp-adamw-fused-b1-s1024", "seed-oss-36b-instruct", 2, "train",
     dict(batch=1, seq=1024, opt="adamw-fused", amp=True)),
    ("exaone-4.0-32b-l4/gen-b1-s8192-new8", "exaone-4.0-32b", 4, "generate", dict(batch=1, seq=8192, new=8)),
    ("exaone-4.0-1.2b-l8/lora-r16-all-b2-s2048", "exaone-4.0-1.2b", 8, "lora", dict(batch=2, seq=2048, r=16)),
    ("command-r7b-l4/gen-b2-s6144-new8", "c4ai-command-r7b-12-2024", 4, "generate", dict(batch=2, seq=6144, new=8)),
    ("command-r7b-l4/train-amp-adamw-fused-ckpt-b2-s2048", "c4ai-command-r7b-12-2024", 4, "train",
     dict(batch=2, seq=2048, opt="adamw-fused", amp=True, ckpt=True)),
    ("glm-4.5-air-l3/gen-b2-s4096-new8", "glm-4.5-air", 3, "generate", dict(batch=2, seq=4096, new=8)),
    ("glm-4.5-air-l3/lora-r16-all-b1-s2048", "glm-4.5-air", 3, "lora", dict(batch=1, seq=2048, r=16)),
    ("glm-4.5-air-l3/lora-r16-all-ckpt-b1-s2048", "glm-4.5-air", 3, "lora", dict(batch=1, seq=2048, r=16, ckpt=True)),
    # moved from the families held-out set (tests/data/simulated/families-heldout-list.jsonl): its allocated peak was
    # -5.04 %; glm-4.6-l4/gen-b2-s4096-new8 took its place there
    ("glm-4.6-l3/gen-b1-s8192-new8", "glm-4.6", 3, "generate", dict(batch=1, seq=8192, new=8)),
    ("ernie-4.5-21b-a3b-l4/gen-b4-s2048-new8", "ernie-4.5-21b-a3b", 4, "generate", dict(batch=4, seq=2048, new=8)),
    ("ernie-4.5-21b-a3b-l4/train-bf16-adamw-fused-b1-s2048", "ernie-4.5-21b-a3b", 4, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False)),
    ("hunyuan-a13b-l2/gen-b1-s8192-new8", "hunyuan-a13b-instruct", 2, "generate", dict(batch=1, seq=8192, new=8)),
    # (MoE training under amp fails on the GPU too: torch._grouped_mm wants bf16 operands; see simulate_memory.py)
    ("hunyuan-a13b-l2/train-bf16-adamw-fused-ckpt-b1-s2048", "hunyuan-a13b-instruct", 2, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    ("phi-3.5-moe-l2/gen-b2-s4096-new8", "phi-3.5-moe-instruct", 2, "generate", dict(batch=2, seq=4096, new=8)),
    ("phi-3.5-moe-l2/lora-r8-all-b1-s2048", "phi-3.5-moe-instruct", 2, "lora", dict(batch=1, seq=2048, r=8)),
    ("ministral-3-3b-l8/gen-b2-s4096-new16", "ministral-3-3b-text", 8, "generate", dict(batch=2, seq=4096, new=16)),
    ("ministral-3-3b-l4/train-amp-adamw-fused-b2-s2048", "ministral-3-3b-text", 4, "train",
     dict(batch=2, seq=2048, opt="adamw-fused", amp=True)),
    # (mistral3 itself is image-text-to-text: built as Mistral3ForConditionalGeneration (_MULTIMODAL below), its
    # cases are in tools/simulate_families_new.py)
    ("qwen3-next-80b-a3b-l4/gen-b2-s4096-new8", "qwen3-next-80b-a3b-instruct", 4, "generate",
     dict(batch=2, seq=4096, new=8)),
    ("qwen3-next-80b-a3b-l4/train-bf16-adamw-fused-ckpt-b1-s2048", "qwen3-next-80b-a3b-instruct", 4, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    ("lfm2-350m-l16/gen-b4-s4096-new16", "lfm2-350m", 16, "generate", dict(batch=4, seq=4096, new=16)),
    ("lfm2-350m-l16/train-amp-adamw-fused-b4-s2048", "lfm2-350m", 16, "train",
     dict(batch=4, seq=2048, opt="adamw-fused", amp=True)),
    ("minimax-m2-l2/gen-b1-s8192-new8", "minimax-m2", 2, "generate", dict(batch=1, seq=8192, new=8)),
    ("minimax-m2-l2/train-bf16-adamw-fused-ckpt-b1-s2048", "minimax-m2", 2, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    # past the 8,192-token chunk: the 3 chunked layers' caches stop at 8,191 tokens, the NoPE layer's does not
    ("llama-4-scout-l4/gen-b1-s10240-new8", "llama-4-scout-17b-16e-instruct", 4, "generate",
     dict(batch=1, seq=10240, new=8)),
    ("llama-4-scout-l2/train-bf16-adamw-fused-ckpt-b1-s2048", "llama-4-scout-17b-16e-instruct", 2, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    # the text model alone, one dense and one MoE layer (interleave step 2)
    ("llama-4-maverick-text-l2/gen-b2-s4096-new8", "llama-4-maverick-17b-128e-instruct-text", 2, "generate",
     dict(batch=2, seq=4096, new=8)),
    ("llama-4-maverick-text-l2/train-bf16-adamw-fused-ckpt-b1-s2048", "llama-4-maverick-17b-128e-instruct-text", 2,
     "train", dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
]


def scaled_config(name: str, layers: int) -> dict[str, Any]:
    """The transformers config dict of a real config cut to ``layers`` layers (per-layer lists cut too)."""
    raw: dict[str, Any] = copy.deepcopy(json.loads(REAL.read_text())[name]["config"])
    text = raw.get("text_config") if isinstance(raw.get("text_config"), dict) else raw
    text["num_hidden_layers"] = layers
    for key in ("layer_types", "no_rope_layers", "mlp_only_layers", "moe_topk", "full_attn_idxs"):
        if isinstance(text.get(key), list) and len(text[key]) > layers:
            text[key] = text[key][:layers]
    return sm.config_from_dict(raw).to_dict()  # type: ignore[no-any-return]


def record(name: str, model: str, kind: str, p: dict[str, Any], cfg: dict[str, Any]) -> dict[str, Any]:
    t0 = time.time()
    sim = sm.simulate(cfg, kind, p)
    base = sm.default_alloc_before_build(kind)
    shift = base + sm.workspace_bytes(kind, base)
    rec: dict[str, Any] = dict(case=name, model=model, kind=kind, params=p, alloc_before_build=base, config=cfg,
                               n_params=sim["n_params"], param_bytes=sim["param_bytes"],
                               alloc_after_build=base + sim["tracked_after_build"])
    for key in ("kv_cache_bytes_final", "cache_class", "logits_bytes", "trainable_params"):
        if key in sim:
            rec[key] = sim[key]
    if "phases" in sim:
        rec["phases"] = [{k: (v + shift if k != "step" else v) for k, v in ph.items()} for ph in sim["phases"]]
    rec["peak_alloc"] = sm.predict_peak(sim, kind, base)
    rec.update(peak_reserved=sim["peak_reserved"], reserved_after_build=sim["reserved_after_build"],
               reserved_source="emulated", reserved_end=None, device_used_after_build=None, device_used_end=None,
               seconds=round(time.time() - t0, 2), simulated=True, simulator_version=sm.SIMULATOR_VERSION)
    return rec


# one case to run: (case name, model label in the record, the name --only also matches, kind, workload, config maker)
Job = tuple[str, str, str, str, dict[str, Any], Callable[[], dict[str, Any]]]


def run_jobs(jobs: list[Job], default_out: Path, tool: str, argv: list[str] | None = None,
             save_each: bool = False) -> int:
    """The command line shared by the family simulation tools: run the jobs ``--only`` selects (a case name, a
    model name or a case-name prefix), keep the cases of ``--out`` not re-run, write the file in job order
    (after every case with ``save_each``, so a long run loses nothing)."""
    warnings.filterwarnings("ignore")
    ap = argparse.ArgumentParser(description=sys.modules["__main__"].__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default="")
    ap.add_argument("--out", default=str(default_out))
    a = ap.parse_args(argv)
    only = set(filter(None, a.only.split(",")))
    out = Path(a.out)
    old: dict[str, Any] = {}
    if out.exists():  # keep the cases not re-run
        old = {r["case"]: r for r in map(json.loads, out.read_text().splitlines()[1:]) if r}
    order = [j[0] for j in jobs]
    for name, label, model, kind, p, make_config in jobs:
        if only and name not in only and model not in only and not any(name.startswith(o) for o in only):
            continue
        try:
            old[name] = record(name, label, kind, p, make_config())
        except Exception as e:  # report and go on
            print(f"{name:60s} failed: {e!r}"[:300], flush=True)
            continue
        print(f"{name:60s} {old[name]['peak_alloc']:15,d} {old[name]['seconds']:6.1f}s", flush=True)
        if save_each:
            _write(out, old, order, tool)
    _write(out, old, order, tool)
    return 0


def _write(out: Path, old: dict[str, Any], order: list[str], tool: str) -> None:
    env = dict(env=dict(simulated=True, simulator_version=sm.SIMULATOR_VERSION, torch=sm.torch.__version__,
                        transformers=sm._version("transformers"), peft=sm._version("peft"),
                        note=f"simulated on fake tensors by tools/{tool}; see docs/simulator.md"))
    with out.open("w") as f:
        f.write(json.dumps(env) + "\n")
        for case in sorted(old, key=lambda c: order.index(c) if c in order else len(order)):
            f.write(json.dumps(old[case]) + "\n")


# image-text families: the simulator builds AutoModelForCausalLM, which does not map them; their image-text class
# (*ForConditionalGeneration) is built instead (text-only inputs: the tower's weights are there, it does not run)
_MULTIMODAL = {"llava": "LlavaForConditionalGeneration", "qwen2_5_vl": "Qwen2_5_VLForConditionalGeneration",
               "mllama": "MllamaForConditionalGeneration", "qwen3_vl": "Qwen3VLForConditionalGeneration",
               "qwen3_vl_moe": "Qwen3VLMoeForConditionalGeneration", "idefics3": "Idefics3ForConditionalGeneration",
               "llama4": "Llama4ForConditionalGeneration", "mistral3": "Mistral3ForConditionalGeneration"}


class _AutoWithImageText:
    """Stands in for ``transformers.AutoModelForCausalLM`` while a case runs."""

    original: Any = None

    @classmethod
    def from_config(cls, cfg: Any, **kwargs: Any) -> Any:
        name = _MULTIMODAL.get(cfg.model_type)
        if name is None:
            return cls.original.from_config(cfg, **kwargs)
        return getattr(__import__('transformers'), name)._from_config(cfg, **kwargs)


def build_image_text_classes() -> None:
    """Make the simulator build the image-text class of the families above, as memfit counts them (the class
    their checkpoints name), instead of the text-only class ``AutoModelForCausalLM`` maps them to or refuses."""
    import transformers

    if transformers.AutoModelForCausalLM is not _AutoWithImageText:
        _AutoWithImageText.original = transformers.AutoModelForCausalLM
    if getattr(sm.simulate, "image_text", False):
        return
    simulate = sm.simulate

    def patched(*args: Any, **kwargs: Any) -> Any:
        # set again before every case, on the module object a case imports from: after the first case the name
        # resolved to transformers' own class again, so a second image-text case in one process was refused
        # ("Unrecognized configuration class"): why Qwen2.5-VL's training case failed in the last full run
        sys.modules["transformers"].AutoModelForCausalLM = _AutoWithImageText  # type: ignore[misc,assignment]
        return simulate(*args, **kwargs)

    patched.image_text = True  # type: ignore[attr-defined]
    sm.simulate = patched


def main(argv: list[str] | None = None) -> int:
    build_image_text_classes()
    jobs: list[Job] = [(name, f"{model}-l{layers}", model, kind, p,
                        lambda model=model, layers=layers: scaled_config(model, layers))
                       for name, model, layers, kind, p in CASES]
    return run_jobs(jobs, OUT, "simulate_families.py", argv)


if __name__ == "__main__":
    sys.exit(main())
