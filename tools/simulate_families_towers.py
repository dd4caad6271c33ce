"""Simulated cases for the image(-audio)-text families whose towers ``sources/families/towers_recent.py`` counts
(tests/data/simulated/families-towers.jsonl): Gemma 4 with its vision tower, Gemma 4 unified with its embedders,
Gemma 3n with its MobileNet-V5 (timm) and audio towers.

Developer tool, not part of the memfit package: the same simulator and record format as
``tools/simulate_families.py``. The inputs are text only (the simulator feeds token ids): the text model runs and
the towers' weights are held (and, in training, take no gradient and no optimizer state). The configs are the
config classes' defaults with the text model cut to fewer layers. Gemma 3n's cases need timm importable (its vision
tower is built by ``timm.create_model``); without it they fail and the recorded ones are kept. The recorded ones ran
with timm 1.0.31 (PyPI) outside the shared environment, torchvision's imports that timm makes at load (data
transforms, datasets; none used by a meta or fake build) stubbed.

Usage:  python tools/simulate_families_towers.py [--only NAME,...] [--out PATH]
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import simulate_families as sf  # the record format beside this file
import simulate_memory as sm

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "data" / "simulated" / "families-towers.jsonl"

_GEN = dict(batch=2, seq=2048, new=8)
_TRAIN = dict(batch=1, seq=2048, opt="adamw-fused", amp=False, ckpt=True)
# (case name, model type, text layers kept, kind, workload parameters)
CASES: list[tuple[str, str, int, str, dict[str, Any]]] = [
    ("gemma4-vision-l6/gen-b2-s2048-new8", "gemma4", 6, "generate", _GEN),
    ("gemma4-vision-l6/train-bf16-adamw-fused-ckpt-b1-s2048", "gemma4", 6, "train", _TRAIN),
    ("gemma4-unified-l6/gen-b2-s2048-new8", "gemma4_unified", 6, "generate", _GEN),
    ("gemma4-unified-l6/train-bf16-adamw-fused-ckpt-b1-s2048", "gemma4_unified", 6, "train", _TRAIN),
    ("gemma3n-l10/gen-b2-s2048-new8", "gemma3n", 10, "generate", _GEN),
    ("gemma3n-l10/train-bf16-adamw-fused-ckpt-b1-s2048", "gemma3n", 10, "train", _TRAIN),
    # moved from the families held-out set (issue 12: its device total was -3.03 %);
    # gemma4-vision-l5/train-bf16-adamw-fused-b2-s1024 was listed blind in its place
    ("gemma4-vision-l4/train-bf16-adamw-fused-b1-s1536", "gemma4", 4, "train",
     dict(batch=1, seq=1536, opt="adamw-fused", amp=False)),
]


def scaled_config(model_type: str, layers: int) -> dict[str, Any]:
    """The default image-text config with its towers and the text model cut to ``layers`` layers."""
    import transformers

    text: dict[str, Any] = {"num_hidden_layers": layers}
    if model_type == "gemma4":
        # vision only (the 26B and 31B shape): the audio tower runs eager attention only, and the simulator asks
        # every sub-model for SDPA
        conf = transformers.Gemma4Config(vision_config={}, text_config=text)
    elif model_type == "gemma4_unified":  # the vision and audio embedders (no towers)
        conf = transformers.Gemma4UnifiedConfig(vision_config={}, audio_config={}, text_config=text)
    else:  # gemma3n: the KV-shared tail cut with the layers (5 of 10 share the earlier caches)
        full = transformers.Gemma3nTextConfig()
        text.update(num_kv_shared_layers=5, layer_types=full.layer_types[:layers],
                    activation_sparsity_pattern=full.activation_sparsity_pattern[:layers],
                    intermediate_size=full.intermediate_size[:layers])
        conf = transformers.Gemma3nConfig(text_config=text)
    return sm.config_from_dict({**conf.to_dict(), "model_type": model_type}).to_dict()  # type: ignore[no-any-return]


def main(argv: list[str] | None = None) -> int:
    jobs: list[sf.Job] = [(name, name.split("/")[0], model_type, kind, p,
                           lambda model_type=model_type, layers=layers: scaled_config(model_type, layers))
                          for name, model_type, layers, kind, p in CASES]
    return sf.run_jobs(jobs, OUT, "simulate_families_towers.py", argv, save_each=True)


if __name__ == "__main__":
    sys.exit(main())
