"""A training step as the caching allocator sees it, replayed through the allocator emulation
(``memory/allocator_trace.py``) to give the reserve ``nvidia-smi`` shows beyond the allocated peak.

Two steps, as the measurement runs them (the optimizer states appear in the first step, the second reuses the
pool), as an ordered stream of the step's tensors at their own sizes:

* the build: the cuBLAS workspaces, the parameters one tensor each in model order (LoRA: each adapter's A and B;
  a MoE layer's experts as transformers >= 5 keeps them, ``gate_up_proj`` and ``down_proj``);
* forward: the embedding's output, then every decoder layer op by op (``layer_stream.py``: norms, projections with
  their autocast casts, rotary, the cache copies, the attention kernel, the MLP or MoE block, the residual adds);
  with full checkpointing each layer runs without keeping its tensors (its input stays) and is run again in
  backward; autocast's weight casts and the DynamicCache go when the forward returns;
* the loss (transformers' causal-LM loss): the final norm, the output projection's logits, their fp32 copy, the
  fp32 log-softmax kept for backward; the logits go when the forward returns;
* backward: the loss's gradients, the output projection's, then each layer from the last (``layer_stream``): the
  parameter gradients one tensor each (under autocast made in bf16, then their fp32 copy); the embedding's
  backward (a dense ``V·h`` gradient for a tied embedding);
* the optimizer step: the states made at the first step, one tensor per state per parameter in parameter order
  (AdamW's ``exp_avg`` and ``exp_avg_sq`` are ``zeros_like(param)``); the step's temporaries (foreach AdamW: one
  ``_foreach_sqrt`` output per parameter, all alive until the update ends); ``zero_grad(set_to_none=True)``
  frees the gradients.

Only the tensors above 1 MiB are replayed, and the small ones a run keeps in numbers (``Trace.alloc_small``: RWKV's
WKV loop): the others live in the small pool's own 2 MiB segments, which the large tensors never use (leaving them
out moves the device total of the H100 and simulated training cases by 0.03 % at the median and 1.1 % at most,
LoRA's many small adapter tensors the most; it makes the replay a third faster).

The byte figures: those of the step's allocated peak (``activations.py``, ``states.py``), the inventory's tensors.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache

from ...spec import LayerSpec, ModelSpec
from ...workload import Workload
from ..activations import LayerActivations, ModelActivations
from ..allocator_trace import (
    CUBLAS_WORKSPACE,
    Block,
    PoolFigures,
    Trace,
    block_bytes,
    output_width,
    parameter_blocks,
    projection_index,
    tied_head_at,
)
from ..caching_allocator import K_SMALL_SIZE
from ..hyv4_training import hc_head_parts, hyv4_streams
from ..images import tower_training_saved
from ..loss_release import checkpoint_reentrant
from ..model_activations import log_softmax_bytes, model_activations
from ..runtimes.transformers_families import ONE_EXPRESSION_SOFTCAP, SOFTCAPPED_LOGITS, altup_copies
from ..weight_init import build_initialised, build_plain, orthogonal_build
from .fsdp_masks import checkpoint_masks
from .layer_cpmant import cpmant_backward, cpmant_forward, embeddings_context, replays_cpmant
from .layer_grads import layer_backward
from .layer_hyv4 import HyTopK
from .layer_ops import kv_store_layers
from .layer_stream import LayerRun, StepContext, layer_forward
from .recompute import recompute_layer
from .states import ModelStates, indexer_parameter, lora_factors
from .tower import TowerRun, idle_tower_tensors, tower_backward, tower_forward, tower_parameters

__all__ = ["training_pool", "training_reserve"]

# transformers' causal-LM heads that scale the logits (a new tensor): Cohere's ``logits * logit_scale``, Granite's
# ``logits / logits_scaling``, Falcon-H1's ``lm_head(...) * lm_head_multiplier`` (modeling_cohere2.py,
# modeling_granitemoehybrid.py, modeling_falcon_h1.py in transformers 5.25)
SCALED_LOGITS = ("cohere", "cohere2", "cohere2_moe", "granite", "granitemoe", "granitemoeshared", "granitemoehybrid",
                 "falcon_h1")
EMBEDDINGS = ("token_embd", "pos_embd", "per_layer_token_embd")  # embedding_dense_backward's, at backward's end
# final norms written as an op chain, not ``F.layer_norm`` (transformers 5.25 modeling_cohere.py CohereLayerNorm,
# modeling_cohere2.py Cohere2LayerNorm): each op's output is a new tensor (``_op_layer_norm``)
OP_LAYER_NORM = ("cohere", "cohere2")
# heads that return ``lm_head(...).float()`` (modeling_nemotron_h.py)
FLOAT_LOGITS = ("nemotron_h",)

Param = tuple[int | None, str, int, bool]  # (layer, kind, elements, a weight matrix)


@lru_cache(maxsize=256)
def training_reserve(spec: ModelSpec, wl: Workload, states: ModelStates) -> int:
    """The reserve of two replayed steps (kept per model, workload and states: a plan's search asks for the same
    grid points again)."""
    p = replace(states.precision, kv_cache=wl.checkpointing != "full")
    acts = model_activations(spec, p, wl.batch, wl.context, images=wl.images > 0)
    if wl.images:  # the vision tower trains on the images (as ``step.estimate_single_gpu`` counts it)
        acts = replace(acts, tower=tower_training_saved(spec, wl, p.proj_bytes))
    return training_pool(spec, wl, states, acts, wl.expandable_segments).reserve


def training_pool(spec: ModelSpec, wl: Workload, states: ModelStates, acts: ModelActivations,
                  expandable: bool = False) -> PoolFigures:
    """The emulated pool of two training steps on one GPU (peaks after the build)."""
    tr = _LargePool(expandable)
    # the DynamicCache of a forward without full checkpointing (``Precision.kv_cache``): K/V copied by torch.cat, read
    # by attention and kept by autograd, replayed where that changes what is kept: a fused projection's (GPT-NeoX's
    # query_key_value) K/V views would keep its whole output, which dies when attention returns (the simulator's
    # trace of gpt-neox-default-l2 LoRA); with separate projections K and V are kept at the copies' sizes
    fused = any(x.attention is not None and x.attention.fused_qkv for x in spec.layers)
    p = replace(states.precision, kv_cache=fused and wl.checkpointing != "full")
    c = StepContext(tr, spec, p, wl.batch, wl.context, kv_stores=kv_store_layers(spec), ckpt=wl.checkpointing == "full")
    _build(tr, c, states.weights, states.precision.weight_bytes, wl.random_init, states.fp32_kept)
    trainable = _trainable(c, wl, states)
    if states.lora:  # every factor PEFT builds, an idle cross-attention's too (states.lora_factors)
        for _layer, n, _trains in lora_factors(spec, wl):
            tr.alloc(n * 4)
    tr.built()
    opt: list[int] = []
    for step in range(2):
        c.grads, c.head_grad = [], 0
        _forward_backward(c, wl, acts, trainable)
        if step == 0 and states.optimizer.on_device and states.optimizer.state_bytes:
            opt = _states(tr, states, trainable)
        _step_temporaries(tr, states, trainable)
        tr.free(*c.grads)
    del opt
    return tr.figures()


class _LargePool(Trace):
    """The run's tensors above 1 MiB and its ``alloc_small`` ones (the module's docstring says why). The allocated
    peak is counted as the step's allocated peak is (``activations.py``): a sum the autograd engine makes in place
    (``InputBuffer::accumulate``) is a new block to the caching allocator here but not to that peak."""

    def __init__(self, expandable: bool = False) -> None:
        super().__init__(expandable)
        self.peak = 0
        self._in_place = 0

    def alloc(self, nbytes: int) -> int:
        return self.alloc_small(nbytes if nbytes > K_SMALL_SIZE else 0)

    def alloc_small(self, nbytes: int) -> int:  # replayed whatever its size
        key = super().alloc(nbytes)
        self.peak = max(self.peak, self.pool.allocated - self._in_place)
        return key

    def alloc_in_place(self, nbytes: int, *frees: int) -> int:
        """A sum made in place into one of ``frees`` (freed after it)."""
        before = self.pool.allocated
        key = super().alloc(nbytes) if nbytes > K_SMALL_SIZE else 0
        self._in_place = self.pool.allocated - before
        self.free(*frees)
        self._in_place = 0
        return key

    def built(self) -> None:
        super().built()
        self.peak = self.pool.allocated

    def figures(self) -> PoolFigures:
        return replace(super().figures(), peak_allocated=self.peak)


def _blocks(c: StepContext) -> list[Block]:
    """The parameter tensors in the order the model makes them: an image-text model's vision tower first (its first
    submodule), one tensor per module parameter where its layout is known (``training/tower.py``)."""
    blocks = parameter_blocks(c.spec)
    vision = [x for x in blocks if x.group == "vision"]
    if not vision:
        return blocks
    tower = [Block(None, n, True, "vision", "vision") for n in tower_parameters(c)]
    if sum(x.numel for x in tower) != sum(x.numel for x in vision):
        tower = vision
    return tower + [x for x in blocks if x.group != "vision"]


def _build(tr: Trace, c: StepContext, weights_bytes: int, tied_bytes_each: int, random_init: bool,
           fp32_kept: bool = False) -> None:
    """The process before the step: two cuBLAS workspaces (forward and autograd threads), every parameter in model
    order (``allocator_trace.block_bytes``; ``fp32_kept``: float32 parameters at 4 B), a tied output projection made
    and freed (as ``build_weights``); ``random_init``: with the family's init (``weight_init``, ``orthogonal_init``)."""
    tr.alloc(CUBLAS_WORKSPACE)
    tr.alloc(CUBLAS_WORKSPACE)
    blocks = _blocks(c)
    sizes = block_bytes(blocks, weights_bytes, fp32_kept)
    if random_init and orthogonal_build(tr, c.spec, blocks, sizes, tied_bytes_each):  # RWKV's orthogonal_ init
        return
    n = c.spec.vocab_size * output_width(c.spec)  # the tied output projection's V x d (ELECTRA's d: embedding_size)
    tied = (n, n * tied_bytes_each) if c.spec.tie_word_embeddings else None
    if random_init and c.spec.init_cutoff and build_initialised(tr, c.spec.family, c.spec.init_cutoff, blocks, sizes,
                                                                tied) is not None:
        return
    rescaled = random_init and c.spec.init_rescaled_out_proj
    build_plain(tr, blocks, sizes, rescaled, tied[1] if tied else 0, tied_head_at(c.spec, blocks))


def _trainable(c: StepContext, wl: Workload, states: ModelStates) -> list[Param]:
    """The trainable tensors in parameter order (16-bit full training: a kept-float32 one in 2-B units, see wide)."""
    spec = c.spec
    if states.lora:
        return [(layer, "lora", n, False) for layer, n, trains in lora_factors(spec, wl) if trains]
    blocks = [x for x in _blocks(c) if not indexer_parameter(spec.family, x.name)]  # no gradient (states.py)
    if not wl.images:
        blocks = [x for x in blocks if x.group != "vision"]
    elif idle := idle_tower_tensors(c):  # Qwen3-VL's deepstack mergers no text layer reads: no gradient, no state
        vision = [i for i, x in enumerate(blocks) if x.group == "vision"]
        drop = set(vision[-idle:]) if len(vision) > idle else set()
        blocks = [x for i, x in enumerate(blocks) if i not in drop]
    out: list[Param] = []
    wide = 4 // c.p.weight_bytes if states.fp32_kept else 1  # its grad and AdamW states fp32 (states.py)
    for x in blocks:  # transformers >= 5 keeps a MoE layer's experts as gate_up_proj (E, 2I, h) and down_proj
        if x.kind == "ffn_up_exps" and out and out[-1][:2] == (x.layer, "ffn_gate_exps"):
            out[-1] = (x.layer, x.kind, out[-1][2] + x.numel, True)
        else:
            out.append((x.layer, x.kind, x.numel * (wide if x.fp32 and x.kind not in EMBEDDINGS else 1), x.matrix))
    return out


def _forward_backward(c: StepContext, wl: Workload, acts: ModelActivations, trainable: list[Param]) -> None:
    if replays_cpmant(c):  # CPM-Ant's own step, op by op (layer_cpmant), then its embeddings' backward
        cpm = cpmant_forward(c)
        grad = cpmant_backward(c, cpm)
        _embedding_backward(embeddings_context(c, cpm), trainable)
        c.tr.free(grad)
        return
    tr, t, h = c.tr, c.t, c.spec.hidden_size
    full = wl.checkpointing == "full"
    reentrant = checkpoint_reentrant(wl.transformers_version)
    own_norm = c.spec.final_norm and c.spec.family in OP_LAYER_NORM
    outside = tr.alloc(acts.outside - (acts.final_norm if own_norm else 0) - acts.hc_head)
    x = embedded = tr.alloc(t * h * (c.p.embed_out_bytes or c.r))  # the embedding's output (bf16 under trl's casts)
    hy = HyTopK(c, full)  # HY-V4: its causal mask, its indexers' top-k (layer_hyv4)
    masks = {tr.alloc(m): first for m, first in checkpoint_masks(c.spec, wl, c.r)}  # to that layer's backward
    if (n := max(altup_copies(c.spec), hyv4_streams(c.spec))) > 1:  # Gemma 3n: the layers take AltUp's n copies
        x = tr.alloc(n * t * h * c.r)  # stacked, the embedding's output kept by the AltUp projections; HY-V4: n
        if hyv4_streams(c.spec) and not (full and not c.p.full):  # streams, the output kept as LoRA's ckpt leaf
            tr.free(embedded)
            embedded = 0
    tower = tower_forward(c, wl.images, acts.tower, full) if acts.tower else TowerRun()  # runs on the images
    inputs: list[int] = []
    runs: list[LayerRun] = []
    casts: list[int] = []
    stored: list[list[int]] = []  # K and V a checkpointed layer stored for KV sharing, freed at its recomputation
    for i, (layer, la) in enumerate(zip(c.spec.layers, acts.layers, strict=True)):
        inputs.append(x)
        c.layer = i
        run = layer_forward(c, layer, la, x, keep=not full)
        stored.append(run.stored)
        if not full and not run.input_kept:
            tr.free(x)
        x = run.output or x
        hy.layer_done(i)
        if full:  # checkpointed: nothing kept but the input; autocast's weight casts stay until it exits
            casts += [lin.weight_cast for lin in run.linears]
            run = LayerRun()
        runs.append(run)
    final: list[int] = []
    final += [tr.alloc(n) for n in hc_head_parts(c.spec, acts.hc_head, c.r)]  # DeepSeek-V4's, HY-V4's HC head
    hy.forward_done()
    head = _loss_forward(c, *(_op_layer_norm(c, x, final) if own_norm else (x, 0)))
    tr.free(*casts, *[k for run in runs for k in run.cache])  # autocast exits, the DynamicCache goes
    by_layer: dict[int | None, list[tuple[str, int, bool]]] = {}
    for layer_i, kind, numel, matrix in trainable:
        by_layer.setdefault(layer_i, []).append((kind, numel, matrix))
    outer = by_layer.get(None, [])
    grad = _loss_backward(c, head, [x for x in outer if x[0] != "vision"])
    tr.free(*final)  # the final norm's (and an HC head's) backward has run: their saved tensors go
    for i in range(len(runs) - 1, -1, -1):
        run = runs[i]
        if full:  # recomputed from the kept input (its stored K and V replace the first forward's)
            c.layer = i
            run = _recompute(c, c.spec.layers[i], acts.layers[i], inputs[i], reentrant)
            tr.free(*stored[i])
        grad = layer_backward(c, run, grad, by_layer.get(i, []))
        tr.free(run.output if full else 0, inputs[i], *(k for k, f in masks.items() if f == i))
        hy.backward_done(i)
    tr.free(grad, inputs[0], embedded)
    gb = 4 if (c.p.amp or not c.p.full) else c.p.weight_bytes
    tower_backward(c, tower, wl.images, full, gb if any(x[0] == "vision" for x in outer) else 0)
    if c.p.full:
        _embedding_backward(c, trainable)
    tr.free(outside)


def _recompute(c: StepContext, layer: LayerSpec, la: LayerActivations, x: int, reentrant: bool = False) -> LayerRun:
    """A checkpointed layer run again from its kept input ``x``, stopped at its last pack as torch.utils.checkpoint's
    non-reentrant mode stops it (``recompute.recompute_layer``). The reentrant mode runs the whole forward again."""
    tr = c.tr
    if reentrant:
        return layer_forward(c, layer, la, x)
    fresh = _LargePool(tr.expandable) if isinstance(tr, _LargePool) else Trace(tr.expandable)  # (as the step's)
    return recompute_layer(c, layer, la, x, fresh)


def _embedding_backward(c: StepContext, trainable: list[Param]) -> None:
    """``embedding_dense_backward``: the dense ``V·h`` gradient, and the kernel's fp32 partial sums per token
    (with more than 3,072 indices it sorts them); a tied embedding's gradient is then added to the output
    projection's, made at the start of backward (a new tensor, the two old ones freed). The tied ``V·h`` tensor is the
    word embedding whatever its kind (``lm_head.decoder.weight`` where ``lm_head`` is built first, as transformers 5.25
    modeling_xlm_roberta.py and modeling_camembert.py ``*ForCausalLM.__init__`` do)."""
    tr, t, h, v = c.tr, c.t, c.spec.hidden_size, c.spec.vocab_size
    gb = 4 if c.p.amp else c.p.weight_bytes
    # gemma3n's per-layer embedding is looked up after the token embedding: its backward runs first
    for layer_i, kind, n, _m in sorted(trainable, key=lambda x: x[1] != "per_layer_token_embd"):
        word = kind in ("token_embd", "output") and n == v * h and c.spec.tie_word_embeddings
        if layer_i is not None or (kind not in EMBEDDINGS and not word):
            continue
        dense = tr.alloc(n * gb)
        if t > 3072:
            width = n // v if n % v == 0 else h
            tr.free(tr.alloc(t * width * 4 + 4 * t * 8))
        if word and c.head_grad:
            if isinstance(tr, _LargePool):
                total = tr.alloc_in_place(v * h * gb, dense, c.head_grad)
            else:
                total = tr.alloc(v * h * gb)
                tr.free(dense, c.head_grad)
            c.grads[c.grads.index(c.head_grad)] = total
            c.head_grad = 0
        else:
            c.grads.append(dense)


def _op_layer_norm(c: StepContext, x: int, saved: list[int]) -> tuple[int, int]:
    """The final CohereLayerNorm after the last layer (CohereModel.forward: ``hidden_states =
    self.norm(hidden_states)``), op by op: ``h = x.to(float32)``; ``h - mean`` (kept by ``pow``), its square
    (reduced); ``h - mean`` again (kept by ``* rsqrt``); the product (kept by ``weight *`` when the weight trains);
    ``weight * ...``, then ``.to(input dtype)``. The stream goes with its last reference (the model's
    ``hidden_states`` rebound). Appends the saved tensors to ``saved``; returns (stream, the norm's output)."""
    tr, n = c.tr, c.t * c.spec.hidden_size
    h32 = tr.alloc(n * 4) if c.r != 4 else 0
    saved.append(tr.alloc(n * 4))
    tr.free(tr.alloc(n * 4))
    saved.append(tr.alloc(n * 4))
    tr.free(h32, x)
    m = tr.alloc(n * 4)
    out = tr.alloc(n * 4)
    saved.append(m) if c.p.full else tr.free(m)
    if c.r != 4:
        low = tr.alloc(n * c.r)
        tr.free(out)
        out = low
    return 0, out


def _loss_forward(c: StepContext, x: int, normed: int = 0) -> list[int]:
    """Final norm, output projection (then the family's scale or tanh soft-cap), logits' fp32 copy, log-softmax
    (kept); returns the keys backward frees. The projection reads ``d`` features (``output_width``)."""
    tr, t, h, v = c.tr, c.t, output_width(c.spec), c.spec.vocab_size
    n = t * v * c.pb
    normed = normed or tr.alloc(t * h * c.r)
    xin = tr.alloc(t * h * 2) if (c.p.amp and c.r == 4) else 0
    wcast = tr.alloc(v * h * 2) if (c.p.amp and c.p.full) else 0
    logits = tr.alloc(n)
    tanh = 0
    if c.spec.family in SOFTCAPPED_LOGITS:  # logits / cap, tanh (kept), × cap: each a new tensor
        d = tr.alloc(n)
        one = c.spec.family in ONE_EXPRESSION_SOFTCAP  # the projection's output bound until the product is made
        tr.free(0 if one else logits)
        tanh = tr.alloc(n)
        tr.free(d)
        capped = tr.alloc(n)
        tr.free(logits if one else 0)
        logits = capped
    elif c.spec.family in SCALED_LOGITS:  # logits × logit_scale (or / logits_scaling): a new tensor
        scaled = tr.alloc(n)
        tr.free(logits)
        logits = scaled
    f = tr.alloc(t * v * 4) if (lb := log_softmax_bytes(c.spec, c.p)) != c.pb else 0  # none for MODEL_DTYPE_LOSS
    if c.spec.family in FLOAT_LOGITS:  # the model's own .float(): the low-precision logits go before the loss
        tr.free(logits)
    elif c.p.model_float_logits and f:  # so did every model of transformers < 4.46 (loss_release.py)
        tr.free(logits)
        logits = 0
    rows = c.batch * (c.seq - 1) if c.p.loss_shift_copy else t  # transformers < 4.49: the shifted fp32 copy
    # a batch of one: logits[..., :-1, :] is already contiguous (c10 compute_contiguous skips size-1 dims): no copy
    shift = tr.alloc(rows * v * 4) if c.p.loss_shift_copy and c.batch > 1 else 0
    ls = tr.alloc(rows * v * lb)
    tr.free(f, logits, shift)
    return [ls, normed, xin, wcast, x, tanh]


def _loss_backward(c: StepContext, keys: list[int], head: list[tuple[str, int, bool]]) -> int:
    """The loss's backward down to the final norm (the projection's gradients ``d`` wide); returns the stream's."""
    tr, t, h, v = c.tr, c.t, output_width(c.spec), c.spec.vocab_size
    ls, normed, xin, wcast, x, tanh = keys
    n = t * v * c.pb
    rows = c.batch * (c.seq - 1) if c.p.loss_shift_copy else t
    g1 = tr.alloc(rows * v * (lb := log_softmax_bytes(c.spec, c.p)))  # nll_loss's and log_softmax's gradients
    g2 = tr.alloc(rows * v * lb)
    tr.free(g1, ls)
    if c.p.loss_shift_copy:  # the shift's slice_backward: a zero-filled fp32 gradient of the unshifted logits
        full = tr.alloc(t * v * 4)
        tr.free(g2)
        g2 = full
    low = tr.alloc(t * v * c.pb) if lb != c.pb else 0  # the .float()'s backward: the gradient cast back
    if low:
        tr.free(g2)
    if c.spec.family in SOFTCAPPED_LOGITS or c.spec.family in SCALED_LOGITS:  # × cap (or the scale)'s gradient
        gm = tr.alloc(n)
        tr.free(low or g2)
        low = gm
    if tanh:  # tanh_backward (its output freed), then / cap's gradient
        gt = tr.alloc(n)
        tr.free(low, tanh)
        low = tr.alloc(n)
        tr.free(gt)
    gw = tr.alloc(v * h * c.pb) if c.p.full else 0  # MmBackward: the weight's gradient, then the input's
    gi = tr.alloc(t * h * c.pb)
    tr.free(low or g2, wcast, xin)
    if gw and c.p.amp:  # the weight cast's backward: the fp32 gradient
        g32 = tr.alloc(v * h * 4)
        tr.free(gw)
        gw = g32
    if xin:
        g32 = tr.alloc(t * h * 4)
        tr.free(gi)
        gi = g32
    gb = 4 if (c.p.amp or not c.p.full) else c.p.weight_bytes
    proj = projection_index(c.spec, head)
    for i, (kind, numel, _matrix) in enumerate(head):
        if i == proj:
            if gw:
                c.grads.append(gw)
                c.head_grad, gw = gw, 0
        elif kind not in EMBEDDINGS:  # the head's other tensors (a bias, RobertaLMHead's dense and LayerNorm)
            c.grads.append(tr.alloc(numel * gb))
    tr.free(gw)
    out = tr.alloc(t * c.spec.hidden_size * c.r)
    tr.free(gi, normed, x)
    return out


def _states(tr: Trace, states: ModelStates, tensors: list[Param]) -> list[int]:
    """The optimizer's states, made at the first step: in parameter order, each parameter's states one tensor
    each (AdamW's exp_avg and exp_avg_sq: ``zeros_like(param)``), its bytes split by parameter size."""
    numel = sum(x[2] for x in tensors) or 1
    n = 2 if states.optimizer.name.startswith(("adam", "paged-adam")) else 1
    per = states.optimizer.state_bytes / numel / n
    return [tr.alloc(int(x[2] * per)) for x in tensors for _ in range(n)]


def _step_temporaries(tr: Trace, states: ModelStates, tensors: list[Param]) -> None:
    """The step's temporaries: foreach AdamW's ``_foreach_sqrt(exp_avg_sqs)`` is one tensor per parameter, all
    alive until the update ends; other optimizers' temporary is one tensor at a time."""
    tmp = states.optimizer.step_temporary
    if not tmp:
        return
    if states.optimizer.name in ("adamw-foreach", "adam-foreach"):
        numel = sum(x[2] for x in tensors) or 1
        tr.free(*[tr.alloc(x[2] * tmp // numel) for x in tensors])
        return
    tr.free(tr.alloc(tmp))
