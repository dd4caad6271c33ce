"""transformers/accelerate offload: which modules ``device_map="auto"`` puts on each GPU, the CPU and disk.

``from_pretrained(..., device_map="auto", max_memory={0: "20GiB", "cpu": "64GiB"})`` places the weights with
accelerate's ``infer_auto_device_map`` (``accelerate/utils/modeling.py``). Its rule, modelled here from that
function (the code is memfit's own):

* the modules are taken in definition order, starting from the model's direct children; a module that does not
  fit on the current device is split into its direct parameters and children, unless it is a leaf or a block
  that must not be split (``_no_split_modules``: the decoder layers); a module that fits goes to the current
  device; one that cannot be split moves the placement to the next device for good (the GPUs in index order,
  then ``cpu``, then ``disk``, which holds anything);
* the main devices (the first GPU, and the CPU) keep room for the largest layer still to place (a leaf module
  or an unsplittable block): the layer an offloaded module is brought back into to run;
* a module's size is its parameters and buffers in the load dtype (a float32 buffer in a 16-bit model counts at
  2 bytes); tied parameters (the output head sharing the embedding) are counted once and go where their first
  module goes.

The modules come from ``memfit.inventory``, the rotary embedding's two float32 buffers (``inv_freq``,
``original_inv_freq``), Gemma's one-element ``embed_scale`` buffer and, for tied embeddings, the weightless
``lm_head``. The names are memfit's: the Hugging Face names for Llama-style models (``model.embed_tokens``,
``model.layers.N``, ``model.norm``, ``lm_head``: Llama, Mistral, Mixtral, Qwen2/3, Gemma 2/3, Phi-3, OLMo-2 are
tested entry for entry against accelerate); families that name them otherwise (GPT-2's ``transformer.h.N``)
get the same bytes on each device under memfit's names. Not modelled: GPT-J's sin/cos position table (a
buffer of max_positions × rotary_dim), and quantized loads (bitsandbytes/GPTQ also shrink ``max_memory``):
only float weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigError
from .estimate import ModelRef
from .formats import get_format
from .inventory import inventory
from .sources.loader import load_model
from .spec import ModelSpec
from .units import fmt_bytes, parse_bytes

__all__ = ["DeviceMapPlan", "Module", "parse_max_memory", "plan_device_map"]

FLOAT_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
# transformers' Gemma embeddings hold their sqrt(hidden_size) scale as a one-element buffer (embed_scale)
SCALED_EMBEDDING = ("gemma", "gemma2", "gemma3", "gemma3_text")
Device = int | str


@dataclass
class Module:
    """One node of the module tree: a module (``param`` False) or a parameter / buffer."""

    name: str
    size: int = 0  # bytes of everything below it
    children: list[Module] = field(default_factory=list)  # direct parameters first, then child modules
    buffers: list[Module] = field(default_factory=list)  # direct buffers (placed only at the top level)
    param: bool = False
    no_split: bool = False

    def has_modules(self) -> bool:
        return any(not c.param for c in self.children)

    def splittable(self) -> bool:
        return not self.param and not self.no_split and self.has_modules()


@dataclass(frozen=True)
class DeviceMapPlan:
    """Where each module goes (``device_map``: accelerate's cleaned map) and the bytes of weights per device."""

    model: str
    dtype: str
    max_memory: dict[Device, int]
    device_map: dict[str, Device]
    device_bytes: dict[Device, int]  # the weights on each device
    largest_layer: tuple[str, ...]  # the layer(s) of the largest size, kept free on the main devices
    largest_layer_bytes: int

    def modules_on(self, device: Device) -> list[str]:
        return [m for m, d in self.device_map.items() if d == device]

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "dtype": self.dtype, "max_memory": {str(k): v for k, v in self.max_memory.items()},
                "device_map": self.device_map,
                "devices": [{"device": str(d), "bytes": self.device_bytes.get(d, 0), "modules": self.modules_on(d)}
                            for d in _ordered(self.max_memory) if self.modules_on(d)],
                "largest_layer": list(self.largest_layer), "largest_layer_bytes": self.largest_layer_bytes}


def parse_max_memory(text: str) -> dict[Device, int]:
    """``"0=20GiB,1=20GiB,cpu=64GiB"`` → {0: …, 1: …, "cpu": …} (GPU indices, ``cpu``, ``disk``)."""
    out: dict[Device, int] = {}
    for part in (p.strip() for p in text.split(",") if p.strip()):
        key, eq, size = part.partition("=")
        key = key.strip().lower()
        if not eq or not (key.isdigit() or key in ("cpu", "disk")):
            raise ConfigError(f"max_memory entry {part!r} must be DEVICE=SIZE with DEVICE a GPU index, cpu or disk "
                              "(e.g. 0=20GiB,cpu=64GiB)")
        out[int(key) if key.isdigit() else key] = parse_bytes(size.strip())
    if not out:
        raise ConfigError(f"max_memory {text!r} names no device: write e.g. 0=20GiB,cpu=64GiB")
    return out


def _ordered(max_memory: dict[Device, int]) -> list[Device]:
    """GPUs in index order, then cpu, then disk (accelerate's ``get_max_memory``); disk is always there."""
    gpus: list[Device] = sorted(k for k in max_memory if isinstance(k, int))
    return gpus + [k for k in ("cpu", "disk") if k in max_memory] + ([] if "disk" in max_memory else ["disk"])


def module_tree(spec: ModelSpec, dtype: str) -> tuple[Module, list[list[str]]]:
    """The model's module tree with sizes in ``dtype``, and the tied parameter groups."""
    width = FLOAT_BYTES[dtype]
    root = Module("")
    index: dict[str, Module] = {"": root}

    def node(path: str) -> Module:
        if path not in index:
            parent = node(path.rpartition(".")[0])
            index[path] = Module(path)
            parent.children.append(index[path])
        return index[path]

    blocks = _block_names(spec)
    for t in inventory(spec):
        mod = node(t.name.rpartition(".")[0])
        mod.children.insert(sum(1 for c in mod.children if c.param), Module(t.name, t.numel * width, param=True))
    ties: list[list[str]] = []
    if spec.tie_word_embeddings and "lm_head" not in index and "model.embed_tokens.weight" in {
            c.name for c in index.get("model.embed_tokens", Module("")).children}:
        node("lm_head").children.append(Module("lm_head.weight", 0, param=True))
        ties.append(["lm_head.weight", "model.embed_tokens.weight"])
    if spec.position_embedding == "rope" and "model" in index and "model.rotary_emb" not in index:
        half = (spec.layers[0].attention.rope_dim or spec.layers[0].attention.head_dim) // 2 \
            if spec.layers and spec.layers[0].attention is not None else 0
        if half:
            rot = node("model.rotary_emb")
            rot.buffers = [Module(f"model.rotary_emb.{b}", half * min(width, 4), param=True)
                           for b in ("inv_freq", "original_inv_freq")]
    if spec.family in SCALED_EMBEDDING and "model.embed_tokens" in index:
        index["model.embed_tokens"].buffers.append(Module("model.embed_tokens.embed_scale", width, param=True))
    for name in blocks:
        if name in index:
            index[name].no_split = True
    _sizes(root)
    return root, ties


def _block_names(spec: ModelSpec) -> set[str]:
    """The decoder layers (transformers' ``_no_split_modules``): the common module of each layer's tensors."""
    by_layer: dict[int, list[list[str]]] = {}
    for t in inventory(spec):
        if t.layer is not None:
            by_layer.setdefault(t.layer, []).append(t.name.split(".")[:-1])
    out = set()
    for paths in by_layer.values():
        common = paths[0]
        for p in paths[1:]:
            n = 0
            while n < min(len(common), len(p)) and common[n] == p[n]:
                n += 1
            common = common[:n]
        out.add(".".join(common))
    return out


def _sizes(m: Module) -> int:
    if not m.param:
        m.size = sum(_sizes(c) for c in m.children) + sum(b.size for b in m.buffers)
    return m.size


def _largest(mods: list[Module], params: bool = False) -> tuple[int, list[str]]:
    """accelerate's ``get_max_layer_size``: the largest leaf module or unsplittable block below ``mods``
    (``params``: the top-level parameters and buffers count as layers too, as in its first call)."""
    best, names = 0, []
    todo = [m for m in mods if params or not m.param]
    while todo:
        m = todo.pop(0)
        if m.param or not m.has_modules() or m.no_split:
            if m.size > best:
                best, names = m.size, [m.name]
            elif m.size == best:
                names.append(m.name)
        else:
            todo = [c for c in m.children if not c.param] + todo
    return best, names


def _tied_outside(name: str, ties: list[list[str]]) -> list[str]:
    """Parameters tied to one inside ``name`` that are themselves outside it."""
    out: list[str] = []
    for group in ties:
        inside = [name + "." in k + "." for k in group]
        if any(inside) and not all(inside):
            out += [k for k, i in zip(group, inside, strict=True) if not i]
    return out


def place(root: Module, ties: list[list[str]], max_memory: dict[Device, int]
          ) -> tuple[dict[str, Device], dict[Device, int], tuple[int, list[str]]]:
    """The placement loop of ``infer_auto_device_map`` over the tree: (raw device map, bytes used per device,
    the largest layer at the start)."""
    devices = _ordered(max_memory)
    gpus = [d for d in devices if isinstance(d, int)]
    main = [gpus[0], "cpu"] if gpus else ["cpu"]
    todo: list[Module] = list(root.children) + list(root.buffers)
    used = dict.fromkeys(devices, 0)
    placed: dict[str, Device] = {}
    current = 0
    largest, names = _largest(todo, params=True)
    first = (largest, list(names))
    while todo:
        m = todo.pop(0)
        names = [n for n in names if n != m.name and not n.startswith(m.name + ".")]
        if not names:
            largest, names = _largest(todo)
        dev = devices[current]
        limit = None if dev == "disk" else max_memory[dev]
        reserved = 0
        if dev in main and limit is not None:
            limit, reserved = limit - largest, largest
        tied = _tied_outside(m.name, ties)
        tied_mods = [next(t for t in todo if p == t.name or p.startswith(t.name + ".")) for p in tied
                     if any(p == t.name or p.startswith(t.name + ".") for t in todo)]
        with_ties = m.size + sum(t.size - _param_size(t, p) for t, p in zip(tied_mods, tied, strict=False))
        if limit is None or used[dev] + with_ties <= limit:
            used[dev] += with_ties
            placed[m.name] = dev
            for t in tied_mods:
                todo.remove(t)
                placed[t.name] = dev
            continue
        if tied_mods and used[dev] + m.size <= limit:
            split = next((t for t in tied_mods if t.splittable()), None)
            if split is not None:
                i = todo.index(split)
                todo = [m, *todo[:i], *split.children, *todo[i + 1:]]
                largest, names = _largest(todo)
                continue
        if used[dev] + m.size >= limit and m.splittable():
            todo = list(m.children) + todo
            largest, names = _largest(todo)
            continue
        used[dev] += reserved
        current += 1
        todo.insert(0, m)
    return placed, used, first


def _param_size(mod: Module, param: str) -> int:
    stack = [mod]
    while stack:
        x = stack.pop()
        if x.name == param:
            return x.size
        stack += x.children
    return 0


def clean(device_map: dict[str, Device], prefix_name: str = "") -> dict[str, Device]:
    """accelerate's ``clean_device_map``: a module whose submodules all share one device becomes one entry."""
    prefix = "" if prefix_name == "" else prefix_name + "."
    values = [v for k, v in device_map.items() if k.startswith(prefix)]
    if len(set(values)) == 1 and len(values) > 1:
        for k in [k for k in device_map if k.startswith(prefix)]:
            del device_map[k]
        device_map[prefix_name] = values[0]
    depth = len(prefix_name.split(".")) + 1 if prefix_name else 1
    for child in {".".join(k.split(".")[:depth]) for k in device_map if k.startswith(prefix) and
                  len(k) > len(prefix_name)}:
        clean(device_map, child)
    return device_map


def plan_device_map(model: ModelRef, max_memory: dict[Device, int] | str, *, dtype: str | None = None
                    ) -> DeviceMapPlan:
    """Where ``device_map="auto"`` with ``max_memory`` puts each module of ``model`` (weights in ``dtype``,
    default the checkpoint's float dtype)::

        p = memfit.plan_device_map("llama-3.1-8b", "0=8GiB,cpu=32GiB")
        p.device_map, p.device_bytes, p.largest_layer, p.modules_on("cpu")
    """
    spec = model if isinstance(model, ModelSpec) else load_model(model)
    mm = parse_max_memory(max_memory) if isinstance(max_memory, str) else dict(max_memory)
    name = get_format(dtype or spec.dtype).name
    if name not in FLOAT_BYTES:
        raise ConfigError(f"dtype = {dtype or spec.dtype!r}: the device map is modelled for float weights; use "
                          "--dtype bf16, fp16 or fp32")
    for k, v in mm.items():
        if not ((isinstance(k, int) and k >= 0) or k in ("cpu", "disk")) or not isinstance(v, int) or v < 0:
            raise ConfigError(f"max_memory {k!r}: {v!r} must map a GPU index, cpu or disk to a size in bytes")
    root, ties = module_tree(spec, name)
    raw, _, (largest, names) = place(root, ties, mm)
    weights: dict[Device, int] = {}
    index = _index(root)
    for mod, dev in raw.items():
        weights[dev] = weights.get(dev, 0) + index[mod].size
    return DeviceMapPlan(spec.name, name, {k: mm[k] for k in _ordered(mm) if k in mm}, clean(dict(raw)),
                         weights, tuple(names), largest)


def _index(root: Module) -> dict[str, Module]:
    out, stack = {}, [root]
    while stack:
        m = stack.pop()
        out[m.name] = m
        stack += m.children + m.buffers
    return out


def describe(p: DeviceMapPlan) -> list[str]:
    """One line per device: its modules and bytes."""
    lines = [f"largest layer: {', '.join(p.largest_layer)} ({fmt_bytes(p.largest_layer_bytes)}), kept free on the "
             "first GPU and the CPU"]
    for d in _ordered(p.max_memory):
        mods = p.modules_on(d)
        if mods:
            shown = ", ".join(mods[:6]) + (f" … ({len(mods)} entries)" if len(mods) > 6 else "")
            lines.append(f"{d}: {fmt_bytes(p.device_bytes.get(d, 0))} — {shown}")
    return lines
