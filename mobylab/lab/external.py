"""`lab.multistage --source`: the lab on another repository laid out like href-counter.

The repository's own Dockerfiles are built unchanged, except the FROM lines when
the run uses offline base images (the run says so). Its builder-pattern script
gives the path `docker cp` copies the binary from.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

from .. import git
from ..dev.source import repo_kind
from ..errors import LabError, UsageError
from .model import Check, Command, Lab, Step, Variant

if TYPE_CHECKING:
    from ..session import Session

REQUIRED = ("Dockerfile.build", "Dockerfile", "Dockerfile.multi")
SCRIPTS = ("build.sh", "build-multi-dockerfiles.sh")


def validate_page_url(url: str) -> str:
    """An http(s) URL with a host, for --url."""
    try:
        parsed = urlparse(url)
        scheme, host, _ = parsed.scheme, parsed.hostname, parsed.port
    except ValueError:
        scheme, host = "", None
    if scheme not in ("http", "https") or not host or any(c.isspace() or ord(c) < 32 for c in url):
        raise UsageError(
            f"--url {url!r} is not an http or https URL", "Give e.g. https://example.com/."
        )
    return url


def missing_files(names: set[str]) -> list[str]:
    """Pure: what an href-counter layout lacks, given the file names at its top."""
    missing = [name for name in REQUIRED if name not in names]
    if not any(script in names for script in SCRIPTS):
        missing.append(" or ".join(SCRIPTS))
    return missing


def copy_source_path(script: str) -> str | None:
    """Pure: the container-side path of the script's `docker cp NAME:PATH DEST`."""
    for line in script.splitlines():
        line = line.split("#", 1)[0].strip()
        if not re.match(r"^docker\s+(container\s+)?cp\s", line):
            continue
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        for word in words[2:]:
            if ":" in word and not word.startswith("-"):
                path = word.split(":", 1)[1]
                if path.startswith("/"):
                    return path
    return None


def builder_script(folder: Path) -> tuple[str, str]:
    """(script name, docker cp path): the script of the builder pattern."""
    for name in (*reversed(SCRIPTS),):
        path = folder / name
        if path.is_file():
            found = copy_source_path(path.read_text(errors="replace"))
            if found:
                return name, found
    raise LabError(
        f"no {' or '.join(SCRIPTS)} in {folder} copies the binary out with `docker cp`",
        "The builder pattern needs a script with `docker cp <container>:<path> <dest>`.",
    )


def fetch_source(session: Session, source: str) -> Path:
    """A local folder with the repository: the path itself, or a fresh clone of the URL."""
    kind = repo_kind(source)
    if kind == "path":
        folder = Path(source).expanduser().resolve()
        if not folder.is_dir():
            raise UsageError(f"--source {source!r} is not a folder or a URL")
        return folder
    digest = hashlib.sha256(source.encode()).hexdigest()[:12]
    target = session.workspace.cache / "lab-sources" / digest
    if target.exists():
        shutil.rmtree(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    done = git.run(["clone", "--depth", "1", "--", source, str(target)], timeout=600)
    if not done.ok:
        raise LabError(f"cannot clone {source}: {done.reason}", "Check the URL and your network.")
    return target


def _run_command(tag: str) -> Command:
    return Command(f"docker run --rm --network host -e url={{url}} {{tag_prefix}}:{tag}", "run")


def source_lab(session: Session, lab: Lab, source: str) -> Lab:
    """The multistage lab's builder-pattern and multi-stage steps on another repository."""
    folder = fetch_source(session, source)
    names = {p.name for p in folder.iterdir()}
    missing = missing_files(names)
    if missing:
        raise LabError(
            f"{source} is not laid out like href-counter: missing {', '.join(missing)}",
            "It needs Dockerfile.build, Dockerfile, Dockerfile.multi and a builder-pattern script.",
        )
    script, copy_path = builder_script(folder)
    expected = Check(
        type="json-equals",
        expected_file=lab.expected_file,
        hint="The repository's app counts the fixture page's links; compare with the lab's app.",
    )
    builder = Step(
        title=f"The builder pattern, from {script}",
        narrative=(
            f"The repository's `Dockerfile.build`, `Dockerfile` and `{script}`; the script's "
            "steps run one by one with this run's tags."
        ),
        show=("Dockerfile.build", "Dockerfile", script),
        commands=(
            Command("docker build -t {tag_prefix}:build . -f Dockerfile.build", "build"),
            Command("docker create --name {extract} {tag_prefix}:build", "build"),
            Command(f"docker cp {{extract}}:{copy_path} ./app", "build"),
            Command("docker rm -f {extract}", "build"),
            Command("docker build --no-cache -t {tag_prefix}:latest .", "build"),
            _run_command("latest"),
        ),
        checks=(expected,),
        variant=Variant(
            name="builder-pattern",
            image="{tag_prefix}:latest",
            maintain=("Dockerfile.build", "Dockerfile", script),
            leftovers=("file:app", "image:{tag_prefix}:build", "container:{extract}"),
        ),
    )
    multi = Step(
        title="Multi-stage build: Dockerfile.multi",
        narrative="The repository's `Dockerfile.multi`: one file, one command.",
        show=("Dockerfile.multi",),
        commands=(
            Command("docker build -t {tag_prefix}:multi . -f Dockerfile.multi", "build"),
            _run_command("multi"),
        ),
        checks=(expected,),
        variant=Variant(
            name="multi-stage", image="{tag_prefix}:multi", maintain=("Dockerfile.multi",)
        ),
    )
    compare = Step(
        title="Compare",
        narrative="Both ways must print the same counts.",
        commands=(Command("docker images {tag_prefix}", "inspect"),),
        checks=(Check(type="variants-agree"),),
    )
    return Lab(
        name=lab.name,
        path=lab.path,
        title=f"{lab.title}: {source}",
        summary=lab.summary,
        introduction=(
            f"The builder pattern and the multi-stage build of **{source}**, built with its own "
            "Dockerfiles and checked against the lab's fixture site."
        ),
        closing="",
        images=lab.images,
        app_dir=folder,
        site=lab.site,
        site_port=lab.site_port,
        expected_file=lab.expected_file,
        builder_bases=lab.builder_bases,
        runtime_bases=lab.runtime_bases,
        steps=(builder, multi, compare),
        source=source,
    )
