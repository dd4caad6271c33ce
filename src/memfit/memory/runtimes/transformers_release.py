"""What an older transformers release keeps alive in inference (``--transformers-version``, ``--mode inference``).

memfit's transformers profile (``transformers.py``) is transformers 5: one DynamicCache whose old layer tensors go at
each ``torch.cat``, the prompt's last-position logits in ``generate``, logits in the model dtype. Older releases keep
more, each mechanism read in the releases' source and keyed by release and family in
``data/transformers_inference.toml`` (each row with its source):

* ``tuple_cache``: ``generate`` holds the previous step's cache (a legacy tuple) in its model kwargs while the model
  builds the next one by ``torch.cat``, so every decoding step ends with two caches: the old one and the new one;
* ``cache_views``: the prompt's tuple cache holds views of the fused qkv projection (GPT-2: 3 hidden widths per
  token and layer; GPT-NeoX: 4) until the first decoding step's ``torch.cat`` replaces it;
* ``prompt_logits``: the first forward of ``generate`` computes the logits of every prompt position (``b·s·V``);
* ``held_outputs``: those outputs stay referenced through the first decoding step's forward;
* ``logits_clone``: ``generate`` copies all the prompt's logits before taking the last position;
* ``float_logits``: the model casts its logits to fp32 (the model-dtype logits and the fp32 copy exist together
  at the cast; the fp32 ones are returned);
* ``rotary_tables`` / ``causal_bias``: per-layer buffers of the model (cos/sin tables of every position; a bool
  causal mask of max_position_embeddings squared), resident the whole run;
* ``dropped_probs``: eager attention's probabilities are freed when the attention returns (transformers 5's decoder
  layer keeps them through its MLP);
* ``eager_model_dtype``: the family's eager attention scores and softmax stay in the model dtype (two score-sized
  tensors at a time, where transformers 5 takes an fp32 softmax).

``forward_cache`` (``--forward-cache``, any release) is a ``forward`` that returns the cache (``use_cache=True``,
what ``model(...)`` does when the config says ``use_cache``), as a first call of a benchmark without
``use_cache=False`` runs.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

from ...errors import ConfigError
from ...formats import COMPUTE_DTYPE_BYTES
from ...spec import ModelSpec
from ...units import fmt_bytes
from ...workload import Workload
from ..kv_cache import kv_cache
from .transformers import FP32, INT64, Moment, _cache_dtype, _model_dtype, _sampling_bytes
from .transformers_moments import peak_moments

__all__ = ["InferenceRelease", "buffer_bytes", "inference_release", "release_moments", "release_note"]

MECHANISMS = ("tuple_cache", "cache_views", "prompt_logits", "held_outputs", "logits_clone", "float_logits",
              "rotary_tables", "causal_bias", "dropped_probs", "eager_model_dtype")
_VERSION = re.compile(r"^(\d{1,3})\.(\d{1,4})(?:\.(\d{1,4}))?(?:[.+\-a-z0-9]*)$")
OLDEST = (4, 35)  # the oldest release read
READ_FAMILIES = ("llama", "gpt2", "gpt_neox")  # whose modelling code was read in each release


@dataclass(frozen=True)
class InferenceRelease:
    """The mechanisms of one release for one family (all False: transformers 5, memfit's own profile)."""

    release: str = ""
    tuple_cache: bool = False
    cache_widths: int = 0  # hidden widths per token and layer the prompt's tuple cache holds (0: K and V, 2)
    prompt_logits: bool = False
    held_outputs: bool = False
    logits_clone: bool = False
    float_logits: bool = False
    rotary_tables: bool = False
    causal_bias: bool = False
    dropped_probs: bool = False
    eager_model_dtype: bool = False

    @property
    def old(self) -> bool:
        return any(getattr(self, n) for n in MECHANISMS if n != "cache_views")


def _parse(version: str) -> tuple[int, int]:
    m = _VERSION.match(version.strip().lower())
    if m is None:
        raise ConfigError(f"transformers_version {version!r} is not a version such as 4.35.2 or 5.0; give the version "
                          "`pip show transformers` prints")
    return int(m.group(1)), int(m.group(2))


@cache
def _rows() -> tuple[tuple[str, frozenset[str], tuple[int, int], tuple[int, int], int], ...]:
    """``data/transformers_inference.toml``: (mechanism, families, since, until, widths) per row."""
    text = (resources.files("memfit") / "data" / "transformers_inference.toml").read_text(encoding="utf-8")
    out = []
    for row in tomllib.loads(text)["row"]:
        name = str(row["mechanism"])
        if name not in MECHANISMS or not str(row.get("source", "")):
            raise ValueError(f"data/transformers_inference.toml: row {name!r} is not a mechanism or has no source")
        out.append((name, frozenset(str(f) for f in row["families"]), _parse(str(row.get("since", "0.0"))),
                    _parse(str(row["until"])), int(row.get("widths", 0))))
    return tuple(out)


def inference_release(version: str | None, family: str) -> InferenceRelease:
    """The mechanisms ``version`` of transformers has for ``family`` (None: transformers 5). A dev build
    (``4.42.0.dev0``) is priced as the releases before it: which of the next release's changes it holds is unknown,
    and each change read here frees memory, so the older behaviour is the safe side."""
    if version is None:
        return InferenceRelease()
    v = _parse(version)
    if v < OLDEST:
        raise ConfigError(f"transformers_version {version!r} is older than 4.35, whose inference memfit has not read; "
                          "give 4.35 or later")
    if "dev" in version.lower():
        v = (v[0], v[1] - 1) if v[1] > 0 else (v[0] - 1, 999)
    flags: dict[str, tuple[bool, int]] = {}
    for name in MECHANISMS:
        rows = [r for r in _rows() if r[0] == name]
        own = [r for r in rows if family in r[1]] or [r for r in rows if "*" in r[1]]  # the family's rows win
        hit = [r for r in own if r[2] <= v < r[3]]
        flags[name] = (bool(hit), hit[0][4] if hit else 0)
    return InferenceRelease(release=version.strip(), cache_widths=flags["cache_views"][1],
                            **{n: flags[n][0] for n in MECHANISMS if n != "cache_views"})


def buffer_bytes(spec: ModelSpec, wl: Workload, rel: InferenceRelease) -> tuple[int, str]:
    """The release's per-layer model buffers: rotary cos/sin tables and the bool causal bias."""
    n_pos, layers = spec.max_position_embeddings, len(spec.layers)
    dt = COMPUTE_DTYPE_BYTES.get(_model_dtype(spec, wl), 2)
    total, parts = 0, []
    if rel.rotary_tables and spec.position_embedding == "rope" and n_pos:
        att = next((a for a in spec.attention_layers), None)
        dim = (att.rope_dim or att.head_dim) if att is not None else 0
        total += layers * 2 * n_pos * dim * dt
        parts.append(f"{layers} layers × cos/sin {n_pos:,} × {dim} × {dt} B")
    if rel.causal_bias and n_pos:
        total += layers * n_pos * n_pos
        parts.append(f"{layers} layers × bool causal bias {n_pos:,}²")
    return total, " + ".join(parts)


def release_moments(spec: ModelSpec, wl: Workload) -> list[Moment]:
    """``peak_moments`` for the release ``wl.transformers_version`` names (and a ``forward`` that keeps its cache)."""
    rel = inference_release(wl.transformers_version, spec.family)
    keeps_cache = wl.task != "forward" or wl.forward_cache
    if not rel.old and keeps_cache == (wl.task != "forward"):
        return peak_moments(spec, wl)
    b, s, new, v, h = wl.batch, wl.context, wl.new_tokens, spec.vocab_size, spec.hidden_size
    dt = COMPUTE_DTYPE_BYTES.get(_model_dtype(spec, wl), 2)
    kvd = _cache_dtype(spec, wl)
    base = peak_moments(spec, replace(wl, task="prefill") if wl.task == "forward" and keeps_cache else wl)
    prompt = kv_cache(spec, s, b, "transformers", kvd, bound_windows=False).bytes if keeps_cache else 0
    views = prompt * (rel.cache_widths - 2) // 2 if rel.tuple_cache and rel.cache_widths > 2 else 0
    out = [_layer_moment(spec, wl, rel, m, views) if m.name.startswith("prefill ") else m
           for m in base if not (wl.task == "forward" and m.name in ("after prefill", "logits"))]
    rows = b * s * v if wl.task == "forward" or rel.prompt_logits else b * v
    at_head = rows * dt + (rows * FP32 if rel.float_logits else rows * dt if rel.logits_clone else 0)
    inputs = b * s * INT64 * (2 if wl.task == "generate" else 1)
    what = ("fp32 cast" if rel.float_logits else "copy before slicing" if rel.logits_clone else "")
    out.append(Moment(f"logits ({_who(rel)})", prompt + views, b * s * h * dt + inputs, at_head,
                      formula=f"{rows:,} × {dt} B logits" + (f" + their {what}" if what else "")
                      + " + final hidden state + inputs",
                      kv_formula=f"prompt cache {fmt_bytes(prompt)}" + (f" + qkv views {fmt_bytes(views)}" if views
                                                                        else "")))
    if wl.task == "generate" and new > 1 and rel.tuple_cache:
        out += _tuple_steps(spec, wl, rel, prompt + views, rows * (FP32 if rel.float_logits else dt), kvd)
    return out


def _layer_moment(spec: ModelSpec, wl: Workload, rel: InferenceRelease, m: Moment, views: int) -> Moment:
    """A prefill moment of one layer with the release's eager attention: probabilities dropped before the MLP,
    model-dtype scores (two at a time) instead of transformers 5's fp32 softmax (8 or 10 B per score)."""
    idx = int(m.name.rsplit("layer ", 1)[1].rstrip(")")) if "(layer " in m.name else -1
    att = spec.layers[idx].attention if 0 <= idx < len(spec.layers) else None
    act = m.activations
    if wl.attn == "eager" and att is not None and not att.single_kv:
        dt = COMPUTE_DTYPE_BYTES.get(_model_dtype(spec, wl), 2)
        scores = wl.batch * att.num_heads * wl.context * wl.context
        if rel.dropped_probs and m.name.startswith("prefill MLP"):
            act -= scores * dt  # transformers.py's held attention probabilities
        if rel.eager_model_dtype and m.name.startswith("prefill attention"):
            act -= scores * ((10 if dt == 2 and _model_dtype(spec, wl) != "float16" else 8) - 2 * dt)
    return replace(m, kv_cache=m.kv_cache + views, activations=act)


def _tuple_steps(spec: ModelSpec, wl: Workload, rel: InferenceRelease, prompt: int, logits: int,
                 kvd: str) -> list[Moment]:
    """Decoding with the tuple cache: the last layer's ``torch.cat`` of a step, the old cache still referenced by
    ``generate``. The first step also holds the prompt's outputs where the release keeps them (``held_outputs``)."""
    b, s, new = wl.batch, wl.context, wl.new_tokens
    sample = _sampling_bytes(b, spec.vocab_size, COMPUTE_DTYPE_BYTES.get(_model_dtype(spec, wl), 2))
    ids = b * (s + new) * INT64 * 2
    first = kv_cache(spec, s + 1, b, "transformers", kvd, bound_windows=True).bytes
    held = logits if rel.held_outputs else 0
    out = [Moment(f"first decoding step ({_who(rel)}: tuple cache)", prompt + first, ids, held + sample,
                  formula="prompt's outputs still referenced" if held else "",
                  kv_formula=f"old cache {fmt_bytes(prompt)} (held by generate) + new cache at {s + 1:,} tokens "
                             f"{fmt_bytes(first)}")]
    if new > 2:
        old = kv_cache(spec, s + new - 2, b, "transformers", kvd, bound_windows=True).bytes
        end = kv_cache(spec, s + new - 1, b, "transformers", kvd, bound_windows=True).bytes
        out.append(Moment(f"last decoding step ({_who(rel)}: tuple cache)", old + end, ids, sample,
                          kv_formula=f"old cache at {s + new - 2:,} tokens {fmt_bytes(old)} (held by generate) + "
                                     f"new cache at {s + new - 1:,} tokens {fmt_bytes(end)}"))
    return out


def _who(rel: InferenceRelease) -> str:
    return f"transformers {rel.release}" if rel.release else "transformers 5"


def release_note(spec: ModelSpec, wl: Workload) -> str | None:
    """The line an estimate prints about the release it priced (None: no release given)."""
    if wl.transformers_version is None:
        return None
    rel = inference_release(wl.transformers_version, spec.family)
    if not rel.old:
        return f"transformers {rel.release}: priced as transformers 5 (no older inference mechanism applies)"
    what = [n for n in MECHANISMS if n != "cache_views" and getattr(rel, n)]
    assumed = "" if spec.family in READ_FAMILIES else f"; {spec.family}'s code not read: Llama's timeline assumed"
    reserve = ("; the device total is a floor: with the tuple cache every step allocates the cache at new sizes and "
               "the caching allocator's reserve grows far past the allocated peak (optimum-benchmark, 4.35.2, "
               "Llama-2-7B b16: 26.4 GB allocated, 84.4 GB reserved)" if rel.tuple_cache and wl.task == "generate"
               else "; the allocator reserve is replayed as transformers 5's run")
    return (f"transformers {rel.release} ({spec.family}): " + ", ".join(w.replace("_", " ") for w in what)
            + f" (data/transformers_inference.toml{assumed})" + reserve)
