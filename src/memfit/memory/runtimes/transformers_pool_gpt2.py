"""GPT-2's and GPTBigCode's block as the caching allocator sees it, for the pool emulation of
``transformers_pool.py`` (GPT-2: the simulator's trace of gpt2-medium; GPTBigCode: issue 12, l12sweep4, transformers
5.25 ``modeling_gpt_bigcode.py`` and the simulator's trace of the development case
gpt-bigcode-default-l4/prefill-fp16-b4-s2048 in sweep-dev.jsonl, device total -4.48 % before).

``GPTBigCodeBlock.forward`` is GPT-2's (``GPT2Block.forward``): ln_1, the attention, ``attn_output + residual``;
ln_2, the MLP, ``residual + feed_forward_hidden_states``; ``attn_output`` lives until the block returns.
``GPTBigCodeAttention.forward`` makes one ``c_attn`` tensor of ``h + 2·kv_dim`` features (multi-query: one K/V head;
q, k and v are views of it), ``DynamicLayer.update`` copies K and V into the cache, the kernel's output, ``c_proj``.
``GPTBigCodeMLP`` (``GPT2MLP.forward``): ``c_fc``, the activation, ``c_proj``; GPTBigCode's ``gelu_pytorch_tanh`` is
one kernel (one intermediate-sized tensor, ``c_fc``'s freed when it returns), GPT-2's ``gelu_new`` a Python chain.
``GPTBigCodeModel.forward`` (as ``GPT2Model.forward``) keeps ``inputs_embeds`` and ``position_embeds`` (``wpe``)
to its end and adds them into the first block's input (:data:`LEARNED_POSITIONS`).
"""

from __future__ import annotations

from ...workload import Workload
from ..allocator_trace import Trace

__all__ = ["LEARNED_POSITIONS", "gpt2_block"]

# the model's forward adds wpe's output to the token embeddings into a new tensor, both kept to its end
LEARNED_POSITIONS = ("gpt2", "gpt_bigcode")


def gpt2_block(tr: Trace, wl: Workload, t: int, h: int, inner: int, dt: int, kv: int, stream: int,
               qkv_features: int, gelu_chain: bool) -> tuple[int, list[int]]:
    """The block under SDPA: ln_1, c_attn (``qkv_features`` per token; q, k, v as views), K and V copied into the
    cache, the kernel's output, c_proj (held by the block until it returns), the residual; ln_2, c_fc, the
    activation (``gelu_chain``: gelu_new's Python chain, three temporaries, then one made and one dropped per op;
    else one tensor), c_proj, the residual; the block's input goes when it returns."""
    ln1 = tr.alloc(t * h * dt)
    qkv = tr.alloc(t * qkv_features * dt)
    kv_keys = [tr.alloc(kv // 2), tr.alloc(kv - kv // 2)] if kv and wl.task != "forward" else []
    out = tr.alloc(t * h * dt)
    attn = tr.alloc(t * h * dt)
    tr.free(out, qkv)
    mid = tr.alloc(t * h * dt)
    tr.free(ln1)
    ln2 = tr.alloc(t * h * dt)
    fc = tr.alloc(t * inner * dt)
    if gelu_chain:
        alive = [tr.alloc(t * inner * dt) for _ in range(3)]  # pow(x, 3), · 0.044715, x + ·
        for _ in range(5):  # · sqrt(2/π), tanh, 1 + ·, 0.5 · x, the product
            tr.free(alive.pop(0))
            alive.append(tr.alloc(t * inner * dt))
        tr.free(*alive[:-1])
        act = alive[-1]
    else:
        act = tr.alloc(t * inner * dt)
    tr.free(fc)
    mlp = tr.alloc(t * h * dt)
    tr.free(act)
    new = tr.alloc(t * h * dt)
    tr.free(ln2, mid, attn, mlp, stream)
    return new, kv_keys
