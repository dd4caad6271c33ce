"""``memfit device-map MODEL --max-memory 0=20GiB,cpu=64GiB``: where transformers' ``device_map="auto"`` puts
each module (``memfit.device_map``)."""

from __future__ import annotations

import json

import click

from ..device_map import describe, plan_device_map
from ..errors import ConfigError
from ..hardware import get_device
from ..units import fmt_bytes

__all__ = ["device_map_cmd"]


@click.command("device-map")
@click.argument("model")
@click.option("--max-memory", default=None, metavar="SPEC",
              help="Memory per device as transformers takes it: GPU index, cpu or disk = size, e.g. "
                   "0=20GiB,1=20GiB,cpu=64GiB (default: --gpus × --gpu, and --host-memory for the CPU).")
@click.option("--gpu", "-g", default=None, help="Device name (memfit gpus) giving each GPU's budget.")
@click.option("--gpus", type=int, default=1, show_default=True, help="With --gpu: how many.")
@click.option("--host-memory", default=None, metavar="SIZE", help="With --gpu: the CPU's budget, e.g. 64GiB.")
@click.option("--dtype", "-d", default=None, help="Weights dtype: bf16, fp16 or fp32 (default: the config's).")
@click.option("json_", "--json", is_flag=True, help="Print one JSON object.")
def device_map_cmd(model: str, max_memory: str | None, gpu: str | None, gpus: int, host_memory: str | None,
                   dtype: str | None, json_: bool) -> None:
    """Which modules of MODEL device_map="auto" puts on each GPU, the CPU and disk (accelerate's
    infer_auto_device_map rule: in order, the largest layer kept free on the first GPU and the CPU)."""
    if max_memory is None:
        if gpu is None:
            raise ConfigError("give --max-memory (e.g. 0=20GiB,cpu=64GiB) or --gpu NAME [--gpus N] [--host-memory]")
        if not 1 <= gpus <= 4096:
            raise ConfigError(f"--gpus {gpus} must be from 1 to 4,096")
        dev = get_device(gpu, host_memory=host_memory)
        mm: dict[int | str, int] = dict.fromkeys(range(gpus), dev.capacity_bytes)
        if dev.host_bytes is not None:
            mm["cpu"] = dev.host_bytes * gpus
        p = plan_device_map(model, mm, dtype=dtype)
    else:
        if gpu is not None or host_memory is not None:
            raise ConfigError("--max-memory names every device: leave out --gpu and --host-memory")
        p = plan_device_map(model, max_memory, dtype=dtype)
    if json_:
        click.echo(json.dumps(p.to_json(), indent=2))
        return
    budget = ", ".join(f"{k}={fmt_bytes(v)}" for k, v in p.max_memory.items())
    click.echo(f"{p.model} in {p.dtype}, device_map=\"auto\" with max_memory {budget}:")
    for line in describe(p):
        click.echo(f"  {line}")
