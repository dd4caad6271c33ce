"""What every reader needs, below all of them: a model known only by its count, and a config.json read safely."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..spec import ModelSpec

__all__ = ["MAX_CONFIG_BYTES", "bare_count", "load_config_file"]

MAX_CONFIG_BYTES = 10_000_000


def bare_count(n: int, name: str | None = None) -> ModelSpec:
    """A model known only by its parameter count (weights only; no architecture)."""
    return ModelSpec(name=name or f"{n:,} parameters", family="bare", hidden_size=0, vocab_size=0, layers=(),
                     parameters_override=n, dtype="float16", source="parameter count")


def load_config_file(path: Path) -> dict[str, Any]:
    """Read a config.json (or the one inside a folder), with size and JSON checks."""
    if path.is_dir():
        path = path / "config.json"
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):  # a named pipe or a device would block or never end: never open one
            raise ConfigError(f"{path} is not a regular file (a named pipe, socket or device): give a config.json "
                              "file or a folder holding one")
        size = st.st_size
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(f"{path} is {size:,} bytes; a config.json is at most {MAX_CONFIG_BYTES:,}")
        with path.open("rb") as f:
            cfg = json.loads(f.read(MAX_CONFIG_BYTES + 1))
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist: pass a config.json, a folder holding one, or a catalog id"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path} is not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    except RecursionError:
        raise ConfigError(f"{path} nests JSON too deeply to be a config.json (a config is a few levels deep)") from None
    if not isinstance(cfg, dict):
        raise ConfigError(f"{path} must hold a JSON object (a config.json), not a {type(cfg).__name__}")
    return cfg
