"""One declaration of every workload option (memfit.options): Workload, the CLI, the API and the form derive from it."""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any

import click
import pytest
from click.testing import CliRunner

from memfit.cli.workload_options import workload_options
from memfit.errors import ConfigError
from memfit.options import WorkloadOptions, declared, form_description, option, request_fields
from memfit.workload import Workload


@dataclass(frozen=True)
class WithDraft(Workload):
    """Workload plus ONE hypothetical entry: a speculative-decoding draft length."""

    draft_tokens: int = option(4, low=1, high=64, flags=("-k",), modes=("inference",), runtimes=("vllm",),
                               help="vLLM: tokens the draft model proposes per step.")


def _command(cls: type[WorkloadOptions]) -> click.Command:
    def cmd(**options: Any) -> None:
        click.echo(json.dumps(options))

    return click.command()(workload_options(cmd, cls))


def test_a_new_option_is_one_entry_and_reaches_the_cli_the_api_and_the_form() -> None:
    # the CLI: a flag with its short form, type, default and help
    cmd = _command(WithDraft)
    r = CliRunner().invoke(cmd, ["--help"])
    assert "-k, --draft-tokens INTEGER" in r.output and "tokens the draft model proposes" in r.output
    assert "[default: 4]" in r.output
    r = CliRunner().invoke(cmd, ["-k", "7"])
    assert r.exit_code == 0 and json.loads(r.output)["draft_tokens"] == 7
    assert WithDraft.from_values({"draft_tokens": 7, "mode": "inference"}).draft_tokens == 7
    # the library: the declared range is checked with the value, the rule and the fix
    with pytest.raises(ConfigError, match=r"^draft_tokens = 65 must be an integer from 1 to 64$"):
        WithDraft(draft_tokens=65).validate()
    # the API: a strict pydantic field with the declared bounds
    pydantic = pytest.importorskip("pydantic")
    model = pydantic.create_model("DraftRequest", __config__=pydantic.ConfigDict(extra="forbid", strict=True),
                                  **request_fields(WithDraft))
    assert model(draft_tokens=9).draft_tokens == 9 and model().draft_tokens == 4
    for bad in (0, 65, "9", True):
        with pytest.raises(pydantic.ValidationError):
            model(draft_tokens=bad)
    prop = model.model_json_schema()["properties"]["draft_tokens"]
    assert (prop["minimum"], prop["maximum"], prop["default"]) == (1, 64, 4)
    # the page's form: plain JSON with everything the page needs to draw and check the field
    form = {f["name"]: f for f in form_description(WithDraft)}
    assert form["draft_tokens"] == {
        "name": "draft_tokens", "type": "int", "optional": False, "default": 4, "min": 1, "max": 64,
        "min_exclusive": False, "max_exclusive": False, "choices": [], "pattern": None, "max_items": None,
        "help": "vLLM: tokens the draft model proposes per step.", "none_means": "", "modes": ["inference"],
        "runtimes": ["vllm"], "cli": ["--draft-tokens", "-k"]}
    # ... and the real declaration is untouched
    assert "draft_tokens" not in Workload.field_names()


def test_workload_fields_are_the_declaration() -> None:
    assert Workload.field_names() == tuple(o.name for o in declared(WorkloadOptions))
    assert {f.name: f.default for f in fields(Workload)} == {o.name: o.default for o in declared(Workload)}
    assert Workload().validate() == Workload()


def test_cli_defaults_and_types_come_from_the_declaration() -> None:
    cmd = _command(Workload)
    params = {p.name: p for p in cmd.params}
    assert list(params) == list(Workload.field_names())
    for o in declared(Workload):
        p = params[o.name]
        assert p.default == (None if o.type == "names" else o.default), o.name
        if o.choices:
            assert isinstance(p.type, click.Choice) and tuple(p.type.choices) == o.choices
    # the CLI's defaults build exactly Workload()
    r = CliRunner().invoke(cmd, [])
    assert r.exit_code == 0
    assert Workload.from_values(json.loads(r.output)) == Workload()


@pytest.mark.parametrize("change, message", [
    ({"batch": 0}, r"^batch = 0 must be an integer from 1 to 1,000,000$"),
    ({"batch": True}, r"^batch = True must be an integer"),
    ({"new_tokens": -1}, r"^new_tokens = -1 must be an integer from 0 to 100,000,000$"),
    ({"max_num_seqs": 0}, r"^max_num_seqs = 0 must be an integer from 1 to 1,000,000 \(or left out for vLLM's "
                          r"default\)$"),
    ({"gpu_memory_utilization": 0.0},
     r"^gpu_memory_utilization = 0.0 must be a number above 0 and at most 1 \(or left out for the version's: "
     r"0.9, 0.92 from 0.20\)$"),
    ({"gpu_memory_utilization": float("nan")}, r"gpu_memory_utilization = nan must be a number"),
    ({"mode": "infer"}, r"^mode = 'infer' must be one of weights, inference, train, lora, qlora$"),
    ({"quant": "nf3"}, r"^quant = 'nf3' must be one of nf4, nf4-dq, fp4, fp4-dq, int8 \(or left out for no "),
    ({"zero": 4}, r"^zero = 4 must be an integer from 0 to 3$"),
    ({"dtype": "fp 16"}, r"^dtype = 'fp 16' must be a name of at most 40 letters"),
    ({"lora_targets": ()}, r"^lora_targets = \(\) must be 1 to 64 module names"),
    ({"flash_attn": 1}, r"^flash_attn = 1 must be true or false$"),
    ({"gpus": 2, "tp": 2, "pp": 2}, r"tp × pp = 4 exceeds gpus = 2"),
])
def test_bad_values_name_the_value_and_the_rule(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Workload(**change).validate()


def test_cli_lora_targets_are_comma_separated_and_the_api_takes_a_list() -> None:
    assert Workload.from_values({"lora_targets": "q_proj, v_proj"}).lora_targets == ("q_proj", "v_proj")
    assert Workload.from_values({"lora_targets": ["q_proj"]}).lora_targets == ("q_proj",)
    assert Workload.from_values({"lora_targets": None}).lora_targets == Workload().lora_targets


def test_every_option_says_who_reads_it() -> None:
    from memfit.options import MODES, RUNTIMES

    for o in declared(Workload):
        assert o.help and o.modes and set(o.modes) <= set(MODES) and set(o.runtimes) <= set(RUNTIMES), o.name
