"""The Pipecat A/B benchmark's pure parts: its wire, its per-turn measurement, its report."""

from __future__ import annotations

import inspect
import struct

import pytest
from bench.ab_pipecat import LLAMA_SAMPLING
from bench.ab_report import Pair, Run, markdown, percentiles, ratio, summary
from bench.pipecat.client import CallLog, Spoken, heard_per_turn, turn_latencies
from bench.pipecat.pcm import FRAME_BYTES, PcmReassembler, frames, is_loud, last_loud_s
from llama_cpp.llama import Llama

pytestmark = pytest.mark.unit


def _pcm(*samples: int) -> bytes:
    return struct.pack(f"<{len(samples)}h", *samples)


def test_an_odd_byte_waits_for_the_next_message_so_samples_are_never_split() -> None:
    wire = PcmReassembler()
    whole = _pcm(1000, -2000, 3000)
    assert wire.feed(whole[:3]) == whole[:2]
    assert wire.feed(whole[3:]) == whole[2:]
    assert wire.feed(b"") == b""


def test_audio_is_cut_into_20_ms_frames_the_last_one_padded_with_silence() -> None:
    pcm = bytes(range(256)) * 3  # 768 bytes: one whole 640-byte frame and 128 more
    cut = frames(pcm)
    assert [len(f) for f in cut] == [FRAME_BYTES, FRAME_BYTES]
    assert b"".join(cut)[: len(pcm)] == pcm
    assert cut[1][128:] == bytes(FRAME_BYTES - 128)


def test_loudness_uses_the_same_threshold_as_the_switchboard_benchmark() -> None:
    assert not is_loud(_pcm(300, -300, 0))
    assert is_loud(_pcm(0, -301))


def test_the_end_of_speech_is_the_end_of_the_last_loud_sample() -> None:
    assert last_loud_s(_pcm(0, 5000, 0, 0), rate=4) == 0.5
    assert last_loud_s(_pcm(0, 0)) == 0.0


def _log() -> CallLog:
    return CallLog(
        spoken=[Spoken(10.0, 12.0, 1000.0, 1.5), Spoken(20.0, 22.0, 1010.0, 1.0)],
        arrivals=[(11.0, True), (12.5, False), (13.0, True), (13.1, True), (25.0, True)],
    )


def test_voice_to_voice_runs_from_the_last_loud_sample_to_the_first_loud_reply_after_it() -> None:
    # Turn 1 ended speaking at 11.5; audio during the utterance (11.0) and silence do not count.
    assert turn_latencies(_log()) == [1.5, 4.0]


def test_a_turn_without_loud_audio_before_the_next_utterance_is_a_missed_reply() -> None:
    log = _log()
    log.arrivals = [(21.0, True), (30.0, False)]
    assert turn_latencies(log) == [None, None]


def test_transcripts_belong_to_the_utterance_being_spoken_or_answered_then() -> None:
    heard = heard_per_turn(_log(), [(1011.0, " parking? "), (999.0, "greeting"), (1003.0, " hi ")])
    assert heard == ["hi", "parking?"]


def test_percentiles_take_the_median_and_the_nearest_rank_p95() -> None:
    values = [1.0, 2.0, 3.0, 4.0, 10.0]
    assert percentiles(values) == {"p50_s": 3.0, "p95_s": 10.0}
    assert percentiles([]) == {"p50_s": None, "p95_s": None}


def test_the_ratio_is_switchboard_over_pipecat_and_missing_when_either_is() -> None:
    assert ratio(0.6, 1.2) == 0.5
    assert ratio(None, 1.2) is None
    assert ratio(0.6, None) is None


def _run(system: str, p50: float | None, p95: float | None, missed: int = 0) -> Run:
    return Run(system, p50, p95, turns=10, missed=missed, wer={"piper": 0.1, "espeak": 0.2})


def _pairs() -> list[Pair]:
    order = ("switchboard", "pipecat")
    return [
        Pair("matched", order, {"switchboard": _run("switchboard", 1.0, 2.0),
                                "pipecat": _run("pipecat", 2.0, 2.0, missed=1)}),
        Pair("matched", order[::-1], {"switchboard": _run("switchboard", 0.9, 1.5),
                                      "pipecat": _run("pipecat", 1.0, 3.0)}),
        Pair("matched", order, {"switchboard": _run("switchboard", 0.5, 1.0),
                                "pipecat": _run("pipecat", 2.0, 1.0)}),
    ]  # fmt: skip


def test_the_summary_takes_the_median_of_the_per_pair_ratios_not_the_ratio_of_medians() -> None:
    entry = summary(_pairs())["matched"]
    # Per-pair p50 ratios 0.5, 0.9, 0.25 → median 0.5 (the ratio of medians would be 0.45).
    assert entry["median_ratio_p50"] == 0.5
    assert entry["median_ratio_p95"] == 1.0  # 1.0, 0.5, 1.0
    assert entry["pipecat"]["missed"] == 1
    assert entry["pipecat"]["turns"] == 30
    assert entry["switchboard"]["median_p50_s"] == 0.9


def test_a_pair_with_one_system_missing_has_no_ratio_and_does_not_count_toward_the_median() -> None:
    pairs = [*_pairs(), Pair("matched", ("pipecat",), {"pipecat": _run("pipecat", 1, 1)})]
    assert pairs[-1].ratios() == {"p50": None, "p95": None}
    assert summary(pairs)["matched"]["median_ratio_p50"] == 0.5


def test_the_markdown_table_has_a_row_per_pair_and_the_medians_per_configuration() -> None:
    table = markdown(_pairs())
    rows = [line for line in table.splitlines() if line.startswith("| matched |")]
    assert len(rows) == 4
    assert "| 0.50 | 1.00 |" in rows[0]  # pair 1: ratio p50 0.5, p95 1.0
    assert "pipecat → switchboard" in rows[1]
    assert rows[-1] == "| matched | 0.50 | 1.00 | 0 of 30 / 1 of 30 |"


def test_pairs_are_numbered_within_their_configuration() -> None:
    other = Pair("defaults", ("pipecat",), {"pipecat": _run("pipecat", 1.0, 1.0)})
    rows = markdown([*_pairs()[:1], other]).splitlines()
    assert rows[2].startswith("| matched | 1 |")
    assert rows[3].startswith("| defaults | 1 | pipecat |")


def test_the_sampling_sent_to_llama_cpp_server_is_what_our_engine_gets_by_default() -> None:
    # LlamaCppEngine passes only temperature and max_tokens; the rest are these defaults, and
    # llama_cpp.server's own differ (repeat_penalty 1.1), so the benchmark must send them.
    defaults = inspect.signature(Llama.create_chat_completion).parameters
    assert {name: defaults[name].default for name in LLAMA_SAMPLING} == LLAMA_SAMPLING
