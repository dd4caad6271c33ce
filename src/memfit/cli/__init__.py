"""The ``memfit`` command line: a thin shell over the Python API.

Subcommands load lazily (``COMMANDS`` maps a name to ``module:attribute``) so that
``memfit estimate`` starts fast and heavy extras (web server, plotting) load only when used.
Every ``MemfitError`` becomes one line on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from ..errors import MemfitError

__all__ = ["main"]

COMMANDS: dict[str, str] = {
    "device-map": "memfit.cli.device_map:device_map_cmd",
    "estimate": "memfit.cli.estimate:estimate_cmd",
    "fit": "memfit.cli.fit:fit_cmd",
    "formats": "memfit.cli.formats:formats_cmd",
    "gpus": "memfit.cli.gpus:gpus_cmd",
    "matrix": "memfit.cli.matrix:matrix_cmd",
    "models": "memfit.cli.models:models_cmd",
    "plan": "memfit.cli.plan:plan_cmd",
    "plot": "memfit.cli.plot:plot_cmd",
    "serve": "memfit.cli.serve:serve_cmd",
    "validate": "memfit.cli.validate:validate_cmd",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        cmd: click.Command = getattr(importlib.import_module(module), attr)
        return cmd

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None,
                                                                           list[str]]:
        """Click's lookup, with "did you mean" for a mistyped subcommand (``memfit estimte``)."""
        name = args[0] if args else ""
        if name and name not in COMMANDS and not name.startswith("-"):
            import difflib

            close = difflib.get_close_matches(name, list(COMMANDS), n=1, cutoff=0.6)
            if close:
                raise click.UsageError(f"No such command {name!r}; did you mean {close[0]!r}?", ctx)
        return super().resolve_command(ctx, args)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="memfit")
def cli() -> None:
    """How much memory does this model need, and will it fit?"""


def main(argv: list[str] | None = None) -> Any:
    """Console entry point: runs the CLI, turning memfit errors and usage errors into one line on stderr and
    exit code 2 (with ``--json``, also one JSON object ``{"error": …, "exit_code": 2}`` on stdout)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return cli.main(args=args, prog_name="memfit", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as e:
        code = 2 if e.exit_code == 2 else e.exit_code
        _fail(f"error: {_usage_line(e)}", code, args)
    except MemfitError as e:
        _fail(f"error: {e}", 2, args)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception as e:  # a bug in memfit: one line, the traceback only on request
        if os.environ.get("MEMFIT_DEBUG"):
            raise
        _fail(f"internal error: {type(e).__name__}: {e} (a memfit bug: please report it; set MEMFIT_DEBUG=1 for "
              "the traceback)", 1, args)


def _usage_line(e: click.ClickException) -> str:
    """Click's message on one line, with where to read the usage (instead of click's usage block)."""
    msg = " ".join(e.format_message().split())
    ctx = getattr(e, "ctx", None)
    if isinstance(e, click.UsageError) and ctx is not None:
        msg += f" (see: {ctx.command_path} --help)"
    return msg


def _fail(line: str, code: int, args: list[str]) -> None:
    if "--json" in args:
        import json

        click.echo(json.dumps({"error": line.split(": ", 1)[1], "exit_code": code}))
    click.echo(line, err=True)
    sys.exit(code)
