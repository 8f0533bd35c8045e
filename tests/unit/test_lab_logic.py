# ruff: noqa: E501  (plain-data fixtures read best one record per line)
"""The runner's pure parts: substitution, placeholders, checks, comparison, reports."""

from __future__ import annotations

import json
import re
import socket
import urllib.request
from dataclasses import replace
from pathlib import Path

import pytest

from mobylab.errors import LabError, UsageError
from mobylab.images import RECIPES
from mobylab.lab import external
from mobylab.lab.bases import choose_bases, choose_offline
from mobylab.lab.checks import (
    CHECK_KINDS,
    CheckCategory,
    Facts,
    category_of,
    evaluate,
    fill,
    last_json,
    step_status,
    with_labels,
)
from mobylab.lab.dockerfile import (
    base_replacements,
    maintained_lines,
    repository,
    substitute_from,
)
from mobylab.lab.execute import cache_hits
from mobylab.lab.html import CHART_CHAR_WIDTH, render_html, size_chart
from mobylab.lab.metrics import bar, builder_kind, ratio_text
from mobylab.lab.model import Check
from mobylab.lab.records import CommandResult, Report, VariantRecord, failure_reason
from mobylab.lab.render import render_markdown, variant_details
from mobylab.lab.report import variant_table
from mobylab.lab.setup import new_run_id, steps_to_run, tag_prefix
from mobylab.lab.site import FixtureSite, render_page

LAB_RUNTIME = RECIPES["runtime"].tag

MULTI = """FROM golang:1.7.3 as builder
WORKDIR /go/src/app
COPY app.go .
# FROM alpine:latest in a comment stays
FROM --platform=linux/amd64 alpine:latest
COPY --from=builder /go/src/app/app .
FROM builder AS tests
FROM scratch
"""


def test_substitute_from_rewrites_only_base_images() -> None:
    text, changes = substitute_from(MULTI, {"golang": "mobylab/golang:1.19", "alpine": "rt:1"})
    lines = text.splitlines()
    assert lines[0] == "FROM mobylab/golang:1.19 as builder"
    assert lines[3] == "# FROM alpine:latest in a comment stays"
    assert lines[4] == "FROM --platform=linux/amd64 rt:1"
    assert lines[6] == "FROM builder AS tests"
    assert lines[7] == "FROM scratch"
    assert [(c.line, c.old, c.new) for c in changes] == [
        (1, "golang:1.7.3", "mobylab/golang:1.19"),
        (5, "alpine:latest", "rt:1"),
    ]


def test_substitute_from_never_touches_a_stage_named_like_a_base() -> None:
    text, changes = substitute_from("FROM golang AS golang\nFROM golang\n", {"golang": "x"})
    assert text == "FROM x AS golang\nFROM golang\n"
    assert len(changes) == 1


def test_substitute_keeps_line_endings_and_nothing_else_changes() -> None:
    text = "FROM alpine:3\r\nRUN true\r\n"
    assert substitute_from(text, {"alpine": "rt"})[0] == "FROM rt\r\nRUN true\r\n"
    assert substitute_from(text, {})[0] == text


@pytest.mark.parametrize(
    ("ref", "name"),
    [("golang:1.7.3", "golang"), ("alpine", "alpine"), ("docker.io/library/alpine:3", "alpine"),
     ("localhost:5000/golang:1", "localhost:5000/golang"), ("golang@sha256:abc", "golang")],
)  # fmt: skip
def test_repository(ref: str, name: str) -> None:
    assert repository(ref) == name


def test_base_replacements_leave_matching_images_alone() -> None:
    assert base_replacements(("golang",), ("alpine",), "golang:1.19", "alpine:3.17.1") == {}
    assert base_replacements(("golang",), ("alpine",), "mobylab/golang:1", LAB_RUNTIME) == {
        "golang": "mobylab/golang:1",
        "alpine": LAB_RUNTIME,
    }


def test_choose_bases() -> None:
    offline = choose_bases("auto", "auto", True, "no registry")
    assert offline.builder == "mobylab/golang:1.19-bookworm" and offline.runtime == LAB_RUNTIME
    online = choose_bases("auto", "auto", False, "registry answers")
    assert (online.builder, online.runtime) == ("golang:1.19", "alpine:3.17.1")
    assert choose_bases("my/go:1", "auto", True, "").builder == "my/go:1"


@pytest.mark.parametrize(
    ("setting", "present", "can_make", "registry", "offline"),
    [
        ("yes", False, False, True, True),
        ("no", True, True, False, False),
        # auto: the offline images whenever they are there or can be made, even online.
        ("auto", True, False, True, True),
        ("auto", False, True, True, True),
        ("auto", False, False, True, False),
        ("auto", False, False, False, True),
    ],
)
def test_auto_prefers_the_offline_images(
    setting: str, present: bool, can_make: bool, registry: bool, offline: bool
) -> None:
    chosen, reason = choose_offline(setting, present, can_make, registry, "timed out")
    assert chosen is offline and reason
    if (setting, present, can_make, registry) == ("auto", False, False, False):
        assert reason == "no registry answers (timed out)"


def test_a_lab_on_the_golang_base_never_goes_to_the_registrys_module_mode_go() -> None:
    chosen, reason = choose_offline("auto", False, False, True, "", needs_go_path=True)
    assert chosen and "module mode" in reason
    # Said explicitly, the registry's images are still used.
    assert choose_offline("no", False, False, True, "", needs_go_path=True)[0] is False


def test_maintained_lines() -> None:
    assert maintained_lines("#!/bin/sh\n# comment\n\ndocker build .\n  docker cp a b\n") == 2


def test_fill_only_known_placeholders() -> None:
    values = {"tag_prefix": "t", "url": "http://x/"}
    assert fill("{tag_prefix}:b {{.Size}} {other}", values) == "t:b {{.Size}} {other}"
    with pytest.raises(LabError, match="extract"):
        fill("{extract}", values)


def test_with_labels_goes_after_the_subcommand() -> None:
    flags = ["--label", "a=b"]
    assert with_labels(["docker", "build", "-t", "x", "."], flags) == [
        "docker", "build", "--label", "a=b", "-t", "x", ".",
    ]  # fmt: skip
    assert with_labels(["docker", "image", "build", "."], flags)[:5] == [
        "docker", "image", "build", "--label", "a=b",
    ]  # fmt: skip
    assert with_labels(["docker", "cp", "a:/b", "c"], flags) == ["docker", "cp", "a:/b", "c"]
    assert with_labels(["ls", "app"], flags) == ["ls", "app"]


def test_last_json() -> None:
    assert last_json('noise\n{"internal":8,"external":5}\n') == {"internal": 8, "external": 5}
    assert last_json("{broken\nnothing") is None


def facts(output: str, code: int = 0, **extra: object) -> Facts:
    return Facts(outputs=[output], exit_codes=[code], **extra)  # type: ignore[arg-type]


def test_json_equals_passes_and_fails_with_expected_seen_hint() -> None:
    check = Check(type="json-equals", expected_file="E.json", hint="look at app.go")
    read = {"E.json": '{"internal": 8, "external": 5}'}.__getitem__
    good = evaluate(check, facts('{"internal":8,"external":5}', read_file=read))
    assert good.passed is True
    bad = evaluate(check, facts('{"internal":7,"external":5}', read_file=read))
    assert bad.passed is False
    assert bad.expected == '{"external": 5, "internal": 8}'
    assert bad.seen == '{"external": 5, "internal": 7}'
    assert bad.hint == "look at app.go"
    garbage = evaluate(check, facts("cannot fetch", read_file=read))
    assert garbage.passed is False and "no JSON line" in garbage.seen


def test_json_equals_against_a_real_site_only_wants_json() -> None:
    check = Check(type="json-equals", expected={"internal": 1})
    result = evaluate(check, facts('{"internal":40,"external":2}', exact=False))
    assert result.passed is True and "skipped" in result.note


def test_other_checks() -> None:
    assert evaluate(Check(type="output-equals", expected="hi"), facts("hi\n")).passed
    assert not evaluate(Check(type="output-equals", expected="hi"), facts("ho")).passed
    assert evaluate(Check(type="output-contains", expected="ll"), facts("hello")).passed
    assert evaluate(Check(type="exit-code", expected=3), facts("", 3)).passed
    exists = Check(type="image-exists", image="{tag_prefix}:x")
    seen: list[str] = []
    result = evaluate(
        exists, Facts(values={"tag_prefix": "t"}, image_exists=lambda r: seen.append(r) or False)
    )
    assert seen == ["t:x"] and result.passed is False and result.seen == "no image t:x"
    assert evaluate(Check(type="file-exists", path="app"), Facts(file_exists=lambda p: True)).passed


def test_a_missing_image_says_which_tag_the_check_wants_and_which_was_built() -> None:
    exists = Check(type="image-exists", image="{tag_prefix}:latest")
    built = Facts(values={"tag_prefix": "t"}, run_images=lambda: ("hello:latest",))
    assert evaluate(exists, built).seen == (
        "you built hello:latest; the check looks for $TAG:latest (t:latest)"
    )
    smaller = Check(type="image-smaller", image="{tag_prefix}:latest", than="sdk")
    sizes = replace(built, image_size=lambda ref: 10 if ref == "sdk" else None)
    assert evaluate(smaller, sizes).seen.startswith("you built hello:latest;")


def test_variants_agree() -> None:
    def agree(outputs: dict) -> bool:
        return bool(evaluate(Check(type="variants-agree"), Facts(variant_outputs=outputs)).passed)

    same = {"a": {"internal": 1}, "b": {"internal": 1}}
    assert agree(same)
    assert not agree({**same, "c": {"internal": 2}})
    assert not agree({**same, "c": None})
    assert not agree({})


def test_every_check_kind_is_one_registered_definition() -> None:
    assert list(CHECK_KINDS) == [
        "output-equals", "output-contains", "json-equals", "image-exists", "image-workdir",
        "image-smaller", "file-exists", "exit-code", "variants-agree",
    ]  # fmt: skip
    outputs = [name for name in CHECK_KINDS if category_of(name) is CheckCategory.OUTPUT]
    assert outputs == ["output-equals", "output-contains", "json-equals", "exit-code"]
    assert [n for n in CHECK_KINDS if category_of(n) is CheckCategory.IMAGE] == [
        "image-exists",
        "image-smaller",
    ]
    assert all(kind.name == name for name, kind in CHECK_KINDS.items())
    with pytest.raises(LabError, match="unknown check type"):
        category_of("nope")


def test_step_status_and_failure_reason() -> None:
    ok = evaluate(Check(type="output-equals", expected="hi"), facts("hi"))
    bad = evaluate(Check(type="output-equals", expected="hi"), facts("ho"))
    assert step_status([True, True], [ok], True) == "passed"
    assert step_status([True, False], [ok], False) == "failed"
    assert step_status([True], [bad], True) == "failed"
    commands = [
        CommandResult.from_dict(command)
        for command in (
            {"shown": "docker build .", "exit_code": 0, "expect_exit": 0, "output_tail": []},
            {
                "shown": "docker build -f X .",
                "exit_code": 1,
                "expect_exit": 0,
                "output_tail": ["boom", ""],
            },
        )
    ]
    assert failure_reason(commands, [bad]) == "`docker build -f X .` exited 1: boom"
    assert failure_reason(commands[:1], [bad]) == "output-equals: expected hi, saw ho"


def test_steps_to_run() -> None:
    assert steps_to_run(6, None, None) == [1, 2, 3, 4, 5, 6]
    assert steps_to_run(6, None, 4) == [4, 5, 6]
    assert steps_to_run(6, 2, None) == [2]
    # A lab step as a scenario: the steps before it set up its state.
    assert steps_to_run(6, None, None, until=3) == [1, 2, 3]
    with pytest.raises(LabError, match="the step 9 is not a step"):
        steps_to_run(6, None, None, until=9)
    with pytest.raises(LabError, match="--from 7 is not a step"):
        steps_to_run(6, None, 7)


def test_run_ids_and_tags_are_distinct_and_valid() -> None:
    ids = {new_run_id() for _ in range(50)}
    assert len(ids) == 50
    for run_id in ids:
        assert re.fullmatch(r"[a-z0-9][a-z0-9/._-]*", tag_prefix("multistage", run_id))


def test_cache_hits() -> None:
    assert cache_hits([" ---> Using cache", "Step 2/5", "#5 [2/3] RUN x CACHED"]) == 2


@pytest.mark.parametrize(
    ("env", "cli", "buildx", "server", "api", "kind"),
    [
        (None, "28.2.2", False, "20.10.24", "1.41", "legacy"),
        (None, "28.2.2", True, "20.10.24", "1.41", "buildkit"),
        ("0", "28.2.2", True, "20.10.24", "1.41", "legacy"),
        ("1", "20.10.24", False, "20.10.24", "1.41", "buildkit"),
        (None, "20.10.24", False, "20.10.24", "", "legacy"),
        ("1", "28.2.2", True, "17.05.0-ce", "1.29", "legacy"),
        ("1", "28.2.2", False, "20.10.24", "", "buildkit"),
        # A dev build says "dev": its API tells an 18.06 from today's master.
        (None, "28.2.2", True, "dev", "1.38", "legacy"),
        (None, "28.2.2", True, "dev", "1.56", "buildkit"),
        # 18.09 and 19.03 have BuildKit, but today's buildx loses their images' config.
        (None, "28.2.2", True, "dev", "1.39", "legacy"),
        (None, "28.2.2", True, "19.03.0", "1.40", "legacy"),
        (None, "28.2.2", True, "19.03.0", "", "legacy"),
        ("1", "28.2.2", True, "dev", "1.40", "buildkit"),
        ("1", "19.03.0", False, "19.03.0", "1.40", "buildkit"),
    ],
)
def test_builder_kind(
    env: str | None, cli: str, buildx: bool, server: str, api: str, kind: str
) -> None:
    assert builder_kind(env, cli, buildx, server, api)[0] == kind


def test_bars_and_ratios() -> None:
    assert bar(925, 925, 10) == "█" * 10
    assert bar(3, 925, 10) == "█"
    assert bar(None, 925) == ""
    assert ratio_text(1.0) == "1.00x"
    assert ratio_text(0.0125) == "1/80"


def test_external_layout_checks() -> None:
    assert (
        external.missing_files({"Dockerfile", "Dockerfile.build", "Dockerfile.multi", "build.sh"})
        == []
    )
    assert external.missing_files({"Dockerfile", "build.sh"}) == [
        "Dockerfile.build",
        "Dockerfile.multi",
    ]
    assert external.missing_files({"Dockerfile", "Dockerfile.build", "Dockerfile.multi"}) == [
        "build.sh or build-multi-dockerfiles.sh"
    ]
    script = (
        "#!/bin/sh\ndocker create --name extract x\ndocker cp extract:/go/src/x/app ./app  # copy\n"
    )
    assert external.copy_source_path(script) == "/go/src/x/app"
    assert external.copy_source_path("docker build -f Dockerfile.multi .\n") is None
    with pytest.raises(UsageError):
        external.validate_page_url("ftp://example.com/")
    assert external.validate_page_url("https://example.com/") == "https://example.com/"


def test_the_fixture_site_picks_another_port_when_taken(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text('<a href="{{origin}}/x">x</a>')
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    taken = blocker.getsockname()[1]
    try:
        with FixtureSite(tmp_path, taken) as site:
            assert site.port != taken
            body = urllib.request.urlopen(site.url, timeout=10).read().decode()
            assert body == f'<a href="http://127.0.0.1:{site.port}/x">x</a>'
    finally:
        blocker.close()
    assert render_page("{{origin}}/a {{origin}}", "http://h:1") == "http://h:1/a http://h:1"


def sample_report() -> Report:
    variant = {
        "name": "multi-stage", "engine": "host", "image": "t:multi", "size_bytes": 9_000_000,
        "layers": 4, "build_seconds": 1.5, "commands_typed": 1, "files": 1, "lines": 10,
        "output": {"internal": 8, "external": 5}, "produces_app": True, "passed": True,
        "leftovers": [{"kind": "file", "name": "app", "present": True, "size_bytes": 7_000_000}],
    }  # fmt: skip
    report = {
        "lab": "multistage", "title": "Builder <pattern>", "run_id": "r1", "status": "passed",
        "started": "s", "finished": "f", "url": "http://127.0.0.1:1/", "site": "fixture",
        "expected": {"internal": 8, "external": 5},
        "base_images": {"builder": "b", "runtime": "r", "reason": "offline = yes",
                        "substitutions": [{"file": "Dockerfile", "line": 1, "old": "alpine", "new": "r"}]},
        "engines": [{"name": "host", "kind": "host", "url": "unix:///x", "version": "20.10",
                     "builder": "legacy", "builder_reason": "no buildx", "image_store": "graphdriver",
                     "builder_image": "b", "builder_image_size_bytes": 900_000_000}],
        "steps": [{"index": 1, "engine": "host", "title": "Multi", "status": "passed", "reason": "",
                   "variant": variant},
                  {"index": 2, "engine": "host", "title": "Compare", "status": "failed",
                   "reason": "variants-agree: expected x, saw y"}],
    }  # fmt: skip
    return Report.from_dict(report)


def test_the_report_derives_variants_and_failures() -> None:
    report = sample_report().to_dict()
    assert report["variants"][0]["ratio_to_builder"] == pytest.approx(0.01)
    assert report["failed_steps"] == [
        {
            "index": 2,
            "engine": "host",
            "title": "Compare",
            "reason": "variants-agree: expected x, saw y",
        }
    ]
    header, rows = variant_table(sample_report())
    assert rows[0][header.index("leaves behind")] == "file app (7.0 MB)"


def test_markdown_report() -> None:
    text = render_markdown(sample_report())
    assert "| multi-stage | host | 9.0 MB | 1/100 | 4 | 1.5s |" in text
    assert "First failure: step 2 (Compare)" in text


def test_html_report_is_self_contained_and_escaped() -> None:
    page = render_html(sample_report())
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page
    assert "Builder &lt;pattern&gt;" in page and "<pattern>" not in page
    # No network: no scripts, no external stylesheets, images or fonts.
    assert "<script" not in page
    for url in re.findall(r'(?:href|src)="([^"]+)"', page):
        pytest.fail(f"external reference {url}")
    assert "@import" not in page and "url(" not in page
    chart = size_chart([("SDK", 900), ("tiny", 1)])
    assert chart.count("<rect") == 2 and 'width="2.0"' in chart


def test_the_size_charts_long_labels_start_inside_it() -> None:
    label = "builder-pattern [dev:0123456789ab, the engine built from a pull request]"
    chart = size_chart([(label, 900), ("tiny", 1)])
    (end,) = re.findall(r'<text x="(\d+)"[^>]*text-anchor="end"[^>]*>' + re.escape(label), chart)
    assert int(end) - CHART_CHAR_WIDTH * len(label) >= 0


def test_a_variant_says_what_it_printed_only_when_it_runs_the_app() -> None:
    row = {"variant": "hello", "engine": "host", "output": "-", "leaves behind": "nothing"}
    hello = VariantRecord(name="hello", engine="host", image="t", produces_app=False,
                          cached_steps=1)  # fmt: skip
    assert variant_details(hello, row) == (
        "hello (host): leaves behind: nothing; 1 build step from the cache"
    )
    app = replace(hello, produces_app=True, cached_steps=3)
    assert variant_details(app, {**row, "output": '{"n": 1}'}) == (
        'hello (host): output {"n": 1}; leaves behind: nothing; 3 build steps from the cache'
    )


def test_report_json_round_trips() -> None:
    report = sample_report()
    assert Report.from_dict(json.loads(json.dumps(report.to_dict()))) == report
