"""ggml-alloc's replay (memory/runtimes/llamacpp_alloc.py) on hand-worked graphs, and the graphs memfit
describes (memory/runtimes/llamacpp_graph.py) against the node counts of the graphs real llama.cpp b10605
reserved (dumped with tools/llamacpp_graphdump.cpp for these development cases)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from memfit.memory.runtimes.llamacpp_alloc import GraphTensor, reserve_bytes
from memfit.memory.runtimes.llamacpp_cases import workload_for_llamacpp_case
from memfit.memory.runtimes.llamacpp_graph import build_graph
from memfit.memory.runtimes.llamacpp_kv import cache_geometry
from memfit.sources.hf_config import spec_from_config

DATA = Path(__file__).parent / "data" / "llamacpp"


def _t(op: str, nbytes: int, *src: int, **kw: object) -> GraphTensor:
    return GraphTensor(op, nbytes, ("f32", (nbytes // 4, 1, 1, 1), (4, nbytes, nbytes, nbytes)), src, **kw)  # type: ignore[arg-type]


def test_alloc_frees_after_the_last_consumer_and_takes_the_best_fit() -> None:
    # w (weight) -> a 100 B -> b 100 B -> c 200 B -> d 64 B, none in place (MUL_MAT), 32-byte alignment:
    # a [0,128); b [128,256) while a is read; a freed -> [0,128) free; c does not fit there -> the open end
    # [256,480); b freed -> [0,256) free; d fits -> [0,64). The buffer is the highest end: 480.
    ts = [_t("NONE", 400, external=True), _t("MUL_MAT", 100, 0), _t("MUL_MAT", 100, 1), _t("MUL_MAT", 200, 2),
          _t("MUL_MAT", 64, 3, is_output=True)]
    assert reserve_bytes(ts, [0], [1, 2, 3, 4], 32) == 480


def test_alloc_reuses_a_parent_in_place() -> None:
    # an input x (64 B, allocated first), y = scale(x) in place (same layout, x's only consumer), z = a product
    # of 96 B while y is read: x/y [0,64), z [64,160) -> 160; a non-in-place op instead of SCALE: 64+64+96 = 224
    ts = [_t("NONE", 64, is_input=True), _t("SCALE", 64, 0), _t("NONE", 64, external=True), _t("MUL_MAT", 96, 2, 1)]
    assert reserve_bytes(ts, [0, 2], [1, 3], 32) == 160
    ts[1] = _t("CONT", 64, 0)
    assert reserve_bytes(ts, [0, 2], [1, 3], 32) == 224


# graph nodes of the reserved pp graph as llama.cpp b10605 built it (ggml_graph_n_nodes of the dumped graph)
NODES = {
    "llama-3.2-1b/f16/c4096-ub512-s1-fa1-f16": 502,
    "llama-3.2-1b/f16/c32768-ub512-s1-fa1-q8_0": 694,
    "gpt-oss-20b/f16/c512-ub512-s1-fa0-f16": 1469,
    "deepseek-v2-lite/f16/c4096-ub512-s1-fa1-f16": 1764,
    "gemma-2-9b/f16/c4096-ub512-s1-fa0-f16": 1858,
    "phi-3.5-mini-instruct/f16/c2048-ub64-s4-fa1-f16": 998,
    "qwen3-30b-a3b/f16/c4096-ub512-s1-fa1-f16": 3030,
    "falcon-mamba-7b/f16/c2048-ub64-s4-fa1-f16": 3272,  # the GGUF with ssm_dt_b_c_rms set, as converted
}


@pytest.mark.parametrize("case", sorted(NODES))
def test_graph_has_llama_cpp_s_nodes(case: str) -> None:
    rec = next(json.loads(line) for line in (DATA / "dev.jsonl").read_text().splitlines()
               if json.loads(line)["case"] == case)
    spec = spec_from_config(rec["config"], rec["model"])
    wl = workload_for_llamacpp_case(rec["params"])
    g = build_graph(spec, wl, cache_geometry(spec, wl))
    assert g is not None
    assert len(g.nodes) == NODES[case]
    assert g.reserve() == rec["measured"]["compute_bytes"]
