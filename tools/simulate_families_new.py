"""Simulated cases for the families made first-class late in issue 10 (tests/data/simulated/families-new.jsonl).

Developer tool, not part of the memfit package: the same simulator and record format as
``tools/simulate_families.py`` (real transformers code on fake tensors under an imitation of the CUDA caching
allocator, docs/simulator.md), on scaled-down versions of the real configs in tests/data/families/new_configs.json
(fewer layers, the real widths). Kept apart from families.jsonl, which is re-simulated on its own.

Usage:  python tools/simulate_families_new.py [--only NAME,...] [--out PATH]
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import simulate_families as sf  # the record format beside this file
import simulate_memory as sm

REPO = Path(__file__).resolve().parents[1]
NEW = REPO / "tests" / "data" / "families" / "new_configs.json"
SWEEP = REPO / "tests" / "data" / "families" / "sweep_configs.json"  # issue 12's blind sweep: published configs
OUT = REPO / "tests" / "data" / "simulated" / "families-new.jsonl"

# (case name, real config, layers kept, kind, workload parameters)
CASES: list[tuple[str, str, int, str, dict[str, Any]]] = [
    # 3 dense layers + 1 MoE layer; every layer has the sparse-attention indexer (fp32 scores over the prompt)
    ("deepseek-v3.2-l4/gen-b1-s2048-new8", "deepseek-v3.2", 4, "generate", dict(batch=1, seq=2048, new=8)),
    ("deepseek-v3.2-l3/gen-b2-s3072-new8", "deepseek-v3.2", 3, "generate", dict(batch=2, seq=3072, new=8)),
    # listed before it was run, after the two above had fixed the indexer model (a blind check)
    ("deepseek-v3.2-l4/gen-b4-s1536-new8", "deepseek-v3.2", 4, "generate", dict(batch=4, seq=1536, new=8)),
    ("gemma-3n-e2b-it-text-l10/gen-b2-s2048-new8", "gemma-3n-e2b-it-text", 10, "generate",
     dict(batch=2, seq=2048, new=8)),
    ("gemma-3n-e4b-it-text-l10/train-amp-adamw-fused-b1-s2048", "gemma-3n-e4b-it-text", 10, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=True)),
    ("gemma-3n-e2b-it-text-l10/train-bf16-adamw-fused-ckpt-b2-s2048", "gemma-3n-e2b-it-text", 10, "train",
     dict(batch=2, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    # listed before it was run, after the two training cases above had fixed the AltUp model (a blind check)
    ("gemma-3n-e2b-it-text-l10/train-bf16-adamw-fused-b1-s2048", "gemma-3n-e2b-it-text", 10, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False)),
    # one global layer (k_eq_v, 2 kv heads × 512) among 6; MoE block beside the MLP
    ("gemma-4-26b-a4b-text-l6/gen-b2-s4096-new8", "gemma-4-26b-a4b-text", 6, "generate",
     dict(batch=2, seq=4096, new=8)),
    ("gemma-4-31b-it-text-l6/train-bf16-adamw-fused-ckpt-b1-s2048", "gemma-4-31b-it-text", 6, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    # image-text models on text-only inputs: the text model runs, the tower's weights are held
    ("llava-1.5-7b-hf-l4/gen-b2-s2048-new8", "llava-1.5-7b-hf", 4, "generate", dict(batch=2, seq=2048, new=8)),
    ("llava-1.5-7b-hf-l2/train-bf16-adamw-fused-ckpt-b1-s2048", "llava-1.5-7b-hf", 2, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    ("qwen2.5-vl-7b-instruct-l4/gen-b2-s2048-new8", "qwen2.5-vl-7b-instruct", 4, "generate",
     dict(batch=2, seq=2048, new=8)),
    ("qwen2.5-vl-7b-instruct-l2/train-bf16-adamw-fused-ckpt-b1-s2048", "qwen2.5-vl-7b-instruct", 2, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    ("deepseek-v3.2-l2/train-bf16-adamw-fused-ckpt-b1-s1024", "deepseek-v3.2", 2, "train",
     dict(batch=1, seq=1024, opt="adamw-fused", amp=False, ckpt=True)),
    # the other image-text families on text-only inputs (catalog configs; idefics3: Idefics3Config's defaults)
    ("qwen3-vl-8b-instruct-l4/gen-b2-s2048-new8", "catalog:qwen3-vl-8b-instruct", 4, "generate",
     dict(batch=2, seq=2048, new=8)),
    ("qwen3-vl-8b-instruct-l2/train-bf16-adamw-fused-ckpt-b1-s2048", "catalog:qwen3-vl-8b-instruct", 2, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    ("qwen3-vl-30b-a3b-instruct-l2/gen-b2-s2048-new8", "catalog:qwen3-vl-30b-a3b-instruct", 2, "generate",
     dict(batch=2, seq=2048, new=8)),
    ("qwen3-vl-30b-a3b-instruct-l2/train-bf16-adamw-fused-ckpt-b1-s2048", "catalog:qwen3-vl-30b-a3b-instruct", 2,
     "train", dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    # 5 layers: self-attention at 0-2 and 4, cross-attention at 3 (it has no image states: skipped on text)
    ("llama-3.2-11b-vision-l5/gen-b2-s2048-new8", "llama-3.2-11b-vision", 5, "generate",
     dict(batch=2, seq=2048, new=8)),
    ("llama-3.2-11b-vision-l5/train-bf16-adamw-fused-ckpt-b1-s2048", "llama-3.2-11b-vision", 5, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    ("idefics3-default-l4/gen-b2-s2048-new8", "default:idefics3", 4, "generate", dict(batch=2, seq=2048, new=8)),
    ("idefics3-default-l2/train-bf16-adamw-fused-ckpt-b1-s2048", "default:idefics3", 2, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    # with images (tools/simulate_images.py: the prompt carries each image's placeholder tokens; 1,024² px)
    ("llava-1.5-7b-hf-l4/gen-img1-b2-s2048-new8", "llava-1.5-7b-hf", 4, "generate",
     dict(batch=2, seq=2048, new=8, images=1)),
    ("llava-1.5-7b-hf-l2/train-img1-bf16-adamw-fused-ckpt-b1-s2048", "llava-1.5-7b-hf", 2, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True, images=1)),
    ("qwen2.5-vl-7b-instruct-l4/gen-img1-b2-s2048-new8", "qwen2.5-vl-7b-instruct", 4, "generate",
     dict(batch=2, seq=2048, new=8, images=1)),
    ("qwen2.5-vl-7b-instruct-l2/train-img1-bf16-adamw-fused-ckpt-b1-s2048", "qwen2.5-vl-7b-instruct", 2, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True, images=1)),
    ("qwen3-vl-8b-instruct-l4/gen-img1-b2-s2048-new8", "catalog:qwen3-vl-8b-instruct", 4, "generate",
     dict(batch=2, seq=2048, new=8, images=1)),
    ("qwen3-vl-8b-instruct-l2/train-img1-bf16-adamw-fused-ckpt-b1-s2048", "catalog:qwen3-vl-8b-instruct", 2, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True, images=1)),
    # listed before they were run, after the three generate cases above had fixed what the images leave alive while
    # the text runs (memory/images.held_during_text): a blind check, two images per sequence, the MoE text model
    ("qwen2.5-vl-7b-instruct-l4/gen-img2-b1-s1024-new8", "qwen2.5-vl-7b-instruct", 4, "generate",
     dict(batch=1, seq=1024, new=8, images=2)),
    ("qwen3-vl-30b-a3b-instruct-l2/gen-img2-b1-s1024-new8", "catalog:qwen3-vl-30b-a3b-instruct", 2, "generate",
     dict(batch=1, seq=1024, new=8, images=2)),
    # Llama 3.2 Vision with one image of 4 tiles: the cross-attention layer (3 of 5) attends to its 4 × 1,601 tokens
    ("llama-3.2-11b-vision-l5/gen-img1-b2-s2048-new8", "llama-3.2-11b-vision", 5, "generate",
     dict(batch=2, seq=2048, new=8, images=1)),
    # listed before it was run, after the case above had fixed the encoder's moment (a blind check): two images
    ("llama-3.2-11b-vision-l5/gen-img2-b1-s1024-new8", "llama-3.2-11b-vision", 5, "generate",
     dict(batch=1, seq=1024, new=8, images=2)),
    # Qwen3.5 (3 gated delta-net layers + 1 full-attention layer, as the real schedule starts), its MoE sibling and
    # Mistral 3 (image-text, text-only inputs): recorded before memfit's error on them was looked at
    ("qwen3.5-27b-l4/gen-b2-s2048-new8", "catalog:qwen3.5-27b", 4, "generate", dict(batch=2, seq=2048, new=8)),
    ("qwen3.5-27b-l4/train-bf16-adamw-fused-ckpt-b1-s2048", "catalog:qwen3.5-27b", 4, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    ("qwen3.5-35b-a3b-l4/gen-b2-s2048-new8", "catalog:qwen3.5-35b-a3b", 4, "generate",
     dict(batch=2, seq=2048, new=8)),
    ("qwen3.5-35b-a3b-l4/train-bf16-adamw-fused-ckpt-b1-s2048", "catalog:qwen3.5-35b-a3b", 4, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    ("ministral-3-8b-instruct-2512-l4/gen-b2-s2048-new8", "catalog:ministral-3-8b-instruct-2512", 4, "generate",
     dict(batch=2, seq=2048, new=8)),
    ("ministral-3-8b-instruct-2512-l2/train-bf16-adamw-fused-ckpt-b1-s2048", "catalog:ministral-3-8b-instruct-2512",
     2, "train", dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)),
    # moved from the families held-out set (issue 12: its device total was -3.63 %);
    # gemma-3n-e2b-it-text-l10/train-bf16-adamw-fused-ckpt-b2-s1536 was listed blind in its place
    ("gemma-3n-e4b-it-text-l10/train-bf16-adamw-fused-ckpt-b1-s3072", "gemma-3n-e4b-it-text", 10, "train",
     dict(batch=1, seq=3072, opt="adamw-fused", amp=False, ckpt=True)),
    # moved from the blind image training set (issue 12, l12img: allocated -27.97 %, device total -25.19 %);
    # llama-3.2-11b-vision-l4/train-img1-bf16-adamw-fused-ckpt-b1-s1536 was listed blind in its place
    ("llama-3.2-11b-vision-l5/train-img1-bf16-adamw-fused-ckpt-b1-s1024", "llama-3.2-11b-vision", 5, "train",
     dict(batch=1, seq=1024, opt="adamw-fused", amp=False, ckpt=True, images=1)),
    # moved from the blind image training set (issue 12, l12img: allocated +5.03 %, device total +2.32 %);
    # llava-1.5-7b-hf-l2/train-img2-bf16-adamw-fused-b1-s768 was listed blind in its place
    ("llava-1.5-7b-hf-l2/train-img1-bf16-adamw-fused-b1-s1024", "llava-1.5-7b-hf", 2, "train",
     dict(batch=1, seq=1024, opt="adamw-fused", amp=False, images=1)),
    # moved from the blind image training set (issue 12, l12place: allocated +1.16 %, device total +6.85 %, its own
    # simulated peak stable within 0.3 % with 1 % of its 1-10 MiB tensors gone: a replay miss, not placement noise);
    # qwen3-vl-4b-instruct-l3/train-img1-bf16-adamw-fused-ckpt-b1-s2048 was listed blind in its place
    ("qwen3-vl-32b-instruct-l2/train-img1-bf16-adamw-fused-ckpt-b1-s2048", "catalog:qwen3-vl-32b-instruct", 2, "train",
     dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True, images=1)),
    # moved from the blind image training set (issue 12, l12ckpt: device total -0.31 %, allocated +0.37 % on main;
    # -6.59 % with the checkpointed recomputation's early stop, before anything was fixed from it);
    # qwen3-vl-30b-a3b-instruct-l3/train-img1-bf16-adamw-fused-ckpt-b1-s1024 was listed blind in its place
    ("qwen3-vl-30b-a3b-instruct-l2/train-img1-bf16-adamw-fused-ckpt-b1-s1536", "catalog:qwen3-vl-30b-a3b-instruct", 2,
     "train", dict(batch=1, seq=1536, opt="adamw-fused", amp=False, ckpt=True, images=1)),
    # moved from the blind image training set (issue 12, l12ckpt2: device total -0.36 %, allocated -0.02 % on main;
    # +4.20 % with the checkpointed recomputation's early stop and the Qwen3-VL tower backward replayed tensor by
    # tensor, before anything was read or fixed from it);
    # qwen3-vl-30b-a3b-instruct-l4/train-img1-bf16-adamw-fused-ckpt-b1-s1536 was listed blind in its place
    ("qwen3-vl-30b-a3b-instruct-l3/train-img1-bf16-adamw-fused-ckpt-b1-s1024", "catalog:qwen3-vl-30b-a3b-instruct", 3,
     "train", dict(batch=1, seq=1024, opt="adamw-fused", amp=False, ckpt=True, images=1)),
]


# text-config keys set on a scaled config (the real value does not fit fewer layers): the KV-shared tail
OVERRIDES: dict[str, dict[str, Any]] = {
    "gemma-3n-e2b-it-text": {"num_kv_shared_layers": 5},  # of 10 layers: 4 sliding + 1 full share their caches
    "gemma-3n-e4b-it-text": {"num_kv_shared_layers": 5},
    # GPTNeoConfig's attention_types must expand to num_layers (configuration_gpt_neo.py), which its dict spells
    # num_layers (not num_hidden_layers): the sweep's 4 layers, global and local alternating as in the checkpoint
    "default:gpt_neo": {"num_layers": 4, "attention_types": [[["global", "local"], 2]],
                        "attention_layers": ["global", "local", "global", "local"]},
    # HunYuanDenseV1Config() leaves head_dim None, which HunYuanDenseV1Attention.__init__ raises to -0.5
    # (modeling_hunyuan_v1_dense.py): the model cannot be built as is; 128 = hidden_size / num_attention_heads, the
    # head_dim of the published tencent/Hunyuan-7B-Instruct config.json
    "default:hunyuan_v1_dense": {"head_dim": 128},
}


def _base_config(name: str) -> dict[str, Any]:
    """A real config: a key of new_configs.json, ``catalog:<id>`` (a catalog config), ``sweep:<name>`` (a key of
    sweep_configs.json) or ``default:<model_type>`` (transformers' default config of that model type)."""
    if name.startswith("sweep:"):
        return copy.deepcopy(json.loads(SWEEP.read_text())[name[6:]]["config"])  # type: ignore[no-any-return]
    if name.startswith("catalog:"):
        return json.loads((REPO / "src/memfit/data/models" / f"{name[8:]}.json").read_text())  # type: ignore[no-any-return]
    if name.startswith("default:"):
        import transformers

        return transformers.AutoConfig.for_model(name[8:]).to_dict()  # type: ignore[no-any-return]
    return copy.deepcopy(json.loads(NEW.read_text())[name]["config"])  # type: ignore[no-any-return]


def scaled_config(name: str, layers: int, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The transformers config dict of a real config cut to ``layers`` layers (every per-layer list cut too);
    ``overrides`` (a list row's own text-config keys, set last; a key set to None is dropped) edits a default config
    that does not build cut."""
    raw = _base_config(name)
    raw.pop("quantization_config", None)  # the simulator builds the bf16 model
    text = raw.get("text_config") if isinstance(raw.get("text_config"), dict) else raw
    full = text.get("num_hidden_layers", 32)  # (LLaVA's text_config leaves LlamaConfig's 32 layers implicit)
    text["num_hidden_layers"] = layers
    for key, value in list(text.items()):
        if isinstance(value, list) and len(value) == full:
            text[key] = value[:layers]
    if isinstance(text.get("cross_attention_layers"), list):  # mllama: the cross-attention layers kept
        text["cross_attention_layers"] = [i for i in text["cross_attention_layers"] if i < layers]
    text.update(OVERRIDES.get(name, {}))
    text.update(overrides or {})
    for key in [k for k, v in (overrides or {}).items() if v is None]:  # e.g. a config that refuses the key
        del text[key]
    return sm.config_from_dict(raw).to_dict()  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    sf.build_image_text_classes()
    jobs: list[sf.Job] = [(name, f"{model.split(':')[-1]}-l{layers}", model, kind, p,
                           lambda model=model, layers=layers: scaled_config(model, layers))
                          for name, model, layers, kind, p in CASES]
    return sf.run_jobs(jobs, OUT, "simulate_families_new.py", argv)


if __name__ == "__main__":
    sys.exit(main())
