"""LoRA on a decoder layer's cross-attention that a causal LM never calls. PEFT matches ``target_modules`` by suffix
(peft 0.22 tuners/tuners_utils.py ``check_target_module_exists``), so ``q_proj`` / ``v_proj`` on a BART-family
decoder (transformers 5.25 ``BartDecoderLayer`` and its copies, here TrOCR's) adapt ``self_attn`` and
``encoder_attn`` alike; ``*DecoderLayer.forward`` runs ``encoder_attn`` only ``if encoder_hidden_states is not None``,
None for text, so the cross-attention's factors are built (fp32, ``requires_grad``) but get no gradient and fused
AdamW no state (torch/optim/adam.py ``_init_group`` takes only parameters whose ``.grad`` is set). The simulator's
trace of the development case trocr-relu-l2/lora-r8-qv-eager-b2-s900 (train-sweep-dev.jsonl) shows it: 16 factor
weights of 32 KiB built, 16 weight gradients over its two steps and 16 AdamW states (8 factors × 2), not 32."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from _simulated import records
from memfit.memory.training import estimate_training, model_states
from memfit.memory.training.states import lora_factors
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case

TRAIN = Path(__file__).resolve().parent / "data" / "simulated" / "train-sweep-dev.jsonl"
RELU_NO_DROP = "trocr-relu-l2/lora-r8-qv-eager-b2-s900"


def _case() -> tuple[Any, Any]:
    rec = next(r for r in records(TRAIN) if r.get("case") == RELU_NO_DROP)
    return spec_from_config(rec["config"], "trocr"), workload_for_case(str(rec["kind"]), dict(rec["params"])).validate()


def test_factors_built_and_trained() -> None:
    """Two layers × (self_attn, encoder_attn) × (q_proj, v_proj) × (lora_A 8 × 1,024, lora_B 1,024 × 8): 16 factors
    of 8,192 elements built, the 8 of ``self_attn`` trained."""
    spec, wl = _case()
    factors = lora_factors(spec, wl)
    assert [n for _layer, n, _trains in factors] == [8_192] * 16
    assert sum(trains for _layer, _n, trains in factors) == 8


def test_states_by_hand() -> None:
    """Adapters built: 16 × 8,192 = 131,072 fp32 parameters = 524,288 B; trained 65,536: gradients 262,144 B, fused
    AdamW's two states 524,288 B (the old code: 131,072 trained, states 1,048,576 B)."""
    spec, wl = _case()
    st = model_states(spec, wl)
    assert (st.lora, st.trainable, st.gradients, st.optimizer.state_bytes) == (524_288, 65_536, 262_144, 524_288)


def test_allocated_peak_loses_the_idle_states() -> None:
    """The peak (the loss's backward of the second step, AdamW's states alive) holds 524,288 B of states where the old
    code held 1,048,576 B: 995,489,904 - 524,288 = 994,965,616 B (the simulator's 985,703,936: +0.94 %, the rest an
    older term in the activations)."""
    spec, wl = _case()
    est = estimate_training(spec, wl)
    comps = {c.name: c.bytes for c in est.components}
    assert (comps["lora_weights"], comps["optimizer_states"]) == (524_288, 524_288)
    assert est.allocated_bytes == 994_965_616
