"""LoRA under FSDP1 (``--fsdp-version 1``, memory/training/fsdp1_lora.py): flat parameters per wrapped unit, the
moments that hold them, the routing, and the bad value. The simulated FSDP1 ranks (tests/data/parallel/
fsdp1-dev.jsonl, fsdp1-heldout.jsonl) are held in tests/test_accuracy.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit.errors import ConfigError
from memfit.memory.activations import LayerActivations, ModelActivations
from memfit.memory.loss_release import checkpoint_wraps_call
from memfit.memory.training import estimate_training
from memfit.memory.training.fsdp1_lora import (
    _precision,
    adapter_units,
    first_adapter_backward,
    flat_units,
    fsdp1_moments,
    held_inputs,
    input_norm_backward,
    lazy_init_segments,
    unshard_pool,
)
from memfit.sources.hf_config import spec_from_config
from memfit.workload import Workload

CONFIGS = Path(__file__).resolve().parents[1] / "src" / "memfit" / "data" / "models"


def _spec(name: str, layers: int | None = None):  # type: ignore[no-untyped-def]
    cfg = json.loads((CONFIGS / f"{name}.json").read_text())
    if layers is not None:
        cfg["num_hidden_layers"] = layers
    return spec_from_config(cfg, name)


def test_flat_units_pad_each_unit_to_the_shard_group() -> None:
    # Llama-3.2-1B: a decoder layer is q, o (2048 x 2048), k, v (512 x 2048), gate, up, down (2048 x 8192) and two
    # 2048 norms = 60,821,504 elements; the root the tied 128,256 x 2048 embedding and the final norm = 262,670,336
    spec = _spec("llama-3.2-1b", 2)
    layer, root = 2 * 2048 * 2048 + 2 * 512 * 2048 + 3 * 2048 * 8192 + 2 * 2048, 128256 * 2048 + 2048
    assert (layer, root) == (60_821_504, 262_670_336)
    assert flat_units(spec, 4) == ([layer, layer], root, 2 * layer // 4 + root // 4)
    # over 3 ranks each flat parameter is padded to a multiple of 3 before chunking (FlatParamHandle._get_shard)
    per, root_s = -(-layer // 3), -(-root // 3)
    assert flat_units(spec, 3) == ([3 * per, 3 * per], 3 * root_s, 2 * per + root_s)


def test_adapters_are_their_own_units() -> None:
    spec = _spec("llama-3.2-1b", 2)
    wl = Workload(mode="lora", lora_rank=16, lora_targets=("q_proj", "v_proj"), gpus=2, zero=3)
    own, root, sharded = adapter_units(spec, wl, 2)
    q, v = 16 * (2048 + 2048), 16 * (2048 + 512)  # lora_A (r, in) + lora_B (out, r)
    assert own == [q + v, q + v] and root == 0 and sharded == 2 * (q + v) // 2


def test_moments_hold_one_copy_of_the_units_in_flight() -> None:
    """FSDP1's parameters are views into the unit's unsharded flat buffer: forward holds the root and the current
    layer, the loss only the root (each layer resharded at its post-forward), the loss's backward the last layer too
    (the root's BACKWARD_PRE prefetch); a layer's backward holds the one below only from its attention's input
    projections on (peft's wrap policy puts the adapters' units between the layers in post-forward order)."""
    la = LayerActivations(saved=100, attention_core=0, checkpoint=10, forward_extra=5, backward_extra=7, weight_casts=0)
    acts = ModelActivations(layers=(la, la, la), outside=1, loss_saved=1000, loss_forward_extra=2000,
                            loss_backward_extra=3000, head_weight_casts=0, embedding_backward_extra=0)
    U, R = [50_000, 60_000, 70_000], 9_000
    m = fsdp1_moments(acts, U, R, True, True, [4, 4, 4], [2, 2, 2], 4)
    assert m["forward (layer 1)"].gathered == R + U[1]
    assert m["forward (loss)"].gathered == R
    assert m["backward (loss)"].gathered == R + U[2]
    # the layer below is prefetched by the layer's first adapter unit, whose backward (q_proj's) comes last
    assert m["backward (layer 2)"].gathered == R + U[2]
    assert m["backward (layer 2, attention inputs)"].gathered == R + U[2] + U[1]
    assert m["backward (layer 0)"].gathered == R + U[0] and "backward (layer 0, attention inputs)" not in m
    assert m["backward (layer 1)"].activations == 1 + 10 + 7 + 10 + 100  # two inputs kept below, the recomputed layer
    assert m["backward (layer 1, attention inputs)"].activations == 1 + 10 + 10  # + its attention core (0 here)
    assert m["backward (layer 0)"].gradients == 4  # the adapters of layers 1 and 2 reduce-scattered
    # SHARD_GRAD_OP keeps every layer gathered from its forward to its backward
    m2 = fsdp1_moments(acts, U, R, False, True, [4, 4, 4], [2, 2, 2], 4)
    assert m2["forward (loss)"].gathered == R + sum(U)


def test_input_norm_backward_runs_with_the_layer_below_prefetched() -> None:
    """A layer's input norm's backward comes after q_proj's lora_A unit prefetched the layer below: its fp32 chain
    (LlamaRMSNorm's autograd nodes, the weight frozen) is priced with two layers gathered
    (fsdp1_lora.input_norm_backward).
    Mixtral-8x7B cut to 2 layers, b2 s1024 (fsdp1-dev's case, whose simulated peak this is): 2,048 tokens x 4,096 x 4 B
    = 33,554,432 B per fp32 tensor; x's fp32 copy and five chain tensors (direct, mean's, pow's three) = 201,326,592.
    An fp32 stream keeps no copy (x is the stream): five. Phi-3.5-MoE's LayerNorm and Gemma's (1 + w) norm: not this
    chain."""
    spec = _spec("mixtral-8x7b-v0.1", 2)
    assert input_norm_backward(spec, 2 * 1024, 2) == 6 * 2048 * 4096 * 4 == 201_326_592
    assert input_norm_backward(spec, 2 * 1024, 4) == 5 * 2048 * 4096 * 4 == 167_772_160
    assert input_norm_backward(_spec("phi-3.5-moe-instruct", 2), 2048, 2) == 0
    assert input_norm_backward(_spec("gemma-2-2b", 2), 2048, 2) == 0
    la = LayerActivations(saved=100, attention_core=3, checkpoint=10, forward_extra=5, backward_extra=7, weight_casts=0)
    acts = ModelActivations(layers=(la, la, la), outside=1, loss_saved=1000, loss_forward_extra=2000,
                            loss_backward_extra=3000, head_weight_casts=0, embedding_backward_extra=0)
    U, R = [50_000, 60_000, 70_000], 9_000
    m = fsdp1_moments(acts, U, R, True, True, [4, 4, 4], [2, 2, 2], 4, norm=500)
    # outside 1, layer 0's input 10, layer 2's own input 10, the attention core 3, then the norm's 500
    assert m["backward (layer 2, input norm)"].activations == 1 + 2 * 10 + 10 + 3 + 500
    assert m["backward (layer 1, input norm)"].activations == 1 + 10 + 10 + 3 + 500
    assert m["backward (layer 1, input norm)"].gathered == R + U[1] + U[0]
    assert "backward (layer 0, input norm)" not in m  # nothing below layer 0 to prefetch: its own moment holds more
    # without prefetch (the checkpoint around the units, transformers < 4.52) the norm runs with one layer gathered
    assert not any("input norm" in k for k in fsdp1_moments(acts, U, R, True, True, [4] * 3, [2] * 3, 4, True, 500))


def test_first_adapter_backward_holds_q_lora_a_input_and_its_gradient() -> None:
    """q_proj's lora_A unit prefetches the layer below as its backward starts (fsdp1_lora.first_adapter_backward):
    alive then beyond the tail, per token of Phi-3.5-MoE (hidden 4,096, 32 heads x 128, bf16 base, fp32 adapters,
    dropout 0.1): the dropped fp32 input 4 x 4,096 and its mask 4,096, lora_A's input gradient 4 x 4,096, the base
    q_proj's output gradient 2 x 4,096, the k / v input gradients added into one 2 x 4,096 = 53,248 B; b1 s4096
    (fsdp1-dev's case, whose simulated peak this is): x 4,096 = 218,103,808. No dropout: the fp32 cast alone kept
    (49,152 B a token). q_proj without an adapter: 0."""
    spec = _spec("phi-3.5-moe-instruct", 2)
    wl = Workload(mode="lora", lora_rank=16, lora_targets=("q_proj", "k_proj", "v_proj", "o_proj"), lora_dropout=0.1,
                  batch=1, context=4096, gpus=2, zero=3, fsdp_version=1, dtype="bfloat16", mixed_precision=False,
                  checkpointing="full").validate()
    assert first_adapter_backward(spec, _precision(spec, wl), 4096) == 53_248 * 4096 == 218_103_808
    no_drop = wl.replace(lora_dropout=0.0).validate()
    assert first_adapter_backward(spec, _precision(spec, no_drop), 4096) == 49_152 * 4096
    v_only = wl.replace(lora_targets=("v_proj",)).validate()
    assert first_adapter_backward(spec, _precision(spec, v_only), 4096) == 0
    la = LayerActivations(saved=100, attention_core=3, checkpoint=10, forward_extra=5, backward_extra=7, weight_casts=0)
    acts = ModelActivations(layers=(la, la), outside=1, loss_saved=1000, loss_forward_extra=2000,
                            loss_backward_extra=3000, head_weight_casts=0, embedding_backward_extra=0)
    m = fsdp1_moments(acts, [50, 60], 9, True, True, [4, 4], [2, 2], 4, norm=500, first_adapter=70)
    assert m["backward (layer 1, attention inputs)"].activations == 1 + 10 + 10 + 3 + 70
    assert m["backward (layer 1, input norm)"].activations == 1 + 10 + 10 + 3 + 500  # q's tensors freed by then


def test_checkpoint_around_the_unit_keeps_each_input_and_its_gradient() -> None:
    """transformers before 4.52 checkpoints around each layer's FSDP1 unit: the reshard-only hook the recompute puts on
    the detached input keeps that input and its gradient to the end of the backward (fsdp1_lora.held_inputs)."""
    assert checkpoint_wraps_call("4.48.1") and checkpoint_wraps_call("4.51.3")
    assert not checkpoint_wraps_call("4.52.0") and not checkpoint_wraps_call("5.0") and not checkpoint_wraps_call(None)
    la = LayerActivations(saved=100, attention_core=0, checkpoint=10, forward_extra=5, backward_extra=7, weight_casts=0)
    acts = ModelActivations(layers=(la, la, la, la), outside=1, loss_saved=1000, loss_forward_extra=2000,
                            loss_backward_extra=3000, head_weight_casts=0, embedding_backward_extra=0)
    # layer 0's backward: the inputs of layers 1-3 (3 x 10) and the gradients of the inputs of layers 2 and 3 (2 x 10;
    # layer 1's input gradient is layer 0's output gradient, in its own moment)
    assert held_inputs(acts, 0) == 50 and held_inputs(acts, 2) == 10 and held_inputs(acts, 3) == 0
    U, R = [50_000] * 4, 9_000
    m = fsdp1_moments(acts, U, R, True, True, [4] * 4, [2] * 4, 4, around=True)
    assert m["backward (layer 0)"].activations == 1 + 0 + 7 + 10 + 100 + 50
    # and no layer is prefetched: the checkpoint's forward ran each unit without grad, so no unit has
    # _needs_pre_backward_unshard until its own recompute (the loss's backward holds only the root)
    assert m["backward (loss)"].gathered == R and m["backward (layer 1)"].gathered == R + U[1]
    assert not any("attention inputs" in k for k in m)
    assert m["forward (loss)"].activations == fsdp1_moments(acts, U, R, True, True, [4] * 4, [2] * 4, 4)[
        "forward (loss)"].activations


def test_unshard_stream_keeps_the_root_and_two_layers() -> None:
    """FULL_SHARD frees a layer's flat buffer behind record_stream; under peft's wrap the adapter units' free events let
    limit_all_gathers sync past it before the next layer is gathered (tools/simulate_fsdp1.py's emulation): root +
    the two largest layers, each block rounded to 2 MiB; SHARD_GRAD_OP keeps every layer."""
    mib = 1 << 20
    U, R = [10 * mib + 1, 30 * mib, 20 * mib, 40 * mib], 6 * mib
    assert unshard_pool(U, R, True) == 6 * mib + 40 * mib + 30 * mib
    assert unshard_pool(U, R, False) == 6 * mib + 12 * mib + 30 * mib + 20 * mib + 40 * mib


def test_lazy_init_leaves_each_units_buffer_cached_on_the_default_stream() -> None:
    """init_flat_param_attributes allocates and frees every unit's unsharded buffer on the default stream, the root
    first, then the layers in order: a new segment whenever no freed block holds the unit (c10 rounding: under
    10 MiB a 20 MiB segment, else the request rounded to 2 MiB)."""
    mib = 1 << 20
    # root 3 Mi elements x 2 B = 6 MiB -> a 20 MiB segment; each layer 15 Mi x 2 B = 30 MiB -> one 30 MiB segment, the
    # second layer reuses it
    assert lazy_init_segments([15 * mib, 15 * mib], 3 * mib, 2, 2, 2) == 20 * mib + 30 * mib
    # a root larger than the layers (40 MiB): the layers reuse its block
    assert lazy_init_segments([15 * mib, 15 * mib], 20 * mib, 2, 2, 2) == 40 * mib
    # bf16 MixedPrecision on fp32 parameters: _mp_shard (the shard in bf16), _full_param_padded (bf16), then
    # _full_prec_full_param_padded (fp32). Root: 3, 6, 12 MiB, all in one 20 MiB segment; a layer: 15 MiB (fits the
    # 20), 30 MiB (new), 60 MiB (new); the second layer reuses them
    assert lazy_init_segments([15 * mib, 15 * mib], 3 * mib, 2, 2, 4) == 20 * mib + 30 * mib + 60 * mib


def test_lazy_init_under_mixed_precision_matches_a_traced_rank() -> None:
    """Mistral-7B cut to 2 layers, fp32 parameters under MixedPrecision(param_dtype=bf16), 2 ranks: the root's
    268,439,552 elements give a 268,439,552 B bf16 shard (segment 270,532,608), a 536,879,104 B bf16 buffer (a new
    538,968,064 segment) and a 1,073,758,208 B fp32 one (1,075,838,976); a layer's 218,112,000 elements (436 MB bf16,
    872 MB fp32) fit the freed blocks. The trace of that rank (tools/simulate_fsdp1.py with the policy added) opened
    exactly these three default-stream segments before the first layer."""
    spec = _spec("mistral-7b-v0.3", 2)
    layers, root, _ = flat_units(spec, 2)
    assert (root, layers) == (268_439_552, [218_112_000, 218_112_000])
    assert lazy_init_segments(layers, root, 2, 2, 4) == 270_532_608 + 538_968_064 + 1_075_838_976


def test_lazy_init_blocks_count_where_the_default_stream_needs_less() -> None:
    """Mixtral-8x7B cut to 2 layers on 2 ranks (b2 s1024, attention adapters): the default stream holds the sharded
    base (about 3.2 GB) and, from the lazy init, the root's and a layer's unsharded buffers (0.53 + 2.9 GB), more
    than its activations ever ask; the reserve counts them (the simulated rank's default stream: 6.68 GB)."""
    spec = _spec("mixtral-8x7b-v0.1", 2)
    wl = Workload(mode="lora", batch=2, context=1024, gpus=2, zero=3, fsdp_version=1, dtype="bfloat16",
                  mixed_precision=False, checkpointing="full", optimizer="adamw-foreach",
                  lora_targets=("q_proj", "k_proj", "v_proj", "o_proj")).validate()
    est = estimate_training(spec, wl)
    layers, root, _ = flat_units(spec, 2)
    segs = lazy_init_segments(layers, root, 2, 2, 2)
    rnd = 2 << 20
    assert segs == -(-root * 2 // rnd) * rnd + -(-layers[0] * 2 // rnd) * rnd
    # the default stream is then what the lazy init left (sharded base, adapters, two cuBLAS workspaces, the init's
    # segments) and the unshard stream its pool: allocated + reserve is their sum
    comp = {c.name: c for c in est.components}
    at_init = comp["weights"].bytes + comp["lora_weights"].bytes + comp["overhead"].bytes + segs
    assert est.allocated_bytes + comp["allocator_reserve"].bytes == at_init + unshard_pool(
        [n * 2 for n in layers], root * 2, True)
    assert "lazy init" in comp["allocator_reserve"].formula


def test_fsdp_version_routes_lora_ranks() -> None:
    spec = _spec("mistral-7b-v0.3", 4)
    wl = Workload(mode="lora", batch=1, context=2048, gpus=2, zero=3, dtype="bfloat16", mixed_precision=False,
                  checkpointing="full")
    one = estimate_training(spec, wl.replace(fsdp_version=1).validate())
    two = estimate_training(spec, wl.validate())
    assert one.notes[0].startswith("2 GPUs: FSDP1 FULL_SHARD") and "FSDP2" in two.notes[0]
    assert one.details["fsdp_version"] == 1
    # the FSDP2 rank keeps a layer's all-gather output beside its parameters; FSDP1's parameters are views
    g1 = next(c.bytes for c in one.components if c.name == "fsdp_gathered")
    g2 = next(c.bytes for c in two.components if c.name == "fsdp_gathered")
    assert g1 < g2


def test_fsdp1_full_fine_tuning_says_how_it_is_priced() -> None:
    spec = _spec("llama-3.2-1b", 2)
    est = estimate_training(spec, Workload(mode="train", batch=1, context=1024, gpus=2, zero=3,
                                           fsdp_version=1).validate())
    assert any("priced as FSDP2" in n for n in est.notes)


def test_bad_fsdp_version_is_one_line() -> None:
    with pytest.raises(ConfigError, match="fsdp_version"):
        Workload(mode="lora", gpus=2, zero=3, fsdp_version=3).validate()
