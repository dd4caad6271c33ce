"""Regenerate ``src/memfit/data/catalog_tensors.json.gz``: the parameter tensors transformers builds on the meta
device for every catalog model memfit counts through the generic path (no builder of its own).

memfit reads this table instead of importing torch and transformers to build those models again (seconds per
model, and ~400 MB), so ``memfit models --fits`` and the web server answer for them exactly without torch. Each
entry is keyed by the SHA-256 of the config text memfit builds from, so an edited catalog config misses the table
and is built as before (``tests/test_catalog_tensors.py`` fails until this tool is run again).

    python tools/gen_catalog_tensors.py          # needs transformers and torch
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from memfit.sources import meta_build as mb  # noqa: E402
from memfit.sources.catalog import catalog  # noqa: E402
from memfit.sources.generic_tensors import GenericTensors, build_key  # noqa: E402
from memfit.sources.loader import load_model  # noqa: E402


def main() -> None:
    builds: dict[str, list[object]] = {}
    models: dict[str, str] = {}
    version = ""
    with mb.shipped_disabled():
        for entry in catalog():
            spec = load_model(entry.id)
            if not isinstance(spec.tensor_source, GenericTensors):
                continue
            key, text, approx, modules = build_key(spec)
            built = mb.meta_build(text, approx, modules)
            if not built.ok:
                print(f"{entry.id}: not built ({built.error})", file=sys.stderr)
                continue
            version = built.version
            models[entry.id] = key
            builds[key] = [[name, list(shape)] for name, shape in built.tensors]
    doc = {"transformers": version, "generated_by": "tools/gen_catalog_tensors.py",
           "source": f"transformers {version}: AutoModelForCausalLM.from_config on the meta device, named_parameters()",
           "models": models, "builds": builds}
    out = ROOT / "src" / "memfit" / "data" / "catalog_tensors.json.gz"
    out.write_bytes(gzip.compress(json.dumps(doc, separators=(",", ":"), sort_keys=True).encode(), mtime=0))
    print(f"{len(models)} models, {len(builds)} distinct builds, {out.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
