"""The caching allocator's reserve, derived by emulation: a run described as the sequence of its large tensors'
allocations and frees, replayed through :class:`~memfit.memory.caching_allocator.CachingAllocator`.

``torch.cuda.max_memory_reserved()`` exceeds ``max_memory_allocated()`` by the cached blocks no request could reuse
when the pool reached its peak: blocks freed earlier that are too small or split the wrong way (the KV cache of
each layer landing between freed temporaries, ``torch.cat`` growing it one token at a time), the 2 MiB rounding of
segments, and what the model build left cached (a tied output embedding allocated, then replaced). A run's
reserve is the emulated pool's peak minus the emulated allocated peak, both after the build (the measurement
resets the peaks there); the allocated peak itself stays memfit's own figure.

The tensors that shape the pool are the large ones: on the simulated traces of the H100 cases (docs/simulator.md),
replaying only the allocations of 1 MiB or more gives the same reserve within a few MiB. A runtime describes its
run at that grain (transformers inference: ``runtimes/transformers_pool.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..inventory import inventory
from ..spec import ModelSpec
from .caching_allocator import CachingAllocator
from .fp32_parameters import fp32_kept

__all__ = ["Block", "PoolFigures", "Trace", "block_bytes", "build_weights", "output_width", "parameter_blocks",
           "projection_index", "tied_head_at"]

CUBLAS_WORKSPACE = 32 << 20
FP32 = 4


@dataclass(frozen=True)
class PoolFigures:
    """What the emulated pool shows after the build (the peaks restart there)."""

    peak_reserved: int
    peak_allocated: int
    reserved_after_build: int
    allocated_after_build: int

    @property
    def reserve(self) -> int:
        """Reserved beyond allocated at the peaks: the bytes ``nvidia-smi`` shows beyond the allocated peak."""
        return max(0, self.peak_reserved - self.peak_allocated)


@dataclass
class Trace:
    """A run as allocations and frees, replayed live through the emulated allocator."""

    expandable: bool = False
    pool: CachingAllocator = field(init=False)
    _next: int = 0
    _after_build: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        self.pool = CachingAllocator(self.expandable)

    def alloc(self, nbytes: int) -> int:
        """Allocate a tensor of ``nbytes``; returns its key (0 for an empty tensor, which allocates nothing)."""
        if nbytes <= 0:
            return 0
        self._next += 1
        self.pool.malloc(self._next, nbytes)
        return self._next

    def alloc_small(self, nbytes: int) -> int:
        """A small-pool tensor (1 MiB or less) a run keeps in numbers: replayed even where the run leaves the small
        ones out (``training/pool.py``), since the 2 MiB segments it fills stay reserved once it is freed (RWKV's WKV
        loop in training, ``training/layer_rwkv.py``: 12 vectors a token a layer); here as any other."""
        return self.alloc(nbytes)

    def free(self, *keys: int) -> None:
        for k in keys:
            if k:
                self.pool.free(k)

    def pack(self) -> None:
        """An op packs the tensors it saves for backward (its autograd node is made): where a checkpointed layer's
        recomputation stops after the last one (``training/recompute.py``); nothing here."""

    def packed(self, nbytes: int) -> int:
        """An op's pack, then its output: ``pack()`` and ``alloc(nbytes)``."""
        self.pack()
        return self.alloc(nbytes)

    def remainder(self, rest: int) -> int:
        """A layer's remainder block (what it saves beyond the replayed tensors): ``rest`` bytes here; a stopped
        recomputation's differ (``training/recompute.py``)."""
        return rest

    def built(self) -> None:
        """The model is built: ``reset_peak_memory_stats()``."""
        self._after_build = (self.pool.reserved, self.pool.allocated)
        self.pool.reset_peak()

    def figures(self) -> PoolFigures:
        return PoolFigures(self.pool.peak_reserved, self.pool.peak_allocated, *self._after_build)


@dataclass(frozen=True)
class Block:
    """One parameter allocation: its layer (None outside the layers), elements, whether it is a weight matrix, its
    (first) tensor's name, and whether the family keeps it in float32 under a 16-bit load
    (``data/fp32_parameters.toml``)."""

    layer: int | None
    numel: int
    matrix: bool
    group: str
    kind: str = ""
    name: str = ""
    fp32: bool = False


def parameter_blocks(spec: ModelSpec) -> list[Block]:
    """The model's parameters as allocations, in model order. Tensors of one kind in one layer's experts are one
    allocation (transformers keeps a MoE layer's experts as one 3-D tensor per projection)."""
    blocks: dict[tuple[int | None, str, bool, int], Block] = {}
    for i, t in enumerate(inventory(spec)):
        key = (t.layer, t.kind, t.is_bias, -1 if t.group == "experts" else i)
        old = blocks.get(key)
        blocks[key] = Block(t.layer, t.numel + (old.numel if old else 0), len(t.shape) >= 2 and not t.is_bias,
                            t.group, t.kind, old.name if old else t.name, fp32_kept(spec.family, t.name))
    return list(blocks.values())


def tied_head_at(spec: ModelSpec, blocks: list[Block]) -> int | None:
    """The index of a tied ``V x h`` output projection listed before every layer's tensor (None otherwise): a causal
    LM whose ``__init__`` makes its head before its base model (transformers 5.25 ``XLMRobertaForCausalLM`` and
    ``CamembertForCausalLM``: ``self.lm_head = ...LMHead(config)``, then ``self.roberta = ...Model(config)``), so
    that ``named_parameters`` (the meta build's order) lists the shared tensor under the head's name. The head's own
    ``decoder.weight`` is made there, the base model's ``word_embeddings.weight`` right after the head's other
    tensors; ``tie_weights`` (modeling_utils.py, ``_tied_weights_keys``: the decoder's weight is the target) then
    frees the decoder's, the first of the two."""
    if not spec.tie_word_embeddings:
        return None
    first_layer = next((i for i, b in enumerate(blocks) if b.layer is not None), len(blocks))
    n = spec.vocab_size * spec.hidden_size
    return next((i for i, b in enumerate(blocks[:first_layer]) if b.kind == "output" and b.numel == n), None)


def projection_index(spec: ModelSpec, head: list[tuple[str, int, bool]]) -> int | None:
    """The output projection's weight among the tensors outside the layers (``head``: each one's kind, elements,
    whether a matrix): the ``V·h`` one of kind ``output`` (tied: the input embedding), else the first such matrix of
    ``V·d`` elements, ``d`` its in-features (ELECTRA's tied ``generator_lm_head``, ``Linear(embedding_size, V)``:
    the word embeddings; RemBERT's ``cls.predictions.decoder``, ``Linear(output_embedding_size, V)``, read as
    ``other``: transformers 5.25 models/electra/modeling_electra.py, models/rembert/modeling_rembert.py), else the
    first ``output`` matrix; not BERT types' token-type table, RobertaLMHead's bias, dense, layer_norm
    (models/roberta/modeling_roberta.py), XLNet's mask_emb (modeling_xlnet.py)."""
    v = spec.vocab_size
    kinds = ("output", "token_embd") if spec.tie_word_embeddings else ("output", "other")
    exact = kinds[: 1 + spec.tie_word_embeddings]
    found = [i for i, (k, n, _m) in enumerate(head) if k in exact and n == v * spec.hidden_size]
    wide = [i for i, (k, n, m) in enumerate(head) if k in kinds and m and n >= v and n % v == 0]
    return next(iter(found or wide or [i for i, (k, _n, m) in enumerate(head) if k == "output" and m]), None)


def output_width(spec: ModelSpec) -> int:
    """The output projection's in-features ``d`` (its weight ``V·d``, :func:`projection_index`): ``hidden_size`` but
    for a head that projects to another width first (RemBERT's ``output_embedding_size``) or a tied embedding of
    another width (ELECTRA's ``embedding_size``)."""
    head = [(b.kind, b.numel, b.matrix) for b in parameter_blocks(spec) if b.layer is None]
    i = projection_index(spec, head)
    return head[i][1] // spec.vocab_size if i is not None and head[i][1] % spec.vocab_size == 0 else spec.hidden_size


def block_bytes(blocks: list[Block], weights_bytes: int, dense: bool = True) -> list[int]:
    """Each block's bytes as the load allocates it: one tensor per parameter at its own dtype (transformers 5.25
    ``core_model_loading.py`` ``convert_and_load_state_dict_in_model``: each checkpoint tensor materialised on its
    own, ``_materialize_copy`` ``tensor.to(device, dtype)``, the dtype plan's float32 for the entries of
    ``_keep_in_fp32_modules_strict``; ``from_config`` makes the same tensors in the modules' constructors). Where
    the weights are ``dense`` (a 16- or 32-bit load, whose bytes count the kept-float32 parameters at 4 B:
    ``memory/weights.py``), a kept block takes 4 B per element and the rest of ``weights_bytes`` is spread over the
    others in proportion to their elements (exactly the dtype's bytes each); otherwise (a quantized format) all of
    ``weights_bytes`` is spread so."""
    fixed = [b.numel * FP32 if dense and b.fp32 else 0 for b in blocks]
    rest = sum(b.numel for b, f in zip(blocks, fixed, strict=True) if not f) or 1
    spread = weights_bytes - sum(fixed)
    return [f or b.numel * spread // rest for b, f in zip(blocks, fixed, strict=True)]


def build_weights(trace: Trace, spec: ModelSpec, weights_bytes: int, workspaces: int = 1,
                  tied_bytes_each: int | None = None, dense: bool = True) -> list[int]:
    """The process before the workload: the cuBLAS workspaces, then every parameter tensor in model order (each at
    its own size, :func:`block_bytes`), then, for tied embeddings, the output projection transformers allocates
    with the model and frees when it ties it to the input embedding (``tied_bytes_each``: its bytes per element,
    the model dtype's). Returns the weights' keys."""
    for _ in range(workspaces):
        trace.alloc(CUBLAS_WORKSPACE)
    tensors = parameter_blocks(spec)
    keys = [trace.alloc(n) for n in block_bytes(tensors, weights_bytes, dense)]
    if spec.tie_word_embeddings and tied_bytes_each:
        trace.free(trace.alloc(spec.vocab_size * spec.hidden_size * tied_bytes_each))
    return keys
