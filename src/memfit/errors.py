"""memfit's errors: one base class, each error names the value, the rule and the fix.

Hierarchy::

    MemfitError (ValueError)
    ├── ConfigError          a config.json / model description is missing a field or has a bad value
    ├── UnknownModelError    a catalog id, family or model reference that memfit does not know
    ├── UnsupportedError     a valid request that memfit cannot express (yet)
    └── FormatError          a file header (safetensors, GGUF) that is truncated, hostile or malformed

The CLI turns every MemfitError into one line on stderr and exit code 2.
"""

from __future__ import annotations

__all__ = ["ConfigError", "FormatError", "MemfitError", "UnknownModelError", "UnsupportedError"]


class MemfitError(ValueError):
    """Base of every error memfit raises on purpose; its message is meant for the user."""


class ConfigError(MemfitError):
    """A model description or config.json field is missing or has a value that cannot be right."""


class UnknownModelError(MemfitError):
    """A model reference (catalog id, path, family) that memfit cannot resolve."""


class UnsupportedError(MemfitError):
    """A valid request that memfit does not model; the message says what is missing."""


class FormatError(MemfitError):
    """A weights file header that is malformed, truncated or hostile."""
