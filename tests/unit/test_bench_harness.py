"""The pure parts of the benchmark harness: order, statistics, ratios, verdicts, rows."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench import harness  # noqa: E402
from bench.harness import Benchmark, Outcome, Ratio, Side, Stats  # noqa: E402
from bench.lab import stamped_app  # noqa: E402
from bench.startup import importtime_rows, top_level  # noqa: E402


def test_stats_median_min_max():
    stats = Stats([3.0, 1.0, 2.0, 10.0])
    assert (stats.median, stats.low, stats.high) == (2.5, 1.0, 10.0)
    assert Stats([]).median == 0.0


def test_rounds_alternate_which_side_goes_first():
    sides = [Side("a", lambda: None), Side("b", lambda: None), Side("c", lambda: None)]
    assert [s.name for s in harness.round_order(sides, 0)] == ["a", "b", "c"]
    assert [s.name for s in harness.round_order(sides, 1)] == ["c", "b", "a"]
    assert [s.name for s in harness.round_order(sides, 1, alternate=False)] == ["a", "b", "c"]


def test_ratio_of_medians_and_missing_sides():
    stats = {"m": Stats([2.0, 2.2, 2.4]), "s": Stats([2.0]), "empty": Stats([])}
    assert harness.ratio_of(stats, Ratio("m/s", "m", "s")) == pytest.approx(1.1)
    assert harness.ratio_of(stats, Ratio("x", "m", "empty")) is None
    assert harness.ratio_of(stats, Ratio("x", "m", "nobody")) is None
    assert harness.ratio_of({"m": Stats([1.0]), "z": Stats([0.0])}, Ratio("x", "m", "z")) is None


@pytest.mark.parametrize(
    ("judged", "value", "expected"),
    [
        (None, 1.05, True),
        (None, 1.2, False),
        (False, 1.0, False),
        (True, None, False),
    ],
)
def test_verdict_combines_judge_and_ratio_limits(judged, value, expected):
    ratios = [Ratio("r", "a", "b", 1.1), Ratio("info", "a", "b")]
    assert harness.verdict(judged, ratios, {"r": value, "info": 9.0}) is expected


def test_verdict_is_none_without_any_target():
    assert harness.verdict(None, [Ratio("info", "a", "b")], {"info": 3.0}) is None


def test_default_ratio_is_first_over_second():
    bench = Benchmark("b", "", "", [Side("x", lambda: None), Side("y", lambda: None)])
    assert harness.default_ratios(bench) == [Ratio("x / y", "x", "y")]


def test_measure_alternates_times_and_judges():
    calls: list[str] = []

    def side(name: str) -> Side:
        return Side(name, lambda: calls.append(name), lambda: calls.append(f"prep-{name}"))

    bench = Benchmark(
        "demo",
        "",
        "",
        [side("a"), side("b")],
        ratios=[Ratio("a / b", "a", "b", 100.0)],
        extra=lambda stats: {"met": True, "n": len(stats["a"].samples)},
    )
    outcome = harness.measure(bench, 2)
    assert calls == ["prep-a", "a", "prep-b", "b", "prep-b", "b", "prep-a", "a"]
    assert len(outcome.stats["a"].samples) == 2
    assert outcome.extra["n"] == 2
    assert outcome.met is True and not outcome.error


def test_measure_keeps_going_after_a_failure_and_tears_down():
    torn = []

    def boom() -> None:
        raise RuntimeError("side failed")

    sides = [Side("a", boom), Side("b", lambda: None)]
    bench = Benchmark("broken", "", "", sides, teardown=lambda: torn.append(1))
    outcome = harness.measure(bench, 3)
    assert outcome.met is False
    assert outcome.error == "RuntimeError: side failed"
    assert torn == [1]


def _outcome(**changes: Any) -> Outcome:
    values: dict[str, Any] = {
        "name": "lab-cold",
        "description": "d",
        "target": "within 10%",
        "rounds": 3,
        "stats": {"mobylab": Stats([10.0, 11.0, 12.0]), "script": Stats([0.5])},
        "ratios": {"mobylab / script": 22.0},
        "met": False,
        "load": {"before": [7.25, 6.0, 5.0]},
    }
    values.update(changes)
    return Outcome(**values)


def test_markdown_rows():
    (row,) = harness.markdown_rows([_outcome()])
    assert row == (
        "| lab-cold | mobylab: 11.00 s (10.00 s-12.00 s)<br>script: 500 ms (500 ms-500 ms) | "
        "mobylab / script = 22.00 | within 10% | MISSED | 7.2 |"
    )
    (broken,) = harness.markdown_rows([_outcome(error="BenchError: no engine", ratios={})])
    assert "ERROR: BenchError: no engine" in broken
    assert "| - |" in broken


def test_results_path_and_file(tmp_path):
    when = dt.datetime(2026, 11, 27, 20, 0, tzinfo=dt.UTC)
    assert harness.results_path(tmp_path, when, "vm") == tmp_path / "2026-11-27-vm.json"
    path = harness.write_results([_outcome()], tmp_path, {"note": "x"})
    harness.write_results([_outcome(name="again")], tmp_path)
    data = json.loads(path.read_text())
    assert [run["outcomes"][0]["name"] for run in data["runs"]] == ["lab-cold", "again"]
    assert data["runs"][0]["note"] == "x"
    assert data["machine"]["cpus"] >= 1


def test_seconds_text():
    assert harness.seconds_text(0.0421) == "42 ms"
    assert harness.seconds_text(12.345) == "12.35 s"


def test_stamped_app_changes_only_the_first_line():
    text = "package main\n"
    assert stamped_app(text, "abc") == "// benchmark round abc\npackage main\n"


def test_importtime_rows_and_the_costliest():
    stderr = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       100 |        100 |     docker.errors\n"
        "import time:      2000 |       2100 |   docker\n"
        "import time:        50 |       3000 | mobylab.tasks\n"
        "something else\n"
    )
    rows = importtime_rows(stderr)
    assert rows == [
        ("    docker.errors", 100, 100),
        ("  docker", 2000, 2100),
        ("mobylab.tasks", 50, 3000),
    ]
    top = top_level(rows, limit=2)
    assert top == [
        {"module": "mobylab.tasks", "depth": 0, "cumulative_ms": 3.0, "self_ms": 0.1},
        {"module": "docker", "depth": 1, "cumulative_ms": 2.1, "self_ms": 2.0},
    ]


def test_markdown_rows_show_cpu_and_escape_pipes():
    outcome = _outcome(
        stats={"save | load": Stats([2.0])},
        cpu={"save | load": Stats([0.25])},
        ratios={"a | b": None},
        met=None,
        load={},
    )
    (row,) = harness.markdown_rows([outcome])
    assert "save \\| load: 2.00 s (2.00 s-2.00 s), cpu 250 ms" in row
    assert "a \\| b = -" in row
    assert row.endswith("| - | - |")


def test_measure_records_cpu_seconds_per_side():
    def spin() -> None:
        end = harness.cpu_seconds() + 0.05
        while harness.cpu_seconds() < end:
            pass

    outcome = harness.measure(Benchmark("cpu", "", "", [Side("spin", spin)]), 1)
    assert outcome.cpu["spin"].median >= 0.05


def test_rerun_is_derived_from_the_cold_and_warm_mobylab_runs():
    from bench.lab import rerun_from

    cold = _outcome(stats={"mobylab": Stats([80.0, 100.0]), "script": Stats([90.0])}, rounds=2)
    warm = _outcome(
        name="lab-warm", stats={"mobylab": Stats([15.0, 16.0, 17.0]), "script": Stats([8.0])}
    )
    derived = rerun_from(cold, warm)
    assert derived is not None
    assert derived.ratios["second / first"] == pytest.approx(16.0 / 90.0)
    assert derived.met is True
    assert derived.rounds == 2
    slow = rerun_from(cold, _outcome(name="lab-warm", stats={"mobylab": Stats([30.0])}))
    assert slow is not None and slow.met is False
    assert rerun_from(cold, _outcome(stats={})) is None


def test_a_transient_failure_is_run_again_and_counted(monkeypatch):
    monkeypatch.setattr(harness.time, "sleep", lambda seconds: None)
    tries = []

    def flaky() -> None:
        tries.append(1)
        if len(tries) == 1:
            raise RuntimeError("could not find bridge docker0")

    bench = Benchmark(
        "flaky", "", "", [Side("a", flaky)], transient=lambda exc: "docker0" in str(exc)
    )
    outcome = harness.measure(bench, 2)
    assert not outcome.error
    assert len(outcome.stats["a"].samples) == 2
    assert outcome.extra["retries"] == 1


def test_engine_hiccups_are_told_apart():
    from bench.common import engine_hiccup

    assert engine_hiccup(RuntimeError("... could not find bridge docker0: route ip+net"))
    assert not engine_hiccup(RuntimeError("app printed the wrong counts"))


def test_the_table_is_rebuilt_from_a_results_file(tmp_path):
    first = _outcome(cpu={"mobylab": Stats([1.5])})
    path = harness.write_results([first], tmp_path)
    harness.write_results([_outcome(ratios={"mobylab / script": 1.05}, met=True)], tmp_path)
    table = harness.table_from_results(path)
    assert table[:2] == harness.TABLE_HEADER
    assert len(table) == 3  # the latest lab-cold only
    assert "mobylab / script = 1.05" in table[2] and "| met |" in table[2]
    harness.write_results([_outcome(error="BenchError: engine gone")], tmp_path)
    assert harness.table_from_results(path)[2] == table[2]  # a failed run does not hide it
    back = harness.outcome_from_dict(json.loads(path.read_text())["runs"][0]["outcomes"][0])
    assert back.cpu["mobylab"].median == 1.5
    assert back.stats["mobylab"].median == 11.0
