"""``memfit serve``: the web calculator on a local address (127.0.0.1 unless told otherwise)."""

from __future__ import annotations

import ipaddress

import click

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and localhost."""
    if host.strip("[]").lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Fail early, with one line, when ``host:port`` cannot be bound (in use, no such address) — before
    the banner says the server is up."""
    import socket

    from ..errors import ConfigError

    addr = host.strip("[]")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            sock.bind((addr, port))
    except OSError as e:
        import errno

        why = e.strerror or str(e)
        if e.errno == errno.EADDRINUSE:
            fix = (f"pick another port with --port (e.g. --port {port + 1 if port < 65535 else 8000}) "
                   "or stop what is using it")
        else:
            fix = "check --host: it must be an address of this machine (127.0.0.1 by default)"
        raise ConfigError(f"cannot listen on {host}:{port} ({why}): {fix}") from None


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but loopback exposes the calculator to your network.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True)
@click.option("--allow-local-paths", is_flag=True,
              help="Let visitors name config.json files and folders on this machine's disk.")
@click.option("--allow-hub", is_flag=True, help="Let visitors name Hugging Face repos (fetched from the Hub).")
def serve_cmd(host: str, port: int, allow_local_paths: bool, allow_hub: bool) -> None:
    """Serve the interactive calculator and its JSON API (the page works with no network)."""
    try:
        import uvicorn

        from ..web.server import create_app
    except ImportError as e:
        raise click.ClickException(f"the web server needs the 'web' extra ({e.name} is missing): "
                                   "pip install 'memfit[web]'") from None
    check_port(host, port)
    loopback = is_loopback(host)
    allowed = [*LOOPBACK_NAMES, host] if loopback else None
    app = create_app(allow_local_paths=allow_local_paths, allow_hub=allow_hub, allowed_hosts=allowed)
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"memfit serving on http://{shown}:{port}/  (Ctrl+C to stop)")
    click.echo("  API: /api/estimate, /api/curve, /api/models; schema: /openapi.json")
    if not loopback:
        click.echo(f"  warning: bound to {host}, not loopback: other machines can reach this server", err=True)
    if allow_local_paths or allow_hub:
        allowed_sources = [n for n, on in (("local paths", allow_local_paths), ("the Hugging Face Hub", allow_hub))
                           if on]
        click.echo(f"  visitors may use: {', '.join(allowed_sources)}", err=True)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, server_header=False)
