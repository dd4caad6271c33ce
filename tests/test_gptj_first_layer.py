"""GPT-J's first layer under LoRA without checkpointing: its input needs no gradient (memory.first_layer), and
NewGELUActivation's op chain replayed (training.layer_parallel). Sizes worked by hand."""

import json
from dataclasses import replace
from pathlib import Path

from memfit.memory.allocator_trace import Trace
from memfit.memory.model_activations import model_activations
from memfit.memory.training.layer_ops import LayerRun, StepContext
from memfit.memory.training.layer_parallel import gelu_new_chain, no_grad_mlp
from memfit.memory.training.states import training_precision
from memfit.sources.hf_config import spec_from_config
from memfit.validate import workload_for_case

CASES = Path(__file__).parent / "data" / "simulated" / "train-sweep-dev.jsonl"
MIB = 1 << 20


def _case() -> dict:
    for line in CASES.read_text().splitlines():
        rec = json.loads(line)
        if str(rec.get("case", "")).startswith("gpt-j-6b-l2/lora") and "config" in rec:
            return rec
    raise AssertionError("gpt-j case missing")


def test_first_parallel_layer_keeps_no_norm_and_no_mlp() -> None:
    rec = _case()
    spec = spec_from_config(rec["config"], "gpt-j-6b-l2")
    wl = workload_for_case(rec["kind"], rec["params"])
    p = replace(training_precision(spec, wl), kv_cache=True)
    acts = model_activations(spec, p, wl.batch, wl.context)
    T, h, inter = 2 * 1024, 4096, 16384
    # bf16 LayerNorm keeps its input (2 B · h) and mean, rstd (fp32, 8 B); the frozen gelu_new MLP keeps
    # fc_in's output, 0.5·x, tanh and 1 + tanh (4 tensors of inter, 2 B); fc_in's and fc_out's frozen weights
    # keep nothing of their inputs
    relief = T * ((2 * h + 8) + 4 * 2 * inter)
    assert relief == 285_229_056
    assert acts.layers[1].saved - acts.layers[0].saved == relief
    ckpt = model_activations(spec, replace(p, kv_cache=False), wl.batch, wl.context)
    assert ckpt.layers[0].saved == ckpt.layers[1].saved  # checkpointing: the input needs a gradient


def _context() -> tuple[StepContext, int]:
    spec = spec_from_config(_case()["config"], "gpt-j-6b-l2")
    wl = workload_for_case("lora", _case()["params"])
    tr = Trace()
    c = StepContext(tr, spec, training_precision(spec, wl), 2, 1024)
    c.layer = 0
    return c, 2 * 1024 * 16384 * 2  # one intermediate-sized bf16 tensor: 64 MiB


def test_no_grad_gelu_new_mlp_peaks_at_four_tensors() -> None:
    c, n = _context()
    assert n == 64 * MIB
    start = c.tr.pool.allocated
    out = no_grad_mlp(c, c.spec.layers[0].mlp)
    # fc, 0.5·x, x³, 0.044715·x³ alive together; later 0.5·x, 1 + tanh, the product and fc: four at most
    assert c.tr.pool.peak_allocated - start == 4 * n
    assert c.tr.pool.allocated - start == 2048 * 4096 * 2  # fc_out's output only
    assert out


def test_gelu_new_chain_keeps_four_tensors_without_fc_out_gradient() -> None:
    c, n = _context()
    run = LayerRun()
    fc = c.tr.alloc(n)
    start = c.tr.pool.allocated
    act = gelu_new_chain(c, run, fc, 16384, keep_act=False)
    c.tr.free(act)
    # kept: fc (by pow), 0.5·x, tanh, 1 + tanh
    assert c.tr.pool.allocated - start + n == 4 * n
    assert len(run.saved) == 4
