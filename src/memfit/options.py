"""Every workload option, declared once: name, type, default, range or choices, help, who reads it, CLI flags.

``WorkloadOptions`` is the declaration. Each option is ONE entry::

    batch: int = option(1, low=1, high=MAX_BATCH, flags=("-b",), modes=SHAPED,
                        help="Sequences (inference) or micro-batch size (training).")

The annotation is the type (``int``, ``float``, ``bool``, ``str``, ``X | None``, ``tuple[str, ...]``), the first
argument the default; ``option()`` records the rest. Everything else is derived from it:

* ``memfit.workload.Workload`` is this dataclass plus ``validate()`` (``check_options`` + cross-field rules);
* the CLI options of ``estimate``/``fit``/``plan``/``plot`` (``memfit.cli.workload_options``);
* the web request model (``request_fields`` → pydantic ``create_model``) and the page's form
  (``form_description``, plain JSON).

Adding an option is one entry here (and the formula that reads it). ``tests/test_options.py`` declares a
hypothetical option and shows the CLI flag, the API field and the form field appear from it alone.
"""

from __future__ import annotations

import re
import types
from dataclasses import MISSING, dataclass, field, fields
from dataclasses import replace as dc_replace
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

from .errors import ConfigError

__all__ = ["ALL_MODES", "ATTN", "LLAMACPP_BUILDS", "MAX_BATCH", "MAX_GPUS", "MAX_TOKENS", "MODES", "NAME_PATTERN",
           "RUNTIMES", "TASKS", "Option", "WorkloadOptions", "check_options", "declared", "form_description", "option",
           "request_fields", "values_to_kwargs"]

T = TypeVar("T")

MODES: tuple[str, ...] = ("weights", "inference", "train", "lora", "qlora")
RUNTIMES: tuple[str, ...] = ("transformers", "vllm", "llamacpp", "sglang", "ollama")
TASKS: tuple[str, ...] = ("generate", "forward", "prefill")
ATTN: tuple[str, ...] = ("sdpa", "eager", "flash")
# the rows of data/llamacpp_builds.toml (tests/test_llamacpp_builds.py keeps the two equal)
LLAMACPP_BUILDS: tuple[str, ...] = ("current", "2024")
MAX_TOKENS = 100_000_000
MAX_BATCH = 1_000_000
MAX_GPUS = 1_000_000
MAX_NAME = 40
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.+\-]*$"  # a dtype, optimizer or module name
_NAME_RE = re.compile(NAME_PATTERN)

ALL_MODES = MODES
SHAPED = ("inference", "train", "lora", "qlora")  # modes that run tokens through the model
TRAINING = ("train", "lora", "qlora")
ADAPTERS = ("lora", "qlora")
INFERENCE = ("inference",)
DEFAULT_LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class Option:
    """One declared option. ``name``, ``type``, ``optional`` and ``default`` are filled in by ``declared()``
    from the dataclass field; the rest is what ``option()`` was given."""

    help: str
    modes: tuple[str, ...]  # the modes whose estimate reads it
    runtimes: tuple[str, ...] = ()  # inference runtimes that read it; () = not runtime-specific
    low: float | None = None
    high: float | None = None
    low_exclusive: bool = False  # low < value instead of low <= value
    high_exclusive: bool = False  # value < high instead of value <= high
    choices: tuple[str, ...] = ()
    pattern: str | None = None  # a free-form name: checked against NAME_PATTERN, at most MAX_NAME characters
    max_items: int = 64  # tuple options: at most this many names
    flags: tuple[str, ...] = ()  # short CLI spellings besides --the-name
    none_means: str = ""  # optional options: what leaving it out means
    name: str = ""
    type: str = ""  # "int", "float", "bool", "str" or "names" (a tuple of names)
    optional: bool = False
    default: Any = None

    @property
    def flag(self) -> str:
        """The long CLI flag: ``--new-tokens`` for ``new_tokens``."""
        return "--" + self.name.replace("_", "-")

    def check(self, value: Any) -> None:
        """Raise ConfigError (naming the value, the rule and the fix) unless ``value`` obeys this option."""
        if value is None and self.optional:
            return
        rule = self.rule()
        if self.type == "int":
            ok = isinstance(value, int) and not isinstance(value, bool) and self._in_range(value)
        elif self.type == "float":
            ok = isinstance(value, (int, float)) and not isinstance(value, bool) and self._in_range(float(value))
        elif self.type == "bool":
            ok = isinstance(value, bool)
        elif self.type == "names":
            ok = isinstance(value, tuple) and 1 <= len(value) <= self.max_items and all(_is_name(v) for v in value)
        elif self.choices:
            ok = value in self.choices
        else:
            ok = _is_name(value)
        if not ok:
            raise ConfigError(f"{self.name} = {value!r} {rule}")

    def rule(self) -> str:
        """The rule in words, e.g. ``must be an integer from 1 to 1,000,000``."""
        if self.type in ("int", "float"):
            lo, hi = self.low, self.high
            what = "an integer" if self.type == "int" else "a number"
            if self.low_exclusive:
                text = f"must be {what} above {lo:g} and at most {hi:g}"
            elif self.high_exclusive:
                text = f"must be {what} from {lo:g} to below {hi:g}"
            else:
                text = f"must be {what} from {lo:,.0f} to {hi:,.0f}" if self.type == "int" else \
                    f"must be {what} from {lo:g} to {hi:g}"
        elif self.type == "bool":
            text = "must be true or false"
        elif self.type == "names":
            text = (f"must be 1 to {self.max_items} module names of letters, digits and _.+- (e.g. "
                    f"{','.join(self.default[:2])})") if self.default else \
                f"must be 1 to {self.max_items} comma-separated values of letters, digits and _.+-"
        elif self.choices:
            text = f"must be one of {', '.join(self.choices)}"
        else:
            text = f"must be a name of at most {MAX_NAME} letters, digits and _.+-"
        return text + (f" (or left out for {self.none_means})" if self.optional and self.none_means else "")

    def _in_range(self, v: float) -> bool:
        lo = -float("inf") if self.low is None else self.low
        hi = float("inf") if self.high is None else self.high
        return (lo < v if self.low_exclusive else lo <= v) and (v < hi if self.high_exclusive else v <= hi)

    def to_json(self) -> dict[str, Any]:
        """The plain-JSON description the page builds its form field from."""
        return {"name": self.name, "type": self.type, "optional": self.optional,
                "default": list(self.default) if isinstance(self.default, tuple) else self.default,
                "min": self.low, "max": self.high, "min_exclusive": self.low_exclusive,
                "max_exclusive": self.high_exclusive, "choices": list(self.choices), "pattern": self.pattern,
                "max_items": self.max_items if self.type == "names" else None, "help": self.help,
                "none_means": self.none_means, "modes": list(self.modes), "runtimes": list(self.runtimes),
                "cli": [self.flag, *self.flags]}


def _is_name(v: Any) -> bool:
    return isinstance(v, str) and 0 < len(v) <= MAX_NAME and _NAME_RE.match(v) is not None


def option(default: T, *, help: str, modes: tuple[str, ...], runtimes: tuple[str, ...] = (),
           low: float | None = None, high: float | None = None, low_exclusive: bool = False,
           high_exclusive: bool = False, choices: tuple[str, ...] = (), name_like: bool = False, max_items: int = 64,
           flags: tuple[str, ...] = (), none_means: str = "") -> T:
    """Declare one option as a dataclass field of ``WorkloadOptions`` (typed as its default for mypy)."""
    meta = Option(help=help, modes=modes, runtimes=runtimes, low=low, high=high, low_exclusive=low_exclusive,
                  high_exclusive=high_exclusive, choices=choices, pattern=NAME_PATTERN if name_like else None,
                  max_items=max_items, flags=flags, none_means=none_means)
    return field(default=default, metadata={"option": meta})


@dataclass(frozen=True)
class WorkloadOptions:
    """THE declaration of every workload option, in the order the CLI lists them."""

    mode: str = option("weights", choices=MODES, modes=ALL_MODES, help="What to estimate.")
    dtype: str | None = option(None, name_like=True, flags=("-d",), modes=ALL_MODES,
                               none_means="the config's own dtype",
                               help="Weight precision or format (fp16, bf16, fp8, int8, int4, nf4, q4_k_m, …). "
                                    "Default: the config's own dtype.")
    # shapes
    batch: int = option(1, low=1, high=MAX_BATCH, flags=("-b",), modes=SHAPED,
                        help="Sequences (inference) or micro-batch size (training).")
    context: int = option(2048, low=1, high=MAX_TOKENS, flags=("-c",), modes=SHAPED,
                          help="Prompt tokens (inference) or sequence length (training).")
    new_tokens: int = option(0, low=0, high=MAX_TOKENS, flags=("-n",), modes=INFERENCE,
                             help="Tokens generated after the prompt.")
    images: int = option(0, low=0, high=4096, modes=SHAPED,
                         help="Images per sequence (image-text models): each adds the vision tower's tokens per image "
                              "to the context; the output says how many.")
    # inference
    runtime: str = option("transformers", choices=RUNTIMES, flags=("-r",), modes=INFERENCE,
                          help="The inference engine whose allocations are modelled.")
    task: str = option("generate", choices=TASKS, modes=INFERENCE, runtimes=("transformers",),
                       help="transformers: generate, forward (all-token logits) or prefill.")
    forward_cache: bool = option(False, modes=INFERENCE, runtimes=("transformers",),
                                 help="transformers --task forward: the call returns the cache (use_cache=True, "
                                      "what model(...) does when the config says use_cache).")
    attn: str = option("sdpa", choices=ATTN, modes=("inference", *TRAINING), runtimes=("transformers",),
                       help="Attention implementation (transformers and training).")
    random_init: bool = option(False, modes=("inference", *TRAINING), runtimes=("transformers",),
                               help="Random weights made on the GPU (from_config), not loaded: with torch 2.12+ the "
                                    "weight init's trunc_normal_ leaves its buffers cached (memory/trunc_normal.py).")
    expandable_segments: bool = option(False, modes=("inference", *TRAINING), runtimes=("transformers",),
                                       help="PyTorch's PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True: the "
                                            "caching allocator grows one segment per pool and stream by pages "
                                            "(inference and training).")
    kv_dtype: str | None = option(None, name_like=True, modes=INFERENCE, none_means="the compute dtype",
                                  help="KV cache dtype (fp16, bf16, fp8, q8_0, q4_0 …).")
    gpu_memory_utilization: float | None = option(None, low=0.0, high=1.0, low_exclusive=True, modes=INFERENCE,
                                                  runtimes=("vllm",), none_means="the version's: 0.9, 0.92 from 0.20",
                                                  help="vLLM: GPU memory share to claim (default 0.9; 0.92 from 0.20).")
    max_num_seqs: int | None = option(None, low=1, high=MAX_BATCH, modes=INFERENCE, runtimes=("vllm",),
                                      none_means="vLLM's default",
                                      help="vLLM: most sequences in one step (default: the engine's).")
    max_num_batched_tokens: int | None = option(None, low=1, high=MAX_TOKENS, modes=INFERENCE, runtimes=("vllm",),
                                                none_means="vLLM's default",
                                                help="vLLM: most tokens in one step (default: the engine's).")
    block_size: int = option(16, low=1, high=1024, modes=INFERENCE, runtimes=("vllm",), help="vLLM KV block size.")
    vllm_version: str | None = option(None, name_like=True, modes=INFERENCE, runtimes=("vllm",),
                                      none_means="memfit's default vLLM profile",
                                      help="vLLM version whose defaults and reserves are modelled (0.6 … 0.28).")
    vllm_sampler: str | None = option(None, choices=("native", "flashinfer", "triton"), modes=INFERENCE,
                                      runtimes=("vllm",), none_means="the version's default (native; triton 0.17+)",
                                      help="vLLM top-k/top-p sampler: native (sorts), triton or flashinfer "
                                           "(the log says 'Using FlashInfer for top-p & top-k sampling').")
    vllm_compile_cache: str = option("warm", choices=("warm", "cold"), modes=INFERENCE, runtimes=("vllm",), help=(
        "vLLM torch.compile cache at start: warm (a restart) or cold (a first start: the embedding benchmark, 0.19+)."))
    enforce_eager: bool = option(False, modes=INFERENCE, runtimes=("vllm", "sglang"),
                                 help="vLLM --enforce-eager / SGLang --disable-cuda-graph: no CUDA graph memory.")
    mem_fraction_static: float | None = option(None, low=0.0, high=1.0, low_exclusive=True, modes=INFERENCE,
                                               runtimes=("sglang",), none_means="SGLang's default for the TP size",
                                               help="SGLang: the share of free GPU memory for weights and KV pool.")
    sglang_version: str | None = option(None, name_like=True, modes=INFERENCE, runtimes=("sglang",),
                                        none_means="the rule of 0.5.3 and later",
                                        help="SGLang version whose default --mem-fraction-static is modelled "
                                             "(before 0.5.3: a reserve by GPU size).")
    n_gpu_layers: int | None = option(None, low=0, high=100_000, flags=("-ngl",), modes=INFERENCE,
                                      runtimes=("llamacpp",), none_means="all layers",
                                      help="llama.cpp layers on the GPU (default: all).")
    n_batch: int = option(2048, low=1, high=MAX_TOKENS, modes=INFERENCE, runtimes=("llamacpp",),
                          help="llama.cpp logical batch (-b).")
    n_ubatch: int = option(512, low=1, high=MAX_TOKENS, modes=INFERENCE, runtimes=("llamacpp",),
                           help="llama.cpp physical batch (-ub).")
    flash_attn: bool = option(True, modes=INFERENCE, runtimes=("llamacpp",), help="llama.cpp flash attention (-fa).")
    n_cpu_moe: int | None = option(None, low=0, high=100_000, modes=INFERENCE, runtimes=("llamacpp",),
                                   none_means="no experts kept on the CPU",
                                   help="llama.cpp --n-cpu-moe N: the MoE expert weights of the first N layers stay in "
                                        "host RAM (--cpu-moe: all layers).")
    tensor_split: tuple[str, ...] | None = option(None, modes=INFERENCE, runtimes=("llamacpp",), max_items=16,
                                                 none_means="equal shares over --gpus",
                                                 help="llama.cpp --tensor-split: each GPU's share of the layers "
                                                      "(e.g. 3,1), with --gpus GPUs.")
    split_mode: str = option("layer", choices=("layer", "row"), modes=INFERENCE, runtimes=("llamacpp",),
                             help="llama.cpp -sm: layer (layers and their KV per GPU, by --tensor-split) or row "
                                  "(refused: the CUDA/ROCm backend of build b10605 has no split buffer type).")
    swa_full: bool = option(False, modes=INFERENCE, runtimes=("llamacpp",),
                            help="llama.cpp --swa-full: sliding-window layers cache every cell.")
    kv_unified: bool = option(False, modes=INFERENCE, runtimes=("llamacpp",),
                              help="llama.cpp --kv-unified: one KV stream for all sequences (default: one each).")
    llamacpp_build: str = option("current", choices=LLAMACPP_BUILDS, modes=INFERENCE, runtimes=("llamacpp", "ollama"),
                                 help="llama.cpp graph generation: current (b10605 and later) or 2024 (builds before "
                                      "mid-2025: K/V stores by ggml_cpy, no GLU op, one KV stream, no embeddings "
                                      "input); sets the compute buffer (data/llamacpp_builds.toml, with each PR).")
    override_tensor: str | None = option(None, modes=INFERENCE, runtimes=("llamacpp",), none_means="no overrides",
                                         help="llama.cpp -ot PATTERN=CPU[,PATTERN=CPU…]: tensors whose GGUF name "
                                              "matches the regular expression stay in host RAM (exps=CPU: every "
                                              "MoE expert).")
    token_embedding_type: str | None = option(None, name_like=True, modes=INFERENCE, runtimes=("llamacpp",),
                                              none_means="the format's own",
                                              help="GGUF type of token_embd (llama-quantize --token-embedding-type; "
                                                   "the _L/_XL files keep it higher, e.g. q8_0).")
    output_tensor_type: str | None = option(None, name_like=True, modes=INFERENCE, runtimes=("llamacpp",),
                                            none_means="the format's own",
                                            help="GGUF type of the output (lm_head) tensor (llama-quantize "
                                                 "--output-tensor-type; e.g. q8_0 or f16 in _L/_XL files).")
    draft_model: str | None = option(None, name_like=True, modes=INFERENCE, runtimes=("llamacpp",),
                                     none_means="no draft model",
                                     help="llama.cpp -md: a draft model (catalog id) for speculative decoding, on the "
                                          "same GPU with its own KV cache (f16, as -ctkd) and compute buffer.")
    draft_dtype: str | None = option(None, name_like=True, modes=INFERENCE, runtimes=("llamacpp",),
                                     none_means="the model's --dtype",
                                     help="llama.cpp: the draft model's weight format (e.g. q8_0, q4_k_m).")
    mmproj: str | None = option(None, choices=("f16", "bf16", "f32"), modes=INFERENCE, runtimes=("llamacpp",),
                                none_means="no projector loaded",
                                help="llama.cpp --mmproj: the multimodal projector GGUF in this type (the vision "
                                     "tower's weights join the GPU).")
    # training
    optimizer: str = option("adamw", name_like=True, flags=("-o",), modes=TRAINING,
                            help="adamw, adamw-fused, adamw-foreach, adamw8bit, paged-adamw8bit, adafactor, lion, "
                                 "sgd, sgd-momentum.")
    mixed_precision: bool = option(True, modes=TRAINING,
                                   help="fp32 master weights with bf16 autocast, or everything in --dtype.")
    checkpointing: str = option("none", choices=("none", "full", "selective", "selective-op"), modes=TRAINING,
                                help="Activation (gradient) checkpointing. selective: the attention core "
                                     "recomputed; selective-op: torchtitan's op-level SAC (each layer keeps its "
                                     "input, every second matmul output and the attention kernel's output).")
    grad_accum: int = option(1, low=1, high=1_000_000, modes=TRAINING, help="Gradient accumulation steps.")
    lora_rank: int = option(16, low=1, high=65536, modes=ADAPTERS, help="LoRA rank r.")
    lora_targets: tuple[str, ...] = option(DEFAULT_LORA_TARGETS, modes=ADAPTERS,
                                           help="Comma-separated module names (default: q,k,v,o,gate,up,down "
                                                "projections).")
    lora_dropout: float = option(0.0, low=0.0, high=1.0, high_exclusive=True, modes=ADAPTERS,
                                 help="PEFT LoraConfig lora_dropout: above 0 each adapted Linear runs nn.Dropout on "
                                      "its (fp32) input, keeping the dropped copy and a bool mask for backward.")
    peft_version: str = option("0.22", choices=("0.22", "0.21"), modes=ADAPTERS, help="PEFT release (LoRA on MoE): "
                               "0.22: experts and the MLPs of their names; 0.21: experts only (memory/lora.py).")
    moe_experts: str | None = option(None, choices=("loop", "grouped"), modes=ADAPTERS, none_means="the release's",
                                     help="MoE experts run one at a time (loop: transformers 4.x) or grouped (5).")
    qlora_prep: str = option("peft", choices=("peft", "trl"), modes=ADAPTERS, help="QLoRA's model preparation: peft "
                             "(prepare_model_for_kbit_training: every unquantized parameter fp32) or trl (SFTTrainer "
                             "with bf16=True: embeddings and lm_head back in bf16).")
    trainer: str = option("transformers", choices=("transformers", "torchtune", "torchtune-packed"), modes=("train",),
                          help="Model code of a full fine-tune: transformers', or torchtune's own Llama "
                               "(memory/torchtune.py; -packed: PackedDataset's positions).")
    transformers_version: str | None = option(
        None, name_like=True, modes=("inference", *TRAINING), runtimes=("transformers",),
        none_means="transformers 5 (training: the loss of 4.49 and later)",
        help="transformers release of the run. Training (4.40 or later): before 4.49 the loss keeps an fp32 copy of "
             "the shifted logits. Inference (4.35 or later): the older releases' tuple cache, prompt logits, fp32 "
             "logits and per-layer buffers.")
    quant: str | None = option(None, choices=("nf4", "nf4-dq", "fp4", "fp4-dq", "int8"), modes=("inference", *TRAINING),
                               runtimes=("transformers", "vllm"), none_means="no bitsandbytes quantization",
                               help="bitsandbytes quantization of the linear layers (QLoRA uses nf4-dq).")
    int8_outliers: str = option("trained", choices=("trained", "all", "random"), modes=INFERENCE,
                                runtimes=("transformers",), help="LLM.int8 (--quant int8): the down projection's "
                                "outlier columns: trained (0.1 %, per the LLM.int8 paper), all (every column: the safe "
                                "bound) or random (random weights: computed per layer where memfit can, else all).")
    # parallelism
    gpus: int = option(1, low=1, high=MAX_GPUS, modes=ALL_MODES, help="GPUs (the per-GPU numbers split over them).")
    zero: int = option(0, low=0, high=3, modes=TRAINING, help="Sharding: 3 = FSDP2 FULL_SHARD, 2 = FSDP2 with "
                       "reshard_after_forward=False, 1 = ZeRO-1 (optimizer states only).")
    fsdp_version: int = option(2, low=1, high=2, modes=TRAINING, help="FSDP of --zero 2/3: 2 = fully_shard, "
                               "1 = FullyShardedDataParallel (accelerate's FSDP1: a flat parameter per unit; LoRA).")
    shard_size: int | None = option(None, low=1, high=MAX_GPUS, modes=TRAINING, none_means="all GPUs",
                                    help="GPUs one ZeRO/FSDP shard group spans (FSDP HYBRID_SHARD: the GPUs of a "
                                         "node).")
    offload: str = option("none", choices=("none", "optimizer", "params"), modes=TRAINING,
                          help="CPU offload: optimizer (DeepSpeed ZeRO-Offload) or params (FSDP2 CPUOffloadPolicy, "
                               "--zero 3).")
    tp: int = option(1, low=1, high=4096, modes=("inference", *TRAINING), help="Tensor parallel degree.")
    pp: int = option(1, low=1, high=4096, modes=("inference", *TRAINING), help="Pipeline parallel degree.")
    ep: int = option(1, low=1, high=4096, modes=TRAINING, help="Expert parallel degree.")
    pp_schedule: str = option("1f1b", choices=("1f1b", "gpipe", "interleaved-1f1b"), modes=TRAINING,
                              help="Pipeline schedule (torch.distributed.pipelining) with --pp: how many "
                                   "micro-batches (--grad-accum per step) are in flight on each rank.")
    pp_virtual: int = option(2, low=1, high=64, modes=TRAINING, help="Stages per pipeline rank (interleaved-1f1b).")
    pp_rank: int | None = option(None, low=0, high=4095, modes=TRAINING, none_means="the most-loaded rank",
                                 help="Report this pipeline rank (0 = the first stage) instead of the most-loaded.")
    sequence_parallel: bool = option(False, modes=TRAINING, help="Sequence parallelism: norms and the residual "
                                     "stream split over the tensor-parallel ranks.")


_DECLARED: dict[type, tuple[Option, ...]] = {}


def declared(cls: type[WorkloadOptions] = WorkloadOptions) -> tuple[Option, ...]:
    """Every option ``cls`` declares, in order, with its name, type, optionality and default filled in."""
    if cls not in _DECLARED:
        _DECLARED[cls] = _declare(cls)
    return _DECLARED[cls]


def _declare(cls: type[WorkloadOptions]) -> tuple[Option, ...]:
    hints = get_type_hints(cls)
    out = []
    for f in fields(cls):
        meta = f.metadata.get("option")
        if not isinstance(meta, Option):
            raise TypeError(f"{cls.__name__}.{f.name} is not declared with option()")
        kind, optional = _kind(hints[f.name], f.name)
        default = None if f.default is MISSING else f.default
        out.append(dc_replace(meta, name=f.name, type=kind, optional=optional, default=default))
    return tuple(out)


def _kind(tp: Any, name: str) -> tuple[str, bool]:
    """``int | None`` → ("int", True); ``tuple[str, ...]`` → ("names", False); ``Literal["a"]`` → ("str", False)."""
    optional = False
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        optional = len(args) < len(get_args(tp))
        if len(args) != 1:
            raise TypeError(f"option {name}: a union of several types is not supported")
        tp = args[0]
    if get_origin(tp) is Literal:
        tp = type(get_args(tp)[0])
    if get_origin(tp) is tuple and get_args(tp) == (str, ...):
        return "names", optional
    if tp in (int, float, bool, str):
        return tp.__name__, optional
    raise TypeError(f"option {name}: type {tp!r} is not one of int, float, bool, str, tuple[str, ...]")


def check_options(obj: WorkloadOptions) -> None:
    """Check every declared option's value against its declaration (ConfigError on the first that fails)."""
    for o in declared(type(obj)):
        o.check(getattr(obj, o.name))


def values_to_kwargs(cls: type[WorkloadOptions], values: dict[str, Any]) -> dict[str, Any]:
    """Keyword arguments for ``cls`` from parsed CLI options or a request body: keys that are not options are
    dropped, a tuple option given as a comma-separated string or a list becomes a tuple, and a tuple option left
    out (None) takes its default."""
    kw: dict[str, Any] = {}
    for o in declared(cls):
        if o.name not in values or (o.type == "names" and values[o.name] is None):
            continue
        v = values[o.name]
        if o.type == "names" and isinstance(v, (str, list)):
            v = tuple(t.strip() for t in v.split(",") if t.strip()) if isinstance(v, str) else tuple(v)
        kw[o.name] = v
    return kw


def form_description(cls: type[WorkloadOptions] = WorkloadOptions) -> list[dict[str, Any]]:
    """The page's form, as plain JSON: one object per option (name, type, default, range, choices, help,
    modes and runtimes that read it, CLI flags)."""
    return [o.to_json() for o in declared(cls)]


def request_fields(cls: type[WorkloadOptions] = WorkloadOptions,
                   tighter: dict[str, float] | None = None) -> dict[str, Any]:
    """Pydantic field definitions for a web request model: ``pydantic.create_model("X", **request_fields())``.

    Strict types with the declared ranges and choices; a tuple option is a list of names or null (its default).
    ``tighter`` lowers the upper bound of named options (a server may accept less than the library).
    Pydantic is imported here only, so the core install does not need it."""
    from pydantic import Field, StrictStr

    name_t: Any = StrictStr
    out: dict[str, Any] = {}
    for o in declared(cls):
        hi = min(o.high, tighter[o.name]) if tighter and o.name in tighter and o.high is not None else o.high
        kw: dict[str, Any] = {"description": o.help}
        tp: Any
        if o.type in ("int", "float"):
            tp = int if o.type == "int" else float
            kw["gt" if o.low_exclusive else "ge"] = o.low
            kw["lt" if o.high_exclusive else "le"] = hi
            if o.type == "float":
                kw["allow_inf_nan"] = False
        elif o.type == "bool":
            tp = bool
        elif o.type == "names":
            item = _annotated(name_t, Field(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN))
            out[o.name] = (list[item] | None, Field(default=None, min_length=1,  # type: ignore[valid-type]
                                                    max_length=o.max_items, **kw))
            continue
        elif o.choices:
            tp = Literal[o.choices]
        else:
            tp = _annotated(name_t, Field(min_length=1, max_length=MAX_NAME, pattern=NAME_PATTERN))
        if o.optional:
            tp = tp | None
        out[o.name] = (tp, Field(default=o.default, **kw))
    return out


def _annotated(tp: Any, meta: Any) -> Any:
    from typing import Annotated

    return Annotated[tp, meta]
