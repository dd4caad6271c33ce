"""Memory against context length or batch size: the numbers (``curve``) and the picture (``render_curve``).

``curve`` is pure and cheap (one ``estimate`` per point); the web page and ``memfit plot`` both use it.
matplotlib is imported only inside ``render_curve`` (Agg backend, no display needed)::

    c = curve("llama-3.1-8b", Workload(mode="inference", context=4096), x="context")
    c.total_bytes            # one total per point in c.points
    render_curve(c, Path("llama.svg"), limit_bytes=80 * 10**9)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from .errors import ConfigError
from .estimate import ModelRef, estimate
from .sources.loader import load_model
from .workload import Workload

__all__ = ["AXES", "MAX_POINTS", "Curve", "curve", "default_points", "render_curve"]

Axis = Literal["context", "batch"]
AXES: tuple[str, ...] = ("context", "batch")
MAX_POINTS = 64
_CONTEXT_FLOOR, _CONTEXT_TOP, _CONTEXT_CAP = 512, 131_072, 10_000_000
_BATCH_TOP = 256


# The page (web/static/app.js) uses the same colours for the same components.
COLORS = {"weights": "#4e79a7", "kv_cache": "#f28e2b", "activations": "#e15759", "logits": "#76b7b2",
          "overhead": "#59a14f", "cuda_context": "#edc948", "allocator_reserve": "#b07aa1", "gradients": "#ff9da7",
          "optimizer_states": "#9c755f", "master_weights": "#bab0ac", "lora_weights": "#d37295"}
_EXTRA = ("#8cd17d", "#b6992d", "#499894", "#f1ce63", "#d4a6c8", "#fabfd2", "#79706e", "#d7b5a6")


def _tick(v: int) -> str:
    if v >= 1024 and v % 1024 == 0:
        return f"{v // 1024}K"
    return f"{v:,}"


@dataclass(frozen=True)
class Curve:
    """Estimates at each point of one axis: ``series[name][i]`` is component ``name`` at ``points[i]``."""

    model: str
    mode: str
    dtype: str
    x: str
    points: tuple[int, ...]
    components: tuple[str, ...]  # in order of first appearance
    series: dict[str, tuple[int, ...]]
    total_bytes: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        """The curve as plain JSON types (what ``POST /api/curve`` answers)."""
        return {"model": self.model, "mode": self.mode, "dtype": self.dtype, "x": self.x,
                "points": list(self.points), "components": list(self.components),
                "series": {k: list(v) for k, v in self.series.items()}, "total_bytes": list(self.total_bytes)}


def default_points(x: str, current: int, max_context: int = 0) -> tuple[int, ...]:
    """Doubling points that span the useful range of ``x`` and include ``current``.

    context: 512, 1024, … up to the model's ``max_position_embeddings`` (131,072 when unknown);
    batch: 1, 2, 4, … 256. ``current`` is always one of the points.
    """
    if x == "context":
        top = min(max(max_context or _CONTEXT_TOP, 4096), _CONTEXT_CAP)
        pts = {current}
        v = _CONTEXT_FLOOR
        while v <= top:
            pts.add(v)
            v *= 2
        if top not in pts and top > v // 2:
            pts.add(top)
    elif x == "batch":
        pts = {current}
        v = 1
        while v <= max(_BATCH_TOP, 1):
            pts.add(v)
            v *= 2
    else:
        raise ConfigError(f"x = {x!r} must be one of {', '.join(AXES)}")
    return tuple(sorted(pts))[:MAX_POINTS]


def curve(model: ModelRef, workload: Workload, x: str = "context", points: Sequence[int] | None = None) -> Curve:
    """Estimate ``model`` at each value of ``x`` (``context`` or ``batch``), everything else from ``workload``."""
    if x not in AXES:
        raise ConfigError(f"x = {x!r} must be one of {', '.join(AXES)}")
    spec = load_model(model)
    current = int(getattr(workload, x))
    pts = tuple(sorted(set(points))) if points else default_points(x, current, spec.max_position_embeddings)
    if not pts:
        raise ConfigError("the curve needs at least one point")
    if len(pts) > MAX_POINTS:
        raise ConfigError(f"{len(pts)} points asked; a curve has at most {MAX_POINTS}")
    docs = [estimate(spec, workload.replace(**{x: p})).to_json() for p in pts]
    names: list[str] = []
    for d in docs:
        names += [k for k in d["components"] if k not in names]
    series = {n: tuple(int(d["components"].get(n, 0)) for d in docs) for n in names}
    first = docs[0]
    return Curve(str(first["model"]), str(first["mode"]), str(first["dtype"]), x, pts, tuple(names), series,
                 tuple(int(d["total_bytes"]) for d in docs))


def render_curve(c: Curve, out: Path, limit_bytes: int | None = None, title: str | None = None,
                 limit_label: str | None = None) -> Path:
    """Draw ``c`` as stacked areas (GB) into ``out`` (.png or .svg); ``limit_bytes`` draws the GPU's memory
    (``limit_label`` names it, e.g. the GPU)."""
    suffix = out.suffix.lower()
    if suffix not in (".png", ".svg"):
        raise ConfigError(f"{out.name}: the picture must be a .png or a .svg file")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    device = [n for n in c.components if not n.startswith("host_")]
    fig, ax = plt.subplots(figsize=(10, 4.8), dpi=120)
    try:
        xs = list(c.points)
        ys = [[b / 1e9 for b in c.series[n]] for n in device]
        if ys:
            ax.stackplot(xs, ys, labels=device, alpha=0.85,
                         colors=[COLORS.get(n, _EXTRA[i % len(_EXTRA)]) for i, n in enumerate(device)])
        ax.plot(xs, [t / 1e9 for t in c.total_bytes], color="black", linewidth=1.2, label="total (device)")
        if limit_bytes:
            ax.axhline(limit_bytes / 1e9, color="crimson", linestyle="--", linewidth=1.2,
                       label=f"{limit_label or 'GPU memory'}: {limit_bytes / 1e9:,.1f} GB")
        if len(xs) > 1 and xs[-1] / max(xs[0], 1) >= 16:
            ax.set_xscale("log", base=2)
        shown = xs if len(xs) <= 12 else xs[:: -(-len(xs) // 12)]
        ax.set_xticks(shown, [_tick(v) for v in shown])
        ax.minorticks_off()
        ax.set_xlabel("context length (tokens)" if c.x == "context" else "batch (sequences)")
        ax.set_ylabel("memory (GB, 10⁹ bytes)")
        ax.set_title(title or f"{c.model}: {c.mode}, {c.dtype}")
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
        fig.tight_layout()
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, format=suffix[1:])
    finally:
        plt.close(fig)
    return out
