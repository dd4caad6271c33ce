"""BLT made with random weights on the device (issue 12, l12blt): transformers 5.25 models/blt/modeling_blt.py
``BltPreTrainedModel._init_weights`` fills every embedding and Linear with ``trunc_normal_(a=-3 std, b=3 std)``, whose
torch 2.12+ rejection sampling (memory/trunc_normal.py) runs over BltModel's hash n-gram table, one
``nn.Embedding`` of 500,002 x 6 rows x 1,024 (6 GB in bf16): the build's reserve the blind round 7 case missed."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from _simulated import case_record
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool_build import build_inference_weights
from memfit.memory.trunc_normal import redraw_rounds, rejection_rate
from memfit.sources.hf_config import spec_from_config
from memfit.sources.init_rows import init_rows

DATA = Path(__file__).resolve().parent / "data"
DEV = "blt-default-l2/fwd-nopatcher-b1-s1300"


def _case() -> dict[str, object]:
    return case_record(DATA / "simulated" / "sweep-dev.jsonl", DEV)


def test_blt_row_names_the_code_s_tensors() -> None:
    row = init_rows()["blt"]
    for name in (
        "model.encoder_hash_tok_embedding.weight",
        "model.local_encoder.embed_tokens.weight",
        "model.global_transformer.layers.0.self_attn.q_proj.weight",
        "model.local_decoder.cross_attn_layers.3.o_proj.weight",
        "model.local_decoder.layers.1.mlp.down_proj.weight",
        "model.local_encoder.patch_embedding_projection.weight",
        "lm_head.weight",
    ):
        assert row.tensors.search(name), name
    for name in (
        "model.local_decoder.norm.weight",
        "model.local_encoder.cross_attn_layers.0.q_norm.weight",
        "model.global_transformer.layers.0.input_layernorm.weight",
    ):
        assert not row.tensors.search(name), name  # norms: ones_
    spec = spec_from_config(_case()["config"], "dev")  # type: ignore[arg-type]
    assert spec.init_cutoff == 3.0  # a = -3 std, b = 3 std in the code; 0.0 (no row) before


def test_hash_table_rounds_by_hand() -> None:
    # +-3 std, normal proposal: a draw is out with r = erfc(3 / sqrt 2) = 0.0026998; the table has
    # 500,002 x 6 (byte-group sizes 3..8) x 1 function = 3,000,012 rows x 1,024 = 3,072,012,288 elements:
    # N r = 8.29e6, N r^2 = 22,392, N r^3 = 60.5, N r^4 = 0.163 <= ln 2 -> 3 rounds (median)
    r = math.erfc(3 / math.sqrt(2))
    assert rejection_rate(0.0, 1.0, -3.0, 3.0) == pytest.approx(r, rel=1e-12)
    assert r == pytest.approx(0.002699796063, rel=1e-9)
    assert redraw_rounds(3_000_012 * 1024, 0.0, 1.0, -3.0, 3.0) == 3


def test_dev_case_build_reserve() -> None:
    # the simulator's build leaves 43,010,490,368 B reserved over 9,100,788,736 B of parameters; memfit's build
    # without the init reserved 9,210,691,584 B (-78.6 %), with the hash table's rounds 43,136,319,488 B (+0.29 %:
    # 120 MiB over, not read)
    rec = _case()
    spec = spec_from_config(rec["config"], "dev")  # type: ignore[arg-type]
    reserved = []
    for random_init in (False, True):
        tr = Trace()
        build_inference_weights(tr, spec, int(rec["param_bytes"]), 2, random_init)  # type: ignore[call-overload]
        tr.built()
        reserved.append(tr.figures().reserved_after_build)
    assert reserved == [9_210_691_584, 43_136_319_488]
    assert rec["reserved_after_build"] == 43_010_490_368


def test_dev_case_device_total() -> None:
    from memfit.validate import validate_file

    results, _ = validate_file(str(DATA / "simulated" / "sweep-dev.jsonl"))
    (r,) = [x for x in results if x.case == DEV]
    assert r.total_error is not None and abs(r.total_error) < 0.01  # -77.23 % before (the init not replayed)
