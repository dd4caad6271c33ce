"""LoRA / QLoRA: which Linear layers get adapters, and exactly how many parameters they add.

PEFT (``LoraLayer.update_layer``) gives each adapted ``Linear(in, out)`` an ``lora_A`` of shape
(r, in) and an ``lora_B`` of shape (out, r): ``r·(in + out)`` trainable parameters, kept in fp32
(``autocast_adapter_dtype=True``). Targets are module names matched by suffix (``q_proj``,
``down_proj``, ``c_attn`` …) or ``all-linear``; memfit maps them to the inventory's tensor kinds.
Fused MoE experts (3-D parameters in transformers ≥ 5) are not ``nn.Linear``; PEFT ≥ 0.21 adapts them only for
the families whose transformers v4 → v5 conversion it knows, under their v4 projection names (``expert_targets``).
What else those names adapt follows the PEFT release (``PEFT_LAYOUTS``, option ``--peft-version``):

* 0.21 (``utils/transformers_weight_conversion._convert_peft_config_moe``): a name that maps onto the experts is
  moved from ``target_modules`` to ``target_parameters``, so the dense MLPs and shared experts of that name are
  left frozen;
* 0.22 (same function; peft #3711, #3945): a name every matching module of which is an ``nn.Linear`` stays in
  ``target_modules`` *and*, where a non-Linear parameter of the mapped name exists (the fused experts), is added to
  ``target_parameters``: the dense MLPs and shared experts keep their adapters beside the experts' one. 0.22 also
  adds ``qwen2_moe`` itself to the conversions (``_MODEL_TO_CONVERSION_PATTERN["qwen2_moe"]``).

The experts' adapter is built and run the same way in both (``lora.ParamWrapper``, ``_LoraFactorsProxy``).
"""

from __future__ import annotations

from ..errors import ConfigError
from ..inventory import Tensor, inventory
from ..spec import ModelSpec

__all__ = ["ALL_LINEAR", "DEFAULT_PEFT", "DEFAULT_TARGETS", "EXPERT_TARGETS", "PEFT_LAYOUTS", "adapted_kinds",
           "adapted_tensors", "expert_adapters", "expert_targets", "lora_parameters", "target_kinds"]

# the PEFT releases whose LoRA layout on MoE models memfit prices (options.py: --peft-version's choices); the first,
# the current release, is the default
PEFT_LAYOUTS = ("0.22", "0.21")
DEFAULT_PEFT = PEFT_LAYOUTS[0]
DEFAULT_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
ALL_LINEAR = frozenset({"attn_q", "attn_k", "attn_v", "attn_qkv", "attn_output", "ffn_gate", "ffn_up", "ffn_down",
                        "ffn_gate_shexp", "ffn_up_shexp", "ffn_down_shexp", "attn_q_a", "attn_q_b",
                        "attn_kv_a_mqa", "attn_kv_b", "ssm_in", "ssm_x", "ssm_dt", "ssm_out",
                        "attn_index_q", "attn_index_k", "attn_index_w",
                        # DeepSeek-V4: the K=V projection, compressors, grouped output, the indexer's q_b_proj
                        "attn_kv", "attn_compress_kv", "attn_compress_gate", "attn_output_a", "attn_output_b",
                        "attn_index_q_b",
                        # Qwen2-MoE / Qwen3-Next / Qwen3.5-MoE: shared_expert_gate = nn.Linear(hidden, 1)
                        "ffn_gate_inp_shexp",
                        # transformers 5.25 nn.Linears: the gated delta-net's in_proj_ba (Qwen3NextGatedDeltaNet) or
                        # in_proj_b / in_proj_a (Qwen3_5GatedDeltaNet), Kimi delta attention's low-rank gates and
                        # b_proj (KimiLinearDeltaAttention, KimiLinearForgetGate), LFM2's in_proj / out_proj
                        # (Lfm2ShortConv)
                        "ssm_ba", "shortconv_in", "shortconv_out",
                        # Ling 3's head-wise MLA output gate (BailingHybridAttention.g_proj = nn.Linear(hidden,
                        # heads)), a block ``extra`` of bailing_hybrid named self_attn.g_proj
                        "self_attn_g_proj"})
# MoE routers that are an ``nn.Linear`` (``all-linear`` adapts them): transformers 5.25 ``Llama4Router(nn.Linear)``,
# ``HunYuanMoEV1Gate.wg``, ``DbrxRouter.layer``, ``PhimoeTopKRouter(nn.Linear)``. Every other MoE family memfit builds
# has a router module holding a raw ``nn.Parameter`` (``MixtralTopKRouter``, ``Qwen2MoeTopKRouter``,
# ``DeepseekV3TopkRouter``, ``GptOssTopKRouter``, ``GraniteMoeTopKRouter``, ``JambaTopKRouter``,
# ``NemotronHTopkRouter``, ``KimiLinearTopkRouter``, ``DeepseekV4TopKRouter`` …), which ``all-linear`` skips: adapted
# only through PEFT's conversion where ``expert_targets`` knows the family (``expert_adapters``)
_LINEAR_ROUTERS = frozenset({"llama4", "llama4_text", "hunyuan_v1_moe", "dbrx", "phimoe"})
# PEFT refuses a LoRA on these module names of these model types (peft 0.21 tuners/tuners_utils.py
# _check_lora_target_modules_mamba, called by BaseTuner._check_target_module_compatiblity for every matched target:
# ValueError "Module 'out_proj' is incompatible with Mamba-based models"); ``all-linear`` matches the mixers' out_proj
_PEFT_MAMBA_TYPES = frozenset({"falcon_h1", "mamba", "mamba2", "falcon_mamba", "nemotron_h"})
_PEFT_MAMBA_REFUSED = ("out_proj", "conv1d")

# module name (as in the Hugging Face model) -> inventory kinds it denotes, across families
_ALIASES: dict[str, frozenset[str]] = {
    "q_proj": frozenset({"attn_q"}), "query": frozenset({"attn_q"}),
    "k_proj": frozenset({"attn_k"}), "key": frozenset({"attn_k"}),
    "v_proj": frozenset({"attn_v"}), "value": frozenset({"attn_v"}),
    "o_proj": frozenset({"attn_output"}), "out_proj": frozenset({"attn_output", "ssm_out"}),
    "dense": frozenset({"attn_output"}),
    "qkv_proj": frozenset({"attn_qkv"}), "c_attn": frozenset({"attn_qkv"}),
    "query_key_value": frozenset({"attn_qkv"}), "wqkv": frozenset({"attn_qkv"}),
    "gate_proj": frozenset({"ffn_gate", "ffn_gate_shexp", "attn_compress_gate"}), "w1": frozenset({"ffn_gate"}),
    "up_proj": frozenset({"ffn_up", "ffn_up_shexp"}), "gate_up_proj": frozenset({"ffn_up"}),
    "c_fc": frozenset({"ffn_up"}), "fc1": frozenset({"ffn_up"}), "w3": frozenset({"ffn_up"}),
    "dense_h_to_4h": frozenset({"ffn_up"}), "fc_in": frozenset({"ffn_up"}),
    "down_proj": frozenset({"ffn_down", "ffn_down_shexp"}), "c_proj": frozenset({"attn_output", "ffn_down"}),
    "fc2": frozenset({"ffn_down"}), "w2": frozenset({"ffn_down"}), "dense_4h_to_h": frozenset({"ffn_down"}),
    "fc_out": frozenset({"ffn_down"}),
    "q_a_proj": frozenset({"attn_q_a"}), "q_b_proj": frozenset({"attn_q_b", "attn_index_q_b"}),
    "kv_a_proj_with_mqa": frozenset({"attn_kv_a_mqa"}), "kv_b_proj": frozenset({"attn_kv_b"}),
    "lm_head": frozenset({"output"}),
    "wq_b": frozenset({"attn_index_q"}), "wk": frozenset({"attn_index_k"}),  # DeepSeek-V3.2's indexer
    "weights_proj": frozenset({"attn_index_w"}),
    # DeepSeek-V4: one K=V projection (and its compressors' kv_proj), the grouped output projection
    "kv_proj": frozenset({"attn_kv", "attn_compress_kv"}), "o_a_proj": frozenset({"attn_output_a"}),
    "o_b_proj": frozenset({"attn_output_b"}),
    "in_proj": frozenset({"ssm_in"}), "x_proj": frozenset({"ssm_x"}), "dt_proj": frozenset({"ssm_dt"}),
    # granitemoehybrid's shared MLP: input_linear (gate and up fused), output_linear
    "input_linear": frozenset({"ffn_up"}), "output_linear": frozenset({"ffn_down"}),
    # the gated delta-net's input projections (matched by name: _INVENTORY_NAMES)
    **{name: frozenset({"ssm_in"}) for name in ("in_proj_qkvz", "in_proj_qkv", "in_proj_z")},
    **{name: frozenset({"ssm_ba"}) for name in ("in_proj_ba", "in_proj_b", "in_proj_a")},
}


def target_kinds(targets: tuple[str, ...] | list[str]) -> frozenset[str]:
    """Inventory tensor kinds denoted by PEFT ``target_modules`` names (or ``all-linear``)."""
    kinds: set[str] = set()
    for raw in targets:
        name = raw.strip().lower().rsplit(".", 1)[-1]
        if name in ("all-linear", "all_linear", "all"):
            kinds |= ALL_LINEAR
        elif name in _ALIASES:
            kinds |= _ALIASES[name]
        else:
            raise ConfigError(f"LoRA target {raw!r} is neither a known projection name nor a Linear module of this "
                              "model; use the model's module names (any nn.Linear), or names such as "
                              f"{', '.join(DEFAULT_TARGETS)}, c_attn, qkv_proj, gate_up_proj, lm_head or all-linear")
    return frozenset(kinds)


# the gated delta-net's projections: PEFT adapts them by their own names (or all-linear) only; Mamba's ``in_proj``
# (the kind ``ssm_in`` they share) is a different module name
_GDN_NAMES = frozenset({"in_proj_qkvz", "in_proj_ba", "in_proj_qkv", "in_proj_z", "in_proj_b", "in_proj_a"})
# names memfit's inventory itself uses for modules: matched by name, as PEFT matches a module-name suffix
# (so ``up_proj`` does not adapt Phi-3's fused ``gate_up_proj``); other names go through the aliases
_INVENTORY_NAMES = frozenset({"q_proj", "k_proj", "v_proj", "o_proj", "qkv_proj", "gate_proj", "up_proj",
                              "gate_up_proj", "down_proj", "lm_head", *_GDN_NAMES})


def _module(t: Tensor) -> str:
    parts = t.name.split(".")
    return parts[-2] if len(parts) >= 2 else parts[0]


def adapted_tensors(spec: ModelSpec, targets: tuple[str, ...] | list[str], peft: str = DEFAULT_PEFT
                    ) -> tuple[Tensor, ...]:
    """The weight tensors (shape (out, in)) that get a LoRA adapter under PEFT release ``peft`` (``PEFT_LAYOUTS``)."""
    tower = {module for module, *_ in spec.vision.linears} if spec.vision is not None else set()
    own = _module_targets(spec, targets, tower)
    target_kinds([raw for raw in targets if raw.strip().lower().rsplit(".", 1)[-1] not in tower
                  and raw.strip().rsplit(".", 1)[-1] not in own])  # validates the others
    names = {raw.strip().lower().rsplit(".", 1)[-1] for raw in targets if raw.strip().rsplit(".", 1)[-1] not in own}
    moved = _moved_to_experts(spec, peft)
    names -= moved
    by_name = names & _INVENTORY_NAMES
    kinds = target_kinds([n for n in names if n not in _INVENTORY_NAMES and (n in _ALIASES or n not in tower)])
    out = []
    every = bool(names & {"all-linear", "all_linear", "all"})
    router = every and spec.family in _LINEAR_ROUTERS
    for t in inventory(spec):
        if t.is_bias or len(t.shape) != 2 or not (t.layer is not None or t.kind == "output"):
            continue
        if router and t.kind == "ffn_gate_inp":
            out.append(t)
        if _module(t) in own and _module(t) not in moved:
            out.append(t)
            continue
        # a 2-D weight of a module PEFT matches by name is that nn.Linear's whatever memfit's kind for it (the generic
        # path's attention output gate ``self_attn.gate_proj``, kind attn_other: AfMoE, Beam)
        named = _module(t) in by_name
        if not named and t.kind not in ALL_LINEAR and t.kind != "output":
            continue
        by_kind = t.kind in kinds and (every or _module(t) not in _GDN_NAMES)
        if (named or by_kind) and _module(t) not in moved:
            out.append(t)
    for module, fan_in, fan_out, count in spec.vision.linears if spec.vision is not None else ():
        if every or module in names:  # PEFT matches the towers' Linear modules by the same names
            out.extend([Tensor(f"vision.{module}.weight", (fan_out, fan_in), "vision_linear", "vision")] * count)
    _refuse_mamba(spec, targets, {_module(t) for t in out} | names)
    return tuple(out)


def _refuse_mamba(spec: ModelSpec, targets: tuple[str, ...] | list[str], modules: set[str]) -> None:
    """PEFT's refusal of a LoRA on a Mamba mixer's out_proj / conv1d (``_PEFT_MAMBA_TYPES``), as a clear error."""
    refused = [m for m in _PEFT_MAMBA_REFUSED if m in modules]
    if spec.family not in _PEFT_MAMBA_TYPES or not refused:
        return
    raise ConfigError(
        f"LoRA targets {', '.join(targets)!s} adapt {' and '.join(refused)} of a {spec.family} model, which PEFT "
        f"refuses: LoRA on a module named out_proj or conv1d of model types {', '.join(sorted(_PEFT_MAMBA_TYPES))} "
        "raises ValueError (peft tuners_utils._check_lora_target_modules_mamba; all-linear includes the Mamba "
        "mixers' out_proj). Name the targets instead, leaving out out_proj and conv1d, e.g. --lora-targets "
        + ",".join(_mamba_fix(spec)))


def _mamba_fix(spec: ModelSpec) -> list[str]:
    """The model's own Linear module names PEFT accepts (all-linear less out_proj): the fix the refusal offers."""
    names = {_module(t) for t in _linear_weights(spec) if t.kind in ALL_LINEAR}
    return sorted(names - set(_PEFT_MAMBA_REFUSED))


def _linear_weights(spec: ModelSpec) -> tuple[Tensor, ...]:
    """The 2-D weights of the blocks' modules and the output head: the inventory's ``nn.Linear`` weights."""
    return tuple(t for t in inventory(spec) if not t.is_bias and len(t.shape) == 2
                 and (t.layer is not None or t.kind == "output"))


def _module_targets(spec: ModelSpec, targets: tuple[str, ...] | list[str], tower: set[str]) -> frozenset[str]:
    """Targets that are none of the known projection names but the name of a module the model has (its inventory's
    names are transformers' own where the generic path built them on the meta device, e.g. ModernBERT-decoder's
    ``mlp.Wi`` / ``mlp.Wo`` / ``attn.Wo``). PEFT matches ``target_modules`` against every module's name by suffix,
    case as written (peft ``tuners/tuners_utils.py`` ``check_target_module_exists``: ``key == target_key`` or
    ``key.endswith("." + target_key)``), so any nn.Linear of the model is a target; a name no module has is an
    error there too (``Target modules … not found in the base model``)."""
    own: set[str] = set()
    modules: set[str] | None = None
    for raw in targets:
        name = raw.strip().rsplit(".", 1)[-1]
        low = name.lower()
        if low in _ALIASES or low in ("all-linear", "all_linear", "all") or low in tower:
            continue
        if modules is None:
            modules = {_module(t) for t in _linear_weights(spec)}
        if name in modules:
            own.add(name)
    return frozenset(own)


def _moved_to_experts(spec: ModelSpec, peft: str) -> frozenset[str]:
    """Module names PEFT takes off ``target_modules`` because they now denote the fused experts.

    0.21 moves every mapped name (``all-linear`` resolves to the names of the v4 model's Linears first, so the same
    holds for it): the dense MLPs and shared experts of those names stay frozen (GLM-4.5-Air cut to 3 layers: PEFT
    0.21 trains 81,231,872, the experts' adapters and the attention's, none on layer 0's MLP or the shared
    experts). 0.22 keeps a name that some ``nn.Linear`` of the v5 model still carries: memfit's inventory names
    those Linears ``gate_proj`` / ``up_proj`` / ``down_proj``, so only Mixtral's ``w1`` / ``w3`` / ``w2`` go.
    """
    names = expert_targets(spec, peft)
    if names is None:
        return frozenset()
    return frozenset(names) if peft == "0.21" else frozenset(names) - _INVENTORY_NAMES


def adapted_kinds(spec: ModelSpec, targets: tuple[str, ...] | list[str], peft: str = DEFAULT_PEFT
                  ) -> frozenset[str]:
    """Tensor kinds of the adapted Linear layers and fused experts of ``spec`` (what the activations need)."""
    dense = {t.kind for t in adapted_tensors(spec, targets, peft)}
    # the router's ParamWrapper keeps W + ΔW (E × h) and the router's input, which the layer keeps anyway
    experts = {kind for _, kind, _, _ in expert_adapters(spec, 1, targets, peft) if kind != "ffn_gate_inp"}
    return frozenset(dense | experts)


# PEFT 0.21 ``_MOE_TARGET_MODULE_MAPPING`` keyed by transformers' ``_MODEL_TO_CONVERSION_PATTERN``: the v4 names
# (gate, up, down) that reach the fused experts. Other MoE families (gpt_oss, dbrx …; qwen2_moe itself before 0.22)
# have no conversion: their routed experts are never adapted by target_modules.
_MIXTRAL_STYLE = ("w1", "w3", "w2")
_QWEN2_MOE_STYLE = ("gate_proj", "up_proj", "down_proj")
EXPERT_TARGETS: dict[str, tuple[str, str, str]] = {
    "mixtral": _MIXTRAL_STYLE, "qwen3_moe": _QWEN2_MOE_STYLE, "olmoe": _QWEN2_MOE_STYLE,
    "deepseek_v2": _QWEN2_MOE_STYLE, "deepseek_v3": _QWEN2_MOE_STYLE,
    "glm4_moe": _QWEN2_MOE_STYLE, "ernie4_5_moe": _QWEN2_MOE_STYLE, "hunyuan_v1_moe": _QWEN2_MOE_STYLE,
    "minimax_m2": _MIXTRAL_STYLE,  # transformers 5.25 conversion_mapping: minimax_m2 → mixtral, the others → qwen2_moe
    # the same map's other entries memfit builds (GLM-4.7-Flash, DeepSeek-V3.2, GLM-5, Qwen3-Next): qwen2_moe
    "glm4_moe_lite": _QWEN2_MOE_STYLE, "deepseek_v32": _QWEN2_MOE_STYLE, "glm_moe_dsa": _QWEN2_MOE_STYLE,
    "qwen3_next": _QWEN2_MOE_STYLE, "minimax": _MIXTRAL_STYLE,
    # and those memfit reads through its generic path (sources/generic.py)
    **{family: _QWEN2_MOE_STYLE for family in ("afmoe", "dots1", "solar_open", "mellum", "beam", "flex_olmo",
                                               "exaone_moe", "cohere2_moe", "longcat_flash")},
}
# PEFT 0.22 adds ``_MODEL_TO_CONVERSION_PATTERN["qwen2_moe"] = "qwen2_moe"``: Qwen1.5-MoE / Qwen2-MoE's routed
# experts are adapted too (their shared expert, an MLP of Linears, already was)
_ADDED_IN: dict[str, dict[str, tuple[str, str, str]]] = {"0.22": {"qwen2_moe": _QWEN2_MOE_STYLE}}


def expert_targets(spec: ModelSpec, peft: str = DEFAULT_PEFT) -> tuple[str, str, str] | None:
    """The v4 names (gate, up, down) that reach ``spec``'s fused experts under PEFT ``peft``, or None."""
    if peft not in PEFT_LAYOUTS:
        raise ConfigError(f"PEFT layout {peft!r} is not one of {', '.join(PEFT_LAYOUTS)}")
    if not spec.is_moe:
        return None
    return EXPERT_TARGETS.get(spec.family) or _ADDED_IN.get(peft, {}).get(spec.family)


def expert_adapters(spec: ModelSpec, rank: int, targets: tuple[str, ...] | list[str], peft: str = DEFAULT_PEFT
                    ) -> list[tuple[int, str, tuple[int, int], tuple[int, int]]]:
    """LoRA on fused MoE experts (PEFT >= 0.21 ``ParamWrapper``): (layer, kind, lora_A shape, lora_B shape).

    ``gate_proj`` and ``up_proj`` together adapt the fused ``gate_up_proj`` (E, 2I, h) with rank 2r per
    expert: A (2r·E, h), B (2I, 2r·E); ``down_proj`` adapts ``down_proj`` (E, h, I): A (r·E, I),
    B (h, r·E); with ``all-linear`` the router too (``ffn_gate_inp``: A (r, h), B (E, r)). PEFT refuses gate_proj
    or up_proj alone on fused experts. Mixtral spells them w1, w3, w2;
    families ``expert_targets`` does not know for that PEFT release get no expert adapters.
    """
    names = {raw.strip().lower().rsplit(".", 1)[-1] for raw in targets}
    every = bool(names & {"all-linear", "all_linear", "all"})
    out: list[tuple[int, str, tuple[int, int], tuple[int, int]]] = []
    expert_names = expert_targets(spec, peft)
    if expert_names is None:
        return out
    gate_name, up_name, down_name = expert_names
    routers = _router_rows(spec)
    for i, layer in enumerate(spec.layers):
        m = layer.moe
        if m is None:
            continue
        e, inter, h = m.num_experts, m.expert_intermediate_size, spec.hidden_size
        gate, up = every or gate_name in names, every or up_name in names
        if m.kind == "gated" and gate != up:
            raise ConfigError(f"PEFT adapts fused MoE experts (gate_up_proj) only when both {gate_name} and "
                              f"{up_name} are targets: add the other one, or drop both")
        if m.kind == "gated" and gate:
            out.append((i, "ffn_up_exps", (2 * rank * e, h), (2 * inter, 2 * rank * e)))
        elif m.kind != "gated" and up:
            out.append((i, "ffn_up_exps", (rank * e, h), (inter, rank * e)))
        if every or down_name in names:
            out.append((i, "ffn_down_exps", (rank * e, inter), (h, rank * e)))
        if every and spec.family not in _LINEAR_ROUTERS:
            # ``all-linear`` also resolves to the mapping's key ``gate`` → target parameter ``gate.weight``: a
            # ParamWrapper on the 2-D router weight (E, h), one expert's worth: A (r, h), B (E, r)
            out.append((i, "ffn_gate_inp", (rank, h), (routers.get(i, e), rank)))
    return out


def _router_rows(spec: ModelSpec) -> dict[int, int]:
    """Rows of each layer's 2-D router weight where the inventory has one: more than the experts where the router
    also scores LongCat-Flash's zero-computation experts (transformers 5.25 modeling_longcat_flash.py
    LongcatFlashTopkRouter: ``n_routed_experts + zero_expert_num`` outputs); the adapter's B is (rows, r)."""
    return {t.layer: t.shape[0] for t in inventory(spec)
            if t.kind == "ffn_gate_inp" and t.layer is not None and len(t.shape) == 2 and not t.is_bias}


def lora_parameters(spec: ModelSpec, rank: int, targets: tuple[str, ...] | list[str], peft: str = DEFAULT_PEFT
                    ) -> int:
    """Trainable LoRA parameters: ``Σ r·(in + out)`` over the adapted Linear layers, plus fused-expert adapters."""
    dense = sum(rank * (t.shape[0] + t.shape[1]) for t in adapted_tensors(spec, targets, peft))
    experts = sum(a[0] * a[1] + b[0] * b[1] for _, _, a, b in expert_adapters(spec, rank, targets, peft))
    return dense + experts
