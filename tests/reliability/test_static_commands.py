"""Static review: commands are argument lists or quoted, never user input pasted into a
shell string. The scan lists every place a shell could see a string built at run time;
each one was read and is recorded in REVIEWED with why it is safe. A new hit fails
until someone reviews it the same way."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mobylab"
SHELLS = {"sh", "bash", "/bin/sh", "/bin/bash"}
QUOTERS = {"quote", "sh", "join"}  # shlex.quote, workshop.remote.sh, shlex.join

# (file, enclosing function, kind) -> why it is safe.
REVIEWED = {
    ("dev/console.py", "shell_argv", "sh -c"): "a constant script; no value is formatted into it",
    ("workshop/remote.py", "home", "remote string"): "a constant command",
    ("workshop/labrun.py", "__call__", "remote string"): "joins two commands whose every "
    "value is quoted with sh() (detached_lab_check, and detached_command or env_command)",
    ("workshop/serve/sandbox.py", "docker_cli", "sh -c"): "a constant script (command -v "
    "docker); the PATH it searches goes in as an environment variable, never into the script",
}


def _function_of(tree: ast.AST) -> dict[ast.AST, str]:
    owner: dict[ast.AST, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for child in ast.walk(node):
                owner.setdefault(child, node.name)
    return owner


def _callee(node: ast.Call) -> str:
    func = node.func
    if isinstance(func, ast.Attribute):
        base = func.value.id if isinstance(func.value, ast.Name) else ""
        return f"{base}.{func.attr}" if base else func.attr
    return func.id if isinstance(func, ast.Name) else ""


def _quoted(value: ast.FormattedValue) -> bool:
    inner = value.value
    return isinstance(inner, ast.Call) and _callee(inner).split(".")[-1] in QUOTERS


def hits(path: Path) -> Iterator[tuple[str, str, int]]:
    """(function, kind, line) for every suspicious construct in one module."""
    tree = ast.parse(path.read_text(), str(path))
    owner = _function_of(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _callee(node)
            for keyword in node.keywords:
                if keyword.arg == "shell" and not (
                    isinstance(keyword.value, ast.Constant) and keyword.value.value is False
                ):
                    yield owner.get(node, "<module>"), "shell=True", node.lineno
            if name in ("os.system", "os.popen", "subprocess.getoutput", "os.execl"):
                yield owner.get(node, "<module>"), name, node.lineno
            if name.endswith("run") and node.args and isinstance(node.args[0], ast.JoinedStr):
                parts = [v for v in node.args[0].values if isinstance(v, ast.FormattedValue)]
                if not all(_quoted(v) for v in parts) or not parts:
                    yield owner.get(node, "<module>"), "remote string", node.lineno
            first = node.args[0] if node.args else None
            if (
                name.endswith("run")
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
                and " " in first.value
            ):
                yield owner.get(node, "<module>"), "remote string", node.lineno
        if isinstance(node, (ast.List, ast.Tuple)):
            items = node.elts
            for index in range(len(items) - 2):
                first, flag = items[index], items[index + 1]
                if (
                    isinstance(first, ast.Constant)
                    and first.value in SHELLS
                    and isinstance(flag, ast.Constant)
                    and flag.value == "-c"
                ):
                    yield owner.get(node, "<module>"), "sh -c", node.lineno


def all_hits() -> list[tuple[str, str, str, int]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = str(path.relative_to(PACKAGE))
        for function, kind, line in hits(path):
            found.append((relative, function, kind, line))
    return found


def test_no_unreviewed_shell_strings() -> None:
    unreviewed = [h for h in all_hits() if h[:3] not in REVIEWED]
    assert not unreviewed, "review these and add them to REVIEWED: " + repr(unreviewed)


def test_the_reviewed_hits_still_exist() -> None:
    # A stale entry would silently allow a new construct in the same function.
    present = {h[:3] for h in all_hits()}
    assert set(REVIEWED) <= present, set(REVIEWED) - present


def test_the_scan_finds_what_it_looks_for(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import os, subprocess\n"
        "def bad(ref, remote):\n"
        "    subprocess.run(f'git checkout {ref}', shell=True)\n"
        "    os.system('make ' + ref)\n"
        "    remote.run(f'git checkout {ref}')\n"
        "    subprocess.run(['sh', '-c', f'echo {ref}'])\n"
        "def good(ref, remote):\n"
        "    remote.run(f'cd {shlex.quote(ref)} && ' + sh('ls'))\n"
        "    subprocess.run(['git', 'checkout', ref])\n"
    )
    kinds = sorted(kind for function, kind, _ in hits(sample) if function == "bad")
    assert kinds == ["os.system", "remote string", "remote string", "sh -c", "shell=True"]
    assert [h for h in hits(sample) if h[0] == "good"] == []
