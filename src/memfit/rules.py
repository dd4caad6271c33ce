"""One meaning for every option: which mode reads which option, what each runtime can run, and the parallel
layouts the engines accept.

* ``resolve(workload, given)`` — the options the user gave (``given``: field names) decide the mode when none
  was named: runtime, context, batch, ``-ngl`` … imply inference (and a runtime's own options its runtime),
  and the result says so. An option the chosen mode or runtime does not read is an error naming it.
* ``check_runnable(spec, workload)`` — a runtime refuses the weight formats and KV cache types it cannot run
  (``data/runtime_support.toml``), ``--quant`` needs frozen base weights, and ``--tp``/``--ep`` must divide
  what the engines split (``tp_problem``).
"""

from __future__ import annotations

import importlib.resources
import tomllib
from collections.abc import Iterable
from functools import cache
from typing import Any

from .errors import ConfigError, UnsupportedError
from .options import ALL_MODES, declared
from .spec import ModelSpec
from .workload import Workload

__all__ = ["LLAMACPP_GRAPH", "check_runnable", "check_spec", "flag", "given_fields", "kv_class", "on_llamacpp",
           "resolve", "runtime_support", "tp_problem"]

TRAIN = ("train", "lora", "qlora")
INFER = ("inference",)
DEFAULT = Workload()
# the runtimes that run llama.cpp's graph: llama.cpp itself and Ollama (a preset over it: its own defaults,
# llama.cpp's buffers; memory/runtimes/ollama.py); they read llama.cpp's options and follow its rules
LLAMACPP_GRAPH = ("llamacpp", "ollama")


def on_llamacpp(runtime: str) -> bool:
    """Whether ``runtime`` runs llama.cpp's graph (``llamacpp`` or ``ollama``)."""
    return runtime in LLAMACPP_GRAPH

# the modes that read each option, from the one declaration of options (memfit.options); dtype, gpus, tp and pp
# are read in every mode (fit splits even a weights-only estimate over the GPUs)
READERS: dict[str, tuple[str, ...]] = {o.name: o.modes for o in declared()
                                       if set(o.modes) != set(ALL_MODES) and o.name not in ("tp", "pp")}
# inference options that only one runtime reads
RUNTIME_OF: dict[str, str] = {o.name: o.runtimes[0] for o in declared() if len(o.runtimes) == 1}
_FLAGS = {"n_gpu_layers": "-ngl", "mixed_precision": "--no-mixed-precision", "flash_attn": "--no-flash-attn",
          "dtype": "--dtype"}


def flag(name: str) -> str:
    """The CLI spelling of a Workload field."""
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def given_fields(workload: Workload, names: Iterable[str] = ()) -> frozenset[str]:
    """The options the user gave: ``names`` (keyword arguments, CLI options typed on the command line, even at
    their default value) and every field that differs from its default, plus ``mode`` when it was named."""
    out = {n for n in names if n in READERS}
    out |= {n for n in READERS if getattr(workload, n) != getattr(DEFAULT, n)}
    if "mode" in names or workload.mode != DEFAULT.mode:
        out.add("mode")
    return frozenset(out)


def _modes_text(modes: tuple[str, ...]) -> str:
    return "inference" if modes == INFER else ("training (train, lora, qlora)" if modes == TRAIN else
                                              ", ".join(modes))


def resolve(workload: Workload, given: Iterable[str] = ()) -> tuple[Workload, tuple[str, ...]]:
    """The workload the options mean, and a note for each choice made for the user.

    With no ``mode`` given, an inference option (runtime, context, batch, ``-ngl``, a KV dtype …) means
    ``mode = inference``; a runtime's own option (``-ngl``, ``--gpu-memory-utilization`` …) with no runtime
    named means that runtime. An option the mode or runtime does not read raises ConfigError naming it.
    """
    wl, notes = workload, []
    opts = given_fields(workload, given)
    if "mode" not in opts:
        trains = sorted(o for o in opts if READERS[o] in (TRAIN, ("lora", "qlora")))
        if trains:
            raise ConfigError(f"{flag(trains[0])} is read only when training: add --mode train (or lora, qlora), "
                              f"or drop {flag(trains[0])}")
        implying = sorted(o for o in opts if "inference" in READERS[o])
        if implying:
            wl = wl.replace(mode="inference")
            notes.append(f"{', '.join(flag(o) for o in implying)} implies --mode inference (KV cache and runtime "
                         "buffers counted)")
    runtimes = sorted({RUNTIME_OF[o] for o in opts if o in RUNTIME_OF and o != "attn"})
    if wl.mode == "inference" and "runtime" not in opts and runtimes and runtimes != ["transformers"]:
        if len(runtimes) > 1:
            raise ConfigError(f"options of different runtimes ({', '.join(runtimes)}) given together: "
                              "pick one --runtime")
        wl = wl.replace(runtime=runtimes[0])
        names = ", ".join(flag(o) for o in sorted(opts) if RUNTIME_OF.get(o) == runtimes[0])
        notes.append(f"{names} implies --runtime {runtimes[0]}")
    for o in sorted(opts - {"mode"}):
        if getattr(wl, o) == getattr(DEFAULT, o):
            continue  # an option typed at its default value asks for nothing the mode lacks
        if wl.mode not in READERS[o]:
            fix = "--mode inference" if READERS[o] == INFER else f"--mode {READERS[o][0]}"
            raise ConfigError(f"{flag(o)} is not read in --mode {wl.mode}: it applies to {_modes_text(READERS[o])}; "
                              f"drop it or use {fix}")
        rt = RUNTIME_OF.get(o)
        if wl.mode == "inference" and rt is not None and wl.runtime != rt and not (
                rt == "llamacpp" and on_llamacpp(wl.runtime)):
            raise ConfigError(f"{flag(o)} is a {rt} option and --runtime {wl.runtime} does not read it; drop it or "
                              f"use --runtime {rt}")
    return wl, tuple(notes)


@cache
def runtime_support() -> dict[str, dict[str, Any]]:
    """``data/runtime_support.toml``: per runtime, the weight formats and KV cache types it runs."""
    text = importlib.resources.files("memfit").joinpath("data", "runtime_support.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


_KV_CLASS = {"float32": "f32", "fp32": "f32", "f32": "f32", "float16": "f16", "fp16": "f16", "f16": "f16",
             "half": "f16", "bfloat16": "bf16", "bf16": "bf16", "fp8": "fp8_e4m3", "fp8_e4m3": "fp8_e4m3",
             "float8_e4m3fn": "fp8_e4m3", "fp8_e5m2": "fp8_e5m2", "float8_e5m2": "fp8_e5m2", "int8": "int8"}


def kv_class(name: str) -> str:
    """The canonical KV cache type of a spelling (``fp16`` → ``f16``, ``Q4_0`` → ``q4_0``)."""
    key = name.strip().lower().removeprefix("torch.")
    return _KV_CLASS.get(key, key)


def _check_format(fmt_name: str, runtime: str, what: str) -> None:
    from .formats import get_format

    table = runtime_support()
    row = table[runtime]
    fmt = get_format(fmt_name)
    if fmt.kind in row["weight_kinds"] or fmt.name in row["weight_names"]:
        return
    elsewhere = table.get("elsewhere", {}).get(fmt.kind)
    if elsewhere is not None:  # a format only an engine memfit does not model runs
        raise UnsupportedError(f"{what} {fmt_name!r} cannot run under --runtime {runtime}: {elsewhere['rule']}; "
                               f"{elsewhere['fix']}")
    raise UnsupportedError(f"{what} {fmt_name!r} ({fmt.kind}) cannot run under --runtime {runtime}: "
                           f"{row['weight_rule']}; {row['weight_fix']}")


def check_runnable(spec: ModelSpec, wl: Workload, dtype_from: str = "--dtype") -> None:
    """Raise UnsupportedError when no engine runs ``wl`` on ``spec`` as asked: the rule and the fix.
    ``dtype_from`` names where ``wl.dtype`` came from (``--dtype``, or the checkpoint's own format)."""
    if wl.mode == "weights":
        return
    if wl.mode == "train" and wl.quant is not None:
        raise UnsupportedError(f"--quant {wl.quant} in --mode train: full fine-tuning updates every weight and "
                               "bitsandbytes 4/8-bit weights cannot be trained; use --mode qlora (LoRA adapters on "
                               "the quantized base) or drop --quant")
    if wl.mode in TRAIN and wl.dtype is not None:
        from .formats import get_format

        kind = get_format(wl.dtype).kind
        if kind != "dense":
            why = "a GGUF file is dequantized on load" if kind == "gguf" else "quantized weights cannot be updated"
            raise UnsupportedError(f"{dtype_from} {wl.dtype} in --mode {wl.mode}: training needs float weights "
                                   f"({why}); use --dtype bf16, and for a quantized base --mode qlora --quant nf4-dq")
    if wl.mode == "inference":
        row = runtime_support()[wl.runtime]
        if wl.dtype is not None:
            _check_format(wl.dtype, wl.runtime, dtype_from)
        if wl.quant is not None and not row["bnb"]:
            raise UnsupportedError(f"--quant {wl.quant} (bitsandbytes) cannot run under --runtime {wl.runtime}: "
                                   f"{row['weight_rule']}; {row['weight_fix']}")
        if wl.kv_dtype is not None and kv_class(wl.kv_dtype) not in row["kv"]:
            raise UnsupportedError(f"--kv-dtype {wl.kv_dtype} cannot run under --runtime {wl.runtime}: "
                                   f"{row['kv_rule']}; {row['kv_fix']}")
        if on_llamacpp(wl.runtime) and (wl.tp > 1 or wl.pp > 1):
            raise UnsupportedError("llama.cpp has no --tp/--pp: it splits the layers over the GPUs it sees "
                                   "(--split-mode layer); use --gpus N without --tp/--pp")
    engine = "vllm" if wl.mode == "inference" else "megatron"
    problem = tp_problem(spec, wl.tp, engine)
    if problem:
        raise UnsupportedError(problem)
    if wl.ep > 1:
        experts = {m.num_experts for m in spec.moe_layers}
        bad = sorted(e for e in experts if e % wl.ep)
        if bad:
            raise UnsupportedError(f"--ep {wl.ep} must divide the {bad[0]} experts of {spec.name}: pick a divisor "
                                   f"of {bad[0]}")


def check_spec(spec: ModelSpec) -> None:
    """Refuse a description no model can have: more experts routed per token than the layer has (the active
    parameters would exceed the total)."""
    for i, layer in enumerate(spec.layers):
        moe = layer.moe
        if moe is not None and not 1 <= moe.top_k <= moe.num_experts:
            raise ConfigError(f"layer {i} routes num_experts_per_tok = {moe.top_k} of {moe.num_experts} experts: "
                              f"it must be from 1 to {moe.num_experts}; check the config's num_experts_per_tok")


def tp_problem(spec: ModelSpec, tp: int, engine: str = "vllm") -> str | None:
    """Why ``tp`` tensor-parallel ranks cannot split ``spec`` (None: they can).

    Both engines split the query heads evenly (vLLM ``ModelConfig.verify_with_parallel_config``: "Total
    number of attention heads must be divisible by tensor parallel size"). KV heads: vLLM's
    ``QKVParallelLinear`` divides them when ``tp`` ≤ their number and replicates them when ``tp`` is a
    multiple of it; Megatron-LM (``TransformerConfig.__post_init__``) needs ``num_query_groups`` divisible
    by ``tp``.
    """
    if tp <= 1:
        return None
    for att in {(a.num_heads, a.num_kv_heads) for a in spec.attention_layers}:
        heads, kv = att
        if heads % tp:
            return (f"--tp {tp} must divide the {heads} attention heads of {spec.name}: use a divisor of {heads} "
                    f"({', '.join(str(d) for d in _divisors(heads) if d > 1)})")
        kv_ok = (kv % tp == 0) if engine == "megatron" or tp <= kv else (tp % kv == 0)
        if not kv_ok:
            ok = [d for d in _divisors(heads) if d > 1 and ((kv % d == 0) if engine == "megatron" or d <= kv
                                                              else (d % kv == 0))]
            rule, who = ("divide", "Megatron") if engine == "megatron" else ("divide (or be a multiple of)", "vLLM")
            return (f"--tp {tp} must {rule} the {kv} KV heads of {spec.name} ({who} splits them across ranks): "
                    f"use {', '.join(map(str, ok)) or 'no tensor parallelism'}")
    return None


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]
