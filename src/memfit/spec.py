"""The model description: one typed, immutable picture of an architecture.

Everything memfit computes starts here. A ``ModelSpec`` is built from a Hugging Face
``config.json`` (``memfit.sources.hf_config``), a GGUF header, a safetensors header or a bare
parameter count, and then feeds every formula: parameter counts (via the tensor inventory in
``memfit.inventory``), weights in any format, KV cache, activations and training states.

Layers may differ from each other (sliding-window and global attention interleaved, dense and
MoE layers mixed, attention and Mamba mixers in hybrids), so the per-layer facts live in
``LayerSpec`` and the model holds one per layer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

__all__ = [
    "AttentionSpec",
    "LayerSpec",
    "LinearAttentionSpec",
    "MLPSpec",
    "MoESpec",
    "ModelSpec",
    "SSMSpec",
    "ShortConvSpec",
    "StoredWeights",
    "TensorSource",
    "VisionSpec",
]

# ``layernorm_fp32``: F.layer_norm with neither weight nor bias on an fp32 copy of its input, cast back (transformers
# 5.25 modeling_olmo.py ``OlmoLayerNorm.forward``: ``F.layer_norm(x.to(float32), shape, None, None).to(orig_dtype)``)
NormKind = Literal["rms", "layernorm", "layernorm_nobias", "layernorm_fp32"]
MLPKind = Literal["gated", "plain"]
MixerKind = Literal["attention", "mamba", "mamba2", "linear_attention", "short_conv"]
QKNorm = Literal["none", "head", "full", "per_head_layernorm"]
# Where a block's hidden-sized norms sit: ``pre`` (input + post-attention, llama), ``sandwich`` (pre and post
# around both attention and MLP, gemma2/3), ``post`` (after attention and after the MLP, olmo2),
# ``parallel`` (one or two norms feeding attention and MLP side by side: gpt-j, phi, falcon, mamba).
NormLayout = Literal["pre", "sandwich", "post", "parallel"]


@dataclass(frozen=True)
class AttentionSpec:
    """One layer's attention.

    ``kind`` is derived: ``mha`` (kv heads = heads), ``gqa``, ``mqa`` (one kv head) or ``mla``
    (DeepSeek multi-head latent attention, when ``kv_lora_rank`` is set).
    For MLA, ``head_dim`` is the query/key head size (nope + rope) and ``v_head_dim`` the value's.
    """

    num_heads: int
    num_kv_heads: int
    head_dim: int
    v_head_dim: int | None = None  # None: same as head_dim
    sliding_window: int | None = None  # None: full (global) attention
    qkv_bias: bool = False
    o_bias: bool = False
    # q/k norms: ``head`` = one head_dim-sized weight shared by the heads (qwen3, gemma3), ``full`` = over all
    # heads (olmo2, olmoe), ``per_head_layernorm`` = one weight per head (stablelm)
    qk_norm: QKNorm = "none"
    qk_norm_bias: bool = False  # the q/k norms are LayerNorms with a bias (phi)
    sinks: bool = False  # learned per-head attention sinks (gpt-oss)
    fused_qkv: bool = False  # stored as one tensor (phi3, gpt2, falcon, neox, dbrx)
    rope_dim: int | None = None  # rotary dimensions per head when partial (phi, gpt-j, neox, stablelm)
    output_gate: bool = False  # q_proj also emits a per-head sigmoid gate on the output (qwen3-next, qwen3.5)
    # MLA (DeepSeek-V2/V3); all None for ordinary attention
    q_lora_rank: int | None = None
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    qk_nope_head_dim: int | None = None
    # DeepSeek sparse attention's lightning indexer (deepseek_v32): ``index_heads`` query heads of
    # ``index_head_dim`` scoring one cached key of ``index_head_dim`` per token; the ``index_topk`` best kept
    index_heads: int = 0
    index_head_dim: int = 0
    index_topk: int = 0
    # MiniMax-M3's block-sparse indexer (``minimax_m3_sparse`` layers, transformers 5.25 MiniMaxM3VLIndexer): keys
    # max-pooled per block of ``index_block`` tokens, ``index_topk`` blocks kept per query and indexer head; 0: none
    index_block: int = 0
    # the layer reuses an earlier layer's K/V (gemma3n/gemma4 ``num_kv_shared_layers``): no k/v projections or
    # k norm, nothing cached
    kv_shared: bool = False
    k_eq_v: bool = False  # V is the normed K (gemma4 ``attention_k_eq_v`` global layers): no v projection
    cross_attention: bool = False  # attends to the image tokens (mllama): caches theirs, not the text's
    # DeepSeek-V4 (deepseek_v4): K and V are one cached tensor (``single_kv``); a compressor pools every
    # ``compress_rate`` tokens into one more cached entry (4: CSA, with the indexer fields set; 128: HCA; 0: none);
    # the output projection is grouped (``o_groups`` blocks to ``o_lora_rank`` each, then one linear to hidden)
    single_kv: bool = False
    compress_rate: int = 0
    o_groups: int = 0
    o_lora_rank: int = 0

    @property
    def kind(self) -> Literal["mha", "gqa", "mqa", "mla"]:
        if self.kv_lora_rank is not None:
            return "mla"
        if self.num_kv_heads == self.num_heads:
            return "mha"
        if self.num_kv_heads == 1:
            return "mqa"
        return "gqa"

    @property
    def value_dim(self) -> int:
        return self.v_head_dim if self.v_head_dim is not None else self.head_dim


@dataclass(frozen=True)
class MLPSpec:
    """A dense feed-forward block: ``gated`` = gate/up/down (SwiGLU, GeGLU), ``plain`` = up/down."""

    intermediate_size: int
    kind: MLPKind = "gated"
    bias: bool = False
    activation: str = "silu"
    fused_gate_up: bool = False  # gate and up stored as one (2 × intermediate, hidden) tensor (phi3)
    # gemma3n's activation sparsity: the gate's output is cut at mean + k·std per token (a gaussian top-k)
    gaussian_topk: bool = False


@dataclass(frozen=True)
class MoESpec:
    """A mixture-of-experts block: ``num_experts`` routed experts, ``top_k`` active per token."""

    num_experts: int
    top_k: int
    expert_intermediate_size: int
    num_shared_experts: int = 0
    shared_intermediate_size: int = 0  # per shared expert (0: same as expert_intermediate_size)
    shared_expert_gate: bool = False  # qwen2_moe: a 1-wide sigmoid gate on the shared expert
    router_bias: bool = False
    expert_bias: bool = False  # gpt-oss: biases on expert projections
    score_correction_bias: bool = False  # deepseek-v3 e_score_correction_bias (a buffer, not a parameter)
    score_bias_parameter: bool = False  # ernie 4.5: the correction bias is a (1, experts) parameter, counted
    shared_expert_bias: bool = False  # the shared expert's projections have biases (ernie 4.5 use_bias)
    kind: MLPKind = "gated"
    norm_topk_prob: bool = False  # top-k routing weights renormalised to sum to 1
    num_groups: int = 1  # deepseek-v3 group-limited routing: expert groups …
    topk_group: int = 1  # … of which this many are searched per token
    # transformers runs every token through every expert (router scores, 0 for the unselected, scale the inputs):
    # llama4's Llama4TextMoe. Activations then hold num_experts rows per token; compute and active counts stay top-k
    dense_dispatch: bool = False

    @property
    def routed_rows(self) -> int:
        """Expert rows each token occupies in transformers' activations: top_k, or every expert (dense dispatch)."""
        return self.num_experts if self.dense_dispatch else self.top_k

    @property
    def shared_size(self) -> int:
        """Intermediate size of all shared experts together (0 when there are none)."""
        return self.num_shared_experts * (self.shared_intermediate_size or self.expert_intermediate_size)


@dataclass(frozen=True)
class SSMSpec:
    """A Mamba (``mamba``) or Mamba-2 (``mamba2``) mixer; its state is constant per sequence."""

    d_inner: int  # intermediate size (expand * hidden)
    d_state: int
    d_conv: int
    dt_rank: int = 0  # mamba1
    num_heads: int = 0  # mamba2
    head_dim: int = 0  # mamba2
    n_groups: int = 1  # mamba2
    conv_bias: bool = True
    proj_bias: bool = False
    out_bias: bool | None = None  # out_proj's bias when it differs from in_proj's (falcon_h1 projectors_bias)
    gated_norm: bool = True  # mamba2: the gated RMSNorm over d_inner before out_proj (falcon_h1 mamba_rms_norm)
    inner_norms: bool = False  # mamba1: RMSNorms over dt, B and C (jamba's dt/b/c_layernorm)
    chunk_size: int = 256  # mamba2: the SSD scan's chunk length (transformers' torch path materialises chunk² per head)
    # RecurrentGemma's RG-LRU (transformers 5.25 modeling_recurrent_gemma.py RecurrentGemmaRecurrentBlock): linear_x
    # and linear_y of ``d_inner`` (lru_width), a depthwise conv of ``d_conv`` taps, the gated linear recurrence run
    # as a python loop over time; its state is ``d_inner`` fp32 values (``d_state`` 1) beside the conv's
    rglru: bool = False
    # RWKV's time mixing (transformers 5.25 models/rwkv/modeling_rwkv.py RwkvSelfAttention): key, value, receptance and
    # output projections of ``d_inner`` (hidden), the WKV recurrence as a python loop over time without the CUDA kernel;
    # its state is two shift vectors (model dtype) and num / den / max (fp32) of ``d_inner`` (memory/rwkv.py)
    rwkv: bool = False


@dataclass(frozen=True)
class LinearAttentionSpec:
    """A gated delta-net linear-attention mixer (qwen3-next, qwen3.5): q/k of ``num_k_heads × head_k_dim``,
    v of ``num_v_heads × head_v_dim``, a causal depthwise convolution over q, k, v of ``conv_kernel`` taps; its
    state per sequence is constant (conv state + a ``num_v_heads × head_k_dim × head_v_dim`` recurrent state)."""

    num_k_heads: int
    num_v_heads: int
    head_k_dim: int
    head_v_dim: int
    conv_kernel: int
    # ``kda``: Kimi delta attention (kimi_linear): separate q/k/v projections, a per-channel forget gate and an
    # output gate, each through a low-rank pair of width ``head_k_dim``; same state as the gated delta-net
    kind: Literal["gated_deltanet", "kda"] = "gated_deltanet"
    # Qwen3.5's layout (transformers 5.25 ``Qwen3_5GatedDeltaNet``): ``in_proj_qkv`` straight to the conv's channels
    # and ``in_proj_z`` apart, where Qwen3-Next's fused ``in_proj_qkvz`` is split and its q, k, v concatenated back
    split_proj: bool = False
    # OLMo Hybrid's layout (transformers 5.25 ``OlmoHybridGatedDeltaNet.forward``): the output gate's ``g_proj`` runs
    # on the layer's input after ``torch_chunk_gated_delta_rule`` returns, so no gate is alive during the rule
    late_gate: bool = False
    # Ling 3's KDA (bailing_hybrid; transformers 5.25 ``BailingHybridDeltaAttention``): the forget gate's ``f_proj``
    # and the output gate's ``g_proj`` are single full-rank Linears (not Kimi's low-rank pairs), A_log has one entry
    # per head, and the depthwise conv keeps fp32 weights (``_keep_in_fp32_modules_strict``), so it runs in fp32
    full_rank_gates: bool = False

    @property
    def key_dim(self) -> int:
        return self.num_k_heads * self.head_k_dim

    @property
    def value_dim(self) -> int:
        return self.num_v_heads * self.head_v_dim

    @property
    def conv_dim(self) -> int:
        return 2 * self.key_dim + self.value_dim


@dataclass(frozen=True)
class ShortConvSpec:
    """A gated short-convolution mixer (LFM2): in_proj to 3 × hidden (B, C, x), a depthwise causal convolution of
    ``kernel`` taps over hidden channels, out_proj; its state per sequence is the last ``kernel`` inputs."""

    kernel: int
    bias: bool = False


@dataclass(frozen=True)
class LayerSpec:
    """One decoder block: a mixer (attention or SSM) and a feed-forward part (dense or MoE)."""

    mixer: MixerKind = "attention"
    attention: AttentionSpec | None = None
    ssm: SSMSpec | None = None
    linear: LinearAttentionSpec | None = None
    conv: ShortConvSpec | None = None
    mlp: MLPSpec | None = None
    moe: MoESpec | None = None
    norms: int = 2  # hidden-sized norm modules in the block (pre-attn, pre-mlp, post-… )
    norm_layout: NormLayout = "pre"
    # other named parameter tensors of the block, (module path in the block, shape): gemma3n's AltUp, LAuReL and
    # per-layer-input projections
    extra: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @property
    def sliding_window(self) -> int | None:
        """The attention window of this layer; None for full attention or an SSM mixer."""
        return self.attention.sliding_window if self.attention is not None else None


@dataclass(frozen=True)
class VisionSpec:
    """A vision tower and projector, counted as parameters; not used by the text-only formulas."""

    parameters: int
    hidden_size: int = 0
    num_layers: int = 0
    description: str = ""
    # Architecture, when known (``kind="siglip"``: the inventory lists its real tensors); else a lump
    kind: str = ""
    intermediate_size: int = 0
    num_heads: int = 0
    image_size: int = 0
    patch_size: int = 0
    num_channels: int = 3
    projector_dim: int = 0  # the text hidden size the projector maps into
    pooling_head: bool = False  # SigLIP's attention-pooling head (``vision_use_head``)
    tokens_per_image: int = 0
    cross_attention_tokens: int = 0  # vision tokens per image each cross-attention layer caches (mllama)
    temporal_patch: int = 1  # frames per patch (Qwen-VL's pixel rows carry C × t × p² values)
    deepstack: int = 0  # Qwen3-VL: mergers whose features are added to the first text layers' hidden states
    deepstack_indexes: tuple[int, ...] = ()  # Qwen3-VL: the tower block each deepstack merger reads, merger order
    tiles: int = 0  # mllama: tiles per image (each of image_size² px)
    kept_layers: int = 0  # mllama: layers whose outputs the encoders keep to their end (every local and global one)
    output_dim: int = 0  # mllama: the final and selected intermediate hidden states concatenated
    # the tower's nn.Linear modules, where described: (module name, in features, out features, how many); what PEFT
    # adapts when a LoRA target names them (or all-linear)
    linears: tuple[tuple[str, int, int, int], ...] = ()

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2 if self.patch_size else 0


@dataclass(frozen=True)
class StoredWeights:
    """What a checkpoint holds, read from its headers (safetensors, GGUF): exact bytes as stored.

    ``bytes_by_dtype`` maps a stored dtype/type name (``BF16``, ``F8_E4M3``, ``Q4_K``, ``I32`` …) to
    (elements, bytes). ``logical_parameters`` counts unpacked weights (a GPTQ int32 holding eight
    4-bit weights counts 8), ``loaded_bytes`` is what the runtime holds after loading (e.g. after
    dequantizing a format the GPU cannot run natively); equal to ``stored_bytes`` when nothing changes.
    """

    container: str  # "safetensors" | "gguf"
    stored_bytes: int
    loaded_bytes: int
    logical_parameters: int
    tensors: int
    bytes_by_dtype: tuple[tuple[str, int, int], ...] = ()
    quantization: str | None = None  # gptq, awq, fp8, bitsandbytes, mxfp4, gguf:Q4_K_M, …
    files: tuple[str, ...] = ()
    header_bytes_read: int = 0
    file_bytes: int = 0  # the checkpoint files on disk, where the layout is known (GGUF); 0 when not known


class TensorSource(Protocol):
    """Lists a spec's parameter tensors (``memfit.inventory.Tensor`` objects) when its layers cannot: the
    generic path's, built lazily by the sources layer and hashable (a spec is a cache key)."""

    def tensors(self, spec: ModelSpec) -> tuple[Any, ...]: ...


@dataclass(frozen=True)
class ModelSpec:
    """An architecture, as memfit needs it. Immutable; build with ``memfit.load_model``.

    ``parameters_override`` is set only for a bare parameter count (``"7B"``), where no
    architecture is known: then the count is exact and nothing else can be derived.
    """

    name: str
    family: str
    hidden_size: int
    vocab_size: int
    layers: tuple[LayerSpec, ...]
    tie_word_embeddings: bool = False
    norm: NormKind = "rms"
    position_embedding: Literal["rope", "learned", "alibi", "none"] = "rope"
    max_position_embeddings: int = 0
    lm_head_bias: bool = False
    final_norm: bool = True
    embedding_norm: bool = False  # a norm right after the embedding (bloom-style)
    dtype: str = "bfloat16"  # the config's own dtype
    vision: VisionSpec | None = None
    mtp_layers: int = 0  # DeepSeek-V3 multi-token-prediction blocks (not built by transformers, not counted)
    source: str = ""  # where the description came from (catalog id, path, repo)
    parameters_override: int | None = None
    # other named parameter tensors: (name, numel) or (name, shape)
    extra: tuple[tuple[str, int | tuple[int, ...]], ...] = field(default=())
    stored: StoredWeights | None = None  # set when read from a checkpoint's headers
    quantization: str | None = None  # the checkpoint's own weight format (fp8-block, mxfp4, gptq-4bit-g128 …)
    # the context the RoPE was trained at (Phi-3 LongRoPE's short/long switch point); 0 when the config has none.
    # transformers' Phi-3 drops the KV cache and re-runs the whole sequence when generation crosses it.
    original_max_position_embeddings: int = 0
    # RoPE tables the config asks for beyond one of max_position_embeddings rows: the full-attention layers' linear
    # scaling factor (rope_scaling {"rope_type": "linear", "factor": F}; 1.0: none) and whether the sliding-window
    # layers keep their own base (gemma-3's rope_local_base_freq). vLLM caches one cos/sin table per distinct rope
    # (memory/runtimes/vllm.py rope_cache_bytes)
    rope_linear_factor: float = 1.0
    rope_local_base: bool = False
    # a generation parameter some config.json files carry (MLC's: 2,048): transformers' GenerationConfig
    # .from_model_config copies it, and generate then runs the prompt in chunks of this many tokens
    # (generation/utils.py ``_prefill``); 0 when the config has none
    prefill_chunk_size: int = 0
    # the bounds, in stds, of the family's trunc_normal_ weight init (data/trunc_normal_init.toml); 0.0: none listed
    init_cutoff: float = 0.0
    # the family's weight init rescales each Mamba mixer's out_proj out of place (``init_rows.RESCALED_OUT_PROJ``):
    # one transient of that weight's size per mixer in a random-init build (``memory/weight_init.py``)
    init_rescaled_out_proj: bool = False
    # training-time dropout probabilities the family's modelling code applies (0 = no dropout op): after the
    # embeddings, on each residual branch (attention and MLP outputs), on the attention probabilities
    embedding_dropout: float = 0.0
    residual_dropout: float = 0.0
    attention_dropout: float = 0.0
    # on a plain (not gated) MLP's activation before its down projection (BART family, BioGPT: activation_dropout)
    activation_dropout: float = 0.0
    # set by the generic path (a model_type without a first-class builder): where the parameter tensors come
    # from instead of the layers (transformers' own build of the config; memfit.sources.generic_tensors)
    tensor_source: TensorSource | None = None

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def is_generic(self) -> bool:
        """True when the description rests on the generic path (standard config fields, no family builder)."""
        return self.tensor_source is not None

    @property
    def is_bare(self) -> bool:
        """True for a bare parameter count: no architecture behind it."""
        return self.parameters_override is not None

    @property
    def attention_layers(self) -> tuple[AttentionSpec, ...]:
        return tuple(layer.attention for layer in self.layers if layer.attention is not None)

    @property
    def is_moe(self) -> bool:
        return any(layer.moe is not None for layer in self.layers)

    @property
    def sliding_windows(self) -> tuple[int | None, ...]:
        """Per layer: the attention window, or None for full attention (and for SSM layers)."""
        return tuple(layer.sliding_window for layer in self.layers)

    @property
    def moe_layers(self) -> tuple[MoESpec, ...]:
        return tuple(layer.moe for layer in self.layers if layer.moe is not None)
