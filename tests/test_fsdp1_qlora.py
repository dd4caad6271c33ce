"""QLoRA under FSDP1 (memory/training/fsdp1_qlora.py): trl's sharded path (no kbit preparation, bf16 adapters), the
4-bit weights packed in bf16 storage as flat-parameter elements, every QuantState whole on each rank. Values worked by
hand from bitsandbytes' quantize_4bit and FSDP1's FlatParamHandle; the published two-GPU rows are held in
tests/test_accuracy.py."""

from __future__ import annotations

import json
from pathlib import Path

from memfit.memory.activations import Precision
from memfit.memory.training import estimate_training
from memfit.memory.training.fsdp1_lora import flat_units
from memfit.memory.training.fsdp1_qlora import packed_elements, quant_layout, sharded_precision, uses_fsdp1_qlora
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

CONFIGS = Path(__file__).resolve().parents[1] / "src" / "memfit" / "data" / "models"


def _spec(name: str, layers: int):  # type: ignore[no-untyped-def]
    cfg = json.loads((CONFIGS / f"{name}.json").read_text())
    cfg["num_hidden_layers"] = layers
    return spec_from_config(cfg, name)


def _nf4_dq_stats(n: int) -> int:
    """bitsandbytes' QuantState of one nf4 double-quantized weight of n elements (block 64): uint8 absmax per block,
    fp32 absmax per 256 blocks, the offset, the nested 256-entry fp32 code and the 16-entry nf4 code."""
    blocks = -(-n // 64)
    return blocks + 4 * -(-blocks // 256) + 4 + 256 * 4 + 16 * 4


def test_packed_storage_is_a_quarter_of_the_weights_in_bf16() -> None:
    # quantize_4bit: out = zeros(((n + 1) // mod, 1), dtype=quant_storage), mod = 2 * itemsize (bf16: 4)
    assert packed_elements(2048 * 2048) == 1_048_576
    assert packed_elements(7) == 2  # (7 + 1) // 4


def test_layer_units_hold_packed_weights_and_16_bit_norms() -> None:
    # Llama-3.2-1B: q, o 2048 x 2048, k, v 512 x 2048, gate, up, down 2048 x 8192 quantized; two 2048 norms not;
    # the root (tied 128,256 x 2048 embedding, final norm) stays 16-bit
    spec = _spec("llama-3.2-1b", 2)
    big, small, mlp = 2048 * 2048, 512 * 2048, 2048 * 8192
    layer = 2 * big // 4 + 2 * small // 4 + 3 * mlp // 4 + 2 * 2048
    root = 128256 * 2048 + 2048
    stats = 2 * (2 * _nf4_dq_stats(big) + 2 * _nf4_dq_stats(small) + 3 * _nf4_dq_stats(mlp))
    assert (layer, stats) == (15_208_448, 2 * (2 * 67_652 + 2 * 17_732 + 3 * 267_332))
    assert quant_layout(spec, "nf4-dq") == ([layer, layer], root, stats)
    # FSDP1 pads each flat parameter to the shard group and gives each rank a chunk (FlatParamHandle._get_shard)
    assert flat_units(spec, 2, ([layer, layer], root)) == ([layer, layer], root, layer + root // 2)


def test_sharded_precision_keeps_the_stream_and_adapters_bf16() -> None:
    p = Precision(amp=True, weight_bytes=4, resid_bytes=4, full=False, quantized=True, embed_out_bytes=2)
    q = sharded_precision(p)
    assert (q.amp, q.weight_bytes, q.resid_bytes, q.adapter_bytes, q.embed_out_bytes, q.quantized) == \
        (False, 2, 2, 2, 0, True)


def test_qlora_under_fsdp1_is_priced_per_flat_parameter() -> None:
    spec = _spec("llama-3.2-1b", 2)
    wl = Workload(mode="qlora", quant="nf4-dq", lora_rank=16, lora_targets=("q_proj", "v_proj"), gpus=2, zero=3,
                  fsdp_version=1, batch=1, context=1024, checkpointing="full", qlora_prep="trl").validate()
    assert uses_fsdp1_qlora(wl, False) and not uses_fsdp1_qlora(wl, True)
    est = estimate_training(spec, wl)
    assert est.details["fsdp_version"] == 1
    comp = {c.name: c.bytes for c in est.components}
    layer, root = 15_208_448, 128256 * 2048 + 2048
    stats = 2 * (2 * 67_652 + 2 * 17_732 + 3 * 267_332)
    assert comp["weights"] == (layer + root // 2) * 2 + stats  # bf16 storage shards + whole QuantStates
    # bf16 adapters (peft casts them to the storage's dtype; trl's autocast_adapter_dtype=False), sharded over 2
    q, v = 16 * (2048 + 2048), 16 * (2048 + 512)
    assert comp["lora_weights"] == 2 * (2 * (q + v) // 2)
    assert any("sharded path" in n for n in est.notes)
    # the published two-GPU nvidia-smi peaks sit above the priced total: the estimate says so instead of a verdict
    assert any(n.startswith("UNVALIDATED device total for QLoRA under FSDP1") for n in est.notes)


def test_transformers_4_experts_are_quantized_one_by_one() -> None:
    # Mixtral-8x7B, one layer, transformers 4.x: q, o 4096 x 4096, k, v 1024 x 4096, the router 8 x 4096 and each
    # of the 8 experts' w1, w3 (14336 x 4096) and w2 (4096 x 14336) an nn.Linear that bitsandbytes packs on its own
    spec = _spec("mixtral-8x7b-v0.1", 1)
    q, kv, router, expert = 4096 * 4096, 1024 * 4096, 8 * 4096, 14336 * 4096
    layer = 2 * q // 4 + 2 * kv // 4 + router // 4 + 8 * 3 * (expert // 4) + 2 * 4096
    own, root, _stats = quant_layout(spec, "nf4-dq", "4.48.1")
    assert own == [layer] and root == 2 * 32000 * 4096 + 4096
    # transformers 5: the fused 3-D experts are no nn.Linear and stay 16-bit, the router too
    own5, _root5, _ = quant_layout(spec, "nf4-dq")
    assert own5 == [2 * q // 4 + 2 * kv // 4 + router + 8 * 3 * expert + 2 * 4096]
    wl = Workload(mode="qlora", quant="nf4-dq", gpus=2, zero=3, fsdp_version=1, transformers_version="4.48.1")
    assert uses_fsdp1_qlora(wl, True) and not uses_fsdp1_qlora(wl.replace(transformers_version=None), True)
