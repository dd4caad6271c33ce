"""MOSS-Transcribe-Diarize's output projection tied by its composite config (issue 12, l12blt): transformers 5.25
modeling_moss_transcribe_diarize.py ``MossTranscribeDiarizeForConditionalGeneration._tied_weights_keys`` ties lm_head to
the language model's embed_tokens when ``self.config.tie_word_embeddings`` (the composite config's, True by default;
modeling_utils.py ``get_expanded_tied_weights_keys``) holds, though the Qwen3 text config says False: the lm_head made
by ``__init__`` is freed by the tie and its segment stays cached, the build reserve the blind round 7 case missed."""

from __future__ import annotations

from pathlib import Path

from _simulated import case_record
from memfit.memory.allocator_trace import Trace
from memfit.memory.runtimes.transformers_pool_build import build_inference_weights
from memfit.sources.hf_config import spec_from_config

DATA = Path(__file__).resolve().parent / "data"
DEV = "moss-transcribe-diarize-default-l2/gen-b1-s2300-new8"


def _case() -> dict[str, object]:
    return case_record(DATA / "simulated" / "sweep-dev.jsonl", DEV)


def test_tied_by_the_composite_config() -> None:
    cfg = _case()["config"]
    assert isinstance(cfg, dict) and cfg["text_config"]["tie_word_embeddings"] is False
    assert spec_from_config(cfg, "dev").tie_word_embeddings  # False before (the text config's)
    assert not spec_from_config({**cfg, "tie_word_embeddings": False}, "dev").tie_word_embeddings


def test_dev_case_build_reserve_by_hand() -> None:
    # the parameters' segments without the tie: 1,040,187,392 B; the lm_head made and freed, 151,936 x 1,024 bf16 =
    # 311,164,928 B, a segment of its own rounded to 2 MiB: 149 x 2 MiB = 312,475,648 B; 1,352,663,040 B in all,
    # the simulator's reserve after the build
    rec = _case()
    spec = spec_from_config(rec["config"], "dev")  # type: ignore[arg-type]
    tr = Trace()
    build_inference_weights(tr, spec, int(rec["param_bytes"]), 2, True)  # type: ignore[call-overload]
    tr.built()
    assert 151_936 * 1024 * 2 == 311_164_928 and 149 * (2 << 20) == 312_475_648
    assert tr.figures().reserved_after_build == 1_040_187_392 + 312_475_648 == rec["reserved_after_build"]


def test_dev_case_device_total() -> None:
    from memfit.validate import validate_file

    results, _ = validate_file(str(DATA / "simulated" / "sweep-dev.jsonl"))
    (r,) = [x for x in results if x.case == DEV]
    assert r.total_error is not None and abs(r.total_error) < 0.001  # -9.93 % before (the tie not read)
