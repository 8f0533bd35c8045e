"""Pure decisions of the workshop tasks: check verdicts, provision skips, lab progress,
aggregated reports, teardown filters and redaction."""

from __future__ import annotations

import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from mobylab.catalog import check_name
from mobylab.errors import UsageError
from mobylab.workshop.artifacts import Artifacts, Wheelhouse, tree_hash
from mobylab.workshop.check import CheckFacts, parse_df, parse_doctor, summarize
from mobylab.workshop.collect import (
    WorkshopSummary,
    aggregate,
    render_html,
    render_markdown,
    summarize_host,
)
from mobylab.workshop.labrun import classify, report_passed, report_steps
from mobylab.workshop.layout import RemoteLayout
from mobylab.workshop.provision import needed, parse_python_version, stale_wheels
from mobylab.workshop.redact import redact_text, secrets_in_env
from mobylab.workshop.remote import sh
from mobylab.workshop.teardown import Found, label_filters, parse_listing

DOCTOR_OK = {
    "ok": True,
    "version": "0.1.0",
    "checks": [
        {"name": "engine", "status": "OK", "detail": "20.10", "hint": ""},
        {"name": "privileged containers", "status": "OK", "detail": "fallback works", "hint": ""},
        {"name": "registry", "status": "WARN", "detail": "offline", "hint": "fine"},
    ],
}


def test_check_verdicts():
    fresh = summarize(CheckFacts(engine_version="20.10.24", disk_free=50 * 10**9))
    assert (fresh.state, fresh.mobylab, fresh.privileged) == ("WARN", "not installed", "unknown")
    assert fresh.engine == "20.10.24" and fresh.disk == "50.0 GB"
    ready = summarize(
        CheckFacts(engine_version="20.10.24", disk_free=50 * 10**9, mobylab_version="0.1.0",
                   doctor=DOCTOR_OK)
    )  # fmt: skip
    assert ready.state == "WARN" and ready.privileged == "fallback works"
    assert ready.notes == ["registry: offline"]
    no_engine = summarize(CheckFacts(engine_error="Cannot connect", disk_free=50 * 10**9))
    assert no_engine.state == "FAIL" and "Cannot connect" in no_engine.notes[0]
    full = summarize(CheckFacts(engine_version="x", disk_free=10**8))
    assert full.state == "FAIL"
    failing = dict(DOCTOR_OK, ok=False)
    broken = summarize(CheckFacts("x", disk_free=10**11, mobylab_version="0.1", doctor=failing))
    assert broken.state == "FAIL"
    no_doctor = summarize(CheckFacts("x", disk_free=10**11, mobylab_version="0.1"))
    assert no_doctor.state == "WARN" and "doctor gave no report" in no_doctor.notes[0]


def test_parsers():
    df = "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda 100 50 2048 50% /\n"
    assert parse_df(df) == 2048 * 1024
    assert parse_df("garbage") is None
    assert parse_doctor("noise\n" + '{"ok": false, "checks": []}' + "\n") == {
        "ok": False,
        "checks": [],
    }
    assert parse_doctor("No idea what 'doctor' is!") is None
    assert parse_python_version("Python 3.11.2") == (3, 11)
    assert parse_python_version("bash: python3: not found") is None


def _artifacts(**changes) -> Artifacts:
    wheels = Wheelhouse(Path("/w"), "hash1", {"mobylab-0.1.0-py3-none-any.whl": "aa"})
    values = {"wheelhouse": wheels, "version": "0.1.0", "labs": (Path("/l.tgz"), "labs1")}
    values.update(changes)
    return Artifacts(**values)


def test_provision_skips_what_did_not_change():
    art = _artifacts()
    fresh = needed({}, art, None)
    assert fresh == {"venv": True, "labs": True, "images": False, "bundles": False, "dev": False}
    done = {"wheelhouse": "hash1", "labs": "labs1"}
    assert needed(done, art, "0.1.0") == {
        "venv": False,
        "labs": False,
        "images": False,
        "bundles": False,
        "dev": False,
    }
    dev_build = _artifacts(dev=(Path("/d.tgz"), "build1"))
    assert needed(done, dev_build, "0.1.0")["dev"]
    assert not needed({**done, "dev": "build1"}, dev_build, "0.1.0")["dev"]
    assert needed(done, _artifacts(labs=(Path("/l.tgz"), "labs2")), "0.1.0")["labs"]
    assert needed(done, art, "0.0.9")["venv"]
    assert needed(done, _artifacts(images=(Path("/i.tar"), "sha")), "0.1.0")["images"]
    assert stale_wheels(
        {"a.whl": "1", "b.whl": "2"}, {"a.whl": "1", "b.whl": "3", "c.whl": "4"}
    ) == [
        "b.whl",
        "c.whl",
    ]


def test_tree_hash_follows_names_and_contents(tmp_path: Path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    first = tree_hash(tmp_path, ["pkg"])
    (tmp_path / "pkg" / "__pycache__" / "a.pyc").write_bytes(b"junk")
    assert tree_hash(tmp_path, ["pkg"]) == first
    (tmp_path / "pkg" / "a.py").write_text("x = 2\n")
    assert tree_hash(tmp_path, ["pkg"]) != first


def _lab_report(status: str, steps: list[dict]) -> dict:
    return {"lab": "hello", "run_id": "r1", "status": status, "step_count": 3,
            "engines": [{"name": "host"}], "steps": steps}  # fmt: skip


STEP_OK = {
    "index": 1,
    "engine": "host",
    "title": "Build",
    "status": "passed",
    "commands": [{"seconds": 1.5}, {"seconds": 0.5}],
    "variant": {"size_bytes": 7_000_000},
}
STEP_FAILED = {"index": 2, "engine": "host", "title": "Run", "status": "failed", "commands": []}
STEP_RUNNING = {"index": 3, "engine": "dev", "title": "Compare", "status": "running"}


def test_report_steps_and_verdicts():
    steps = report_steps(_lab_report("running", [STEP_OK, STEP_RUNNING]))
    assert steps[0] == {"name": "Build", "passed": True, "seconds": 2.0, "size": 7e6,
                        "status": "passed"}  # fmt: skip
    assert steps[1]["name"] == "Compare [dev]" and steps[1]["passed"] is None
    assert report_passed(_lab_report("running", [])) is None
    assert report_passed(_lab_report("failed", [])) is False
    assert report_passed({"passed": True}) is True
    variants = {"variants": [{"name": "multi", "steps": [{"name": "build", "passed": True}]}]}
    assert report_steps(variants)[0]["name"] == "multi/build"


def test_progress_classification():
    assert classify(None, None, 300).where == "no lab run yet"
    running = classify(_lab_report("running", [STEP_OK, STEP_RUNNING]), 10, 300)
    assert (running.state, running.where, running.done_steps, running.total_steps) == (
        "RUNNING",
        "at Compare [dev]",
        1,
        3,
    )
    stuck = classify(_lab_report("running", [STEP_OK]), 900, 300)
    assert stuck.state == "STUCK" and stuck.where == "stuck at step 2 for 900s"
    failed = classify(_lab_report("failed", [STEP_OK, STEP_FAILED]), 5, 300)
    assert failed.state == "FAIL" and failed.where == "failed at Run"
    done = classify(_lab_report("passed", [STEP_OK]), 5, 300)
    assert done.state == "OK" and done.where == "finished"
    # A detached lab that runs: a finished or missing report is an earlier run's.
    for earlier in (_lab_report("passed", [STEP_OK]), None):
        starting = classify(earlier, 5, 300, detached_running=True)
        assert (starting.state, starting.where) == ("RUNNING", "starting")
    # Once its own report exists, it is followed like any other run.
    ongoing = classify(_lab_report("running", [STEP_OK]), 5, 300, detached_running=True)
    assert ongoing.where == "at step 2"


def test_aggregated_report():
    rows = [
        summarize_host("a@vm1", _lab_report("passed", [STEP_OK])),
        summarize_host("b@vm2", _lab_report("failed", [STEP_OK, STEP_FAILED])),
        summarize_host("c@vm3", None, "c@vm3: unreachable (connection refused)"),
    ]
    aggregated = aggregate(rows)
    summary = aggregated.to_dict()
    assert (summary["hosts"], summary["finished"], summary["passed"]) == (3, 2, 1)
    assert summary["slowest_step"] == {"host": "a@vm1", "step": "Build", "seconds": 2.0}
    assert summary["labs"] == ["hello"]
    assert WorkshopSummary.from_dict(summary) == aggregated
    markdown = render_markdown(aggregated)
    assert "2/3 hosts finished, 1/3 passed; slowest step: Build on a@vm1 (2.0s)" in markdown
    assert "| b@vm2 | FAILED | pass (2.0s, 7.0 MB) | FAIL |" in markdown
    assert "connection refused" in markdown
    scripted = replace(aggregated, results=(replace(rows[0], lab="<script>"), *rows[1:]))
    page = render_html(scripted)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert page.count("<tr>") == 4


def test_lab_names_are_plain_words():
    assert check_name("hello") == "hello"
    for bad in ("", "../x", "a b", "x;y", "-x"):
        with pytest.raises(UsageError):
            check_name(bad)


def test_teardown_filters_and_listings():
    assert label_filters([]) == ["--filter", "label=org.mobylab.managed=true"]
    assert label_filters(["org.mobylab.run=r1"])[-1] == "label=org.mobylab.run=r1"
    with pytest.raises(UsageError):
        label_filters(["com.example.owner=me"])
    assert parse_listing("abc|one||\nabc|one||\ndef|two|r1|<no value>\n\n") == [
        Found("abc", "one"),
        Found("def", "two", run="r1"),
    ]


def test_redaction():
    text = (
        "fetch https://alice:s3cret@git.example.org/x.git\n"
        "export API_TOKEN=abcd1234 PASSWORD: hunter22\n"
        "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXkt\n-----END OPENSSH PRIVATE KEY-----\n"
        "the proxy secret is tok-9999"
    )
    cleaned = redact_text(text, ["tok-9999"])
    for secret in ("s3cret", "alice", "abcd1234", "hunter22", "b3BlbnNzaC1rZXkt", "tok-9999"):
        assert secret not in cleaned
    assert "https://***@git.example.org/x.git" in cleaned
    assert secrets_in_env({"HTTPS_PROXY": "http://u:pw12@proxy:3128", "LANG": "C.UTF-8"}) == [
        "u:pw12",
        "pw12",
    ]
    assert "T0KEN" in secrets_in_env({"GITHUB_TOKEN": "T0KEN"})


def test_remote_paths_and_quoting():
    layout = RemoteLayout("/home/a b/.mobylab-workshop")
    assert layout.mobylab == "/home/a b/.mobylab-workshop/venv/bin/mobylab"
    assert layout.mobylab_env()["MOBYLAB_WORKSPACE"].endswith("/workspace")
    assert sh("rm", "-rf", layout.root) == "rm -rf '/home/a b/.mobylab-workshop'"
    assert sh("echo", "$(id);") == "echo '$(id);'"


def test_archives_are_named_by_content_and_reused(tmp_path: Path):
    from mobylab.workshop.artifacts import make_tar

    labs = tmp_path / "labs"
    (labs / "hello").mkdir(parents=True)
    (labs / "hello" / "lab.toml").write_text("title = 'x'\n")
    # A folder link (like bundles/latest) travels as a link: never followed, never lost.
    (labs / "hello" / "latest").symlink_to(".")
    out = tmp_path / "out"
    first = make_tar(labs, out, "labs")
    assert first is not None
    archive, digest = first
    assert archive.name == f"labs-{digest[:16]}.tar.gz"
    with tarfile.open(archive) as tar:
        link = tar.getmember("hello/latest")
        assert link.issym() and link.linkname == "."
        assert tar.getnames() == ["hello/lab.toml", "hello/latest"]
    assert make_tar(labs, out, "labs") == first
    (labs / "hello" / "lab.toml").write_text("title = 'y'\n")
    second = make_tar(labs, out, "labs")
    assert second is not None and second[1] != digest
    assert make_tar(tmp_path / "missing", out, "labs") is None
    # Pointing the link elsewhere is a change of content.
    (labs / "hello" / "latest").unlink()
    (labs / "hello" / "latest").symlink_to("..")
    third = make_tar(labs, out, "labs")
    assert third is not None and third[1] != second[1]
