"""Imported once by the worker processes' forkserver (``workers.py``): memfit, the request models and the data
tables a first request reads are loaded there, and every worker forked from it starts with them (milliseconds, no
import, no cold first request)."""

from __future__ import annotations

from .compute import warm

warm()
