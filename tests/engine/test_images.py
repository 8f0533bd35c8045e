"""Offline images on the real engine: bootstrap, an offline Go build, save and load."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker.errors
import pytest

from mobylab import labels, process
from mobylab.config import Settings, merge_settings
from mobylab.engine import Engine
from mobylab.errors import ImageError
from mobylab.images import (
    RECIPES,
    build_image,
    ensure_images,
    load_images,
    managed_images,
    save_images,
)
from mobylab.images.archive import checksum_line, checksum_path
from mobylab.images.recipes import rootfs_key
from mobylab.images.rootfs import cache_dir, debootstrap_rootfs
from mobylab.workspace import Workspace

REPO = Path(__file__).resolve().parents[2]

APP = """package main

import (
	"fmt"
	"strings"

	"golang.org/x/net/html"
)

func main() {
	page := `<a href="/inside">a</a><a href="https://example.org/">b</a><p>no link</p>`
	tokens := html.NewTokenizer(strings.NewReader(page))
	links := 0
	for {
		kind := tokens.Next()
		if kind == html.ErrorToken {
			break
		}
		if kind == html.StartTagToken {
			if name, _ := tokens.TagName(); string(name) == "a" {
				links++
			}
		}
	}
	fmt.Printf("links=%d\\n", links)
}
"""

DOCKERFILE = """FROM mobylab/golang:1.19-bookworm
WORKDIR /go/src/example.org/linkcount/
RUN go get -d -v golang.org/x/net/html
COPY main.go .
RUN CGO_ENABLED=0 GOOS=linux go build -a -installsuffix cgo -o app .
FROM mobylab/runtime:busybox
COPY --from=0 /go/src/example.org/linkcount/app /app
CMD ["/app"]
"""


@pytest.fixture(scope="module")
def images_ready(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """All three offline images (made once per machine; the rootfs cache makes it quick)."""
    workspace = Workspace(tmp_path_factory.mktemp("images") / "ws")
    return ensure_images(engine, workspace, list(RECIPES), settings=merge_settings())


def _remove(engine: Engine, ref: str) -> None:
    client = engine.client()
    try:
        client.images.remove(ref, force=True)
    except docker.errors.ImageNotFound:
        pass
    finally:
        client.close()


def _image_ids(engine: Engine) -> set[str]:
    client = engine.client()
    try:
        return {image.id for image in client.images.list(all=True)}
    finally:
        client.close()


@pytest.mark.slow
def test_bootstrap_makes_all_three_labelled_images(
    engine: Engine, images_ready: dict[str, str]
) -> None:
    assert images_ready == {name: recipe.tag for name, recipe in RECIPES.items()}
    rows = {row.tag: row for row in managed_images(engine)}
    for name, recipe in RECIPES.items():
        row = rows[recipe.tag]
        assert row.recipe == name
        assert row.labels[labels.MANAGED] == "true"
        assert len(row.labels["org.mobylab.rootfs-sha256"]) == 64
    assert rows[RECIPES["runtime"].tag].size < 10_000_000
    dind = rows[RECIPES["dind"].tag].labels
    assert dind["org.mobylab.method"] == "debootstrap" and dind["org.mobylab.debootstrap"]
    assert "docker.io" in dind["org.mobylab.packages"]


def test_existing_images_are_kept(engine: Engine, images_ready: dict[str, str], workspace) -> None:
    client = engine.client()
    try:
        before = client.images.get(RECIPES["golang"].tag).id
        started = time.monotonic()
        assert ensure_images(engine, workspace, ["golang"], settings=merge_settings()) == {
            "golang": RECIPES["golang"].tag
        }
        assert time.monotonic() - started < 10
        assert client.images.get(RECIPES["golang"].tag).id == before
    finally:
        client.close()


PROGRAMS = ("dockerd", "containerd", "runc", "docker", "docker-init", "iptables", "make", "ps")


def test_the_dind_image_holds_a_docker_engine(engine: Engine, images_ready: dict[str, str]) -> None:
    client = engine.client()
    try:
        output = client.containers.run(
            RECIPES["dind"].tag,
            ["sh", "-c", f"for p in {' '.join(PROGRAMS)}; do command -v $p; done"],
            remove=True,
            network_mode="none",
            labels=labels.labels("test"),
        ).decode()
    finally:
        client.close()
    for program in PROGRAMS:
        assert f"/{program}\n" in output


@pytest.mark.slow
def test_a_go_program_with_x_net_builds_with_no_network(
    engine: Engine, images_ready: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "main.go").write_text(APP)
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    tag = f"mobylab-test/linkcount:{uuid.uuid4().hex[:8]}"
    try:
        built = process.run(
            ["docker", "build", "--network", "none", "--force-rm", "-t", tag,
             *labels.label_flags("test"), str(tmp_path)],
            env={**engine.cli_env(), "DOCKER_BUILDKIT": "0"},
        )  # fmt: skip
        assert built.ok, built.output
        client = engine.client()
        try:
            output = client.containers.run(
                tag, remove=True, network_mode="none", labels=labels.labels("test")
            )
            assert output.decode().strip() == "links=2"
            assert client.images.get(tag).attrs["Size"] < 20_000_000
        finally:
            client.close()
    finally:
        _remove(engine, tag)


def test_a_rebuild_reuses_the_cached_root_filesystem(
    engine: Engine, images_ready: dict[str, str], tmp_path: Path
) -> None:
    settings = merge_settings(environ={})
    recipe = RECIPES["dind"]
    cache = cache_dir(merge_settings().rootfs_cache)
    if not (
        cache / f"{rootfs_key(settings.debian_suite, settings.debian_mirror, recipe.packages)}.tar"
    ).exists():
        pytest.skip("the dind root filesystem is not cached here (its image was loaded)")
    seen: list[str] = []
    started = time.monotonic()
    fs = debootstrap_rootfs(
        recipe,
        suite=settings.debian_suite,
        mirror=settings.debian_mirror,
        cache=cache,
        log=tmp_path / "log",
        progress=seen.append,
    )
    assert time.monotonic() - started < 5
    assert any("from the cache" in line for line in seen)
    assert fs.path.stat().st_size > 100_000_000


@pytest.fixture
def unique_runtime(engine: Engine, workspace: Workspace) -> Iterator[tuple[str, str]]:
    """A runtime image of its own (its own id), removed afterwards."""
    tag = f"mobylab-test/runtime:{uuid.uuid4().hex[:8]}"
    recipe = dataclasses.replace(RECIPES["runtime"], tag=tag)
    record = build_image(
        engine, workspace, recipe, settings=merge_settings(), report=lambda _: None
    )
    yield tag, record["id"]
    _remove(engine, tag)


def test_force_makes_a_runtime_image_that_runs(
    engine: Engine, unique_runtime: tuple[str, str], workspace: Workspace
) -> None:
    tag, image_id = unique_runtime
    client = engine.client()
    try:
        output = client.containers.run(
            tag,
            ["sh", "-c", "echo ok; test -s /etc/ssl/certs/ca-certificates.crt && echo certs"],
            remove=True,
            network_mode="none",
            labels=labels.labels("test"),
        ).decode()
        image = client.images.get(tag)
    finally:
        client.close()
    assert output.split() == ["ok", "certs"]
    assert image.attrs["Config"]["Labels"]["org.mobylab.recipe"] == "runtime"
    assert workspace.load_state("images")["runtime"]["id"] == image_id


def test_save_and_load_round_trip_and_refusals(
    engine: Engine, unique_runtime: tuple[str, str], tmp_path: Path
) -> None:
    tag, image_id = unique_runtime
    archive = tmp_path / "out" / "images.tar"
    info = save_images(engine, [tag], archive)
    assert info.tags == (tag,)
    assert checksum_path(archive).read_text().split()[0] == info.sha256
    assert not [p for p in archive.parent.iterdir() if p.name.endswith(".partial")]
    _remove(engine, tag)
    assert image_id not in _image_ids(engine)

    original = archive.read_bytes()
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0x01
    truncated = original[: len(original) // 2]
    for damaged, reseal in ((bytes(tampered), False), (truncated, False), (truncated, True)):
        archive.write_bytes(damaged)
        if reseal:
            digest = hashlib.sha256(damaged).hexdigest()
            checksum_path(archive).write_text(checksum_line(digest, archive.name))
        with pytest.raises(ImageError, match="nothing was loaded"):
            load_images(engine, archive)
        assert image_id not in _image_ids(engine)

    # Intact, with no .sha256 next to it: the checksum inside vouches for it.
    archive.write_bytes(original)
    checksum_path(archive).unlink()
    loaded = load_images(engine, archive)
    assert loaded.tags == (tag,)
    client = engine.client()
    try:
        assert client.images.get(tag).id == image_id
    finally:
        client.close()


def test_load_task_refuses_a_non_archive_in_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "images.tar"
    fake.write_bytes(b"this is not an image archive\n" * 100)
    checksum_path(fake).write_text(
        checksum_line(hashlib.sha256(fake.read_bytes()).hexdigest(), fake.name)
    )
    result = process.run(
        ["invoke", "images.load", str(fake)],
        cwd=REPO,
        env={"MOBYLAB_WORKSPACE": str(tmp_path / "ws"), "CI": os.environ.get("CI", "")},
    )
    assert result.returncode == 1
    errors = [line for line in result.tail if line.startswith("error:")]
    assert len(errors) == 1 and "not a valid image archive" in errors[0]
    assert not any("Traceback" in line for line in result.tail)


def test_save_task_with_a_lab_list(engine: Engine, tmp_path: Path) -> None:
    from mobylab.images import lab_image_names

    lab = tmp_path / "labs" / "demo"
    lab.mkdir(parents=True)
    (lab / "lab.toml").write_text('images = ["runtime"]\n')
    names = lab_image_names("demo", Settings(labs_dir=str(tmp_path / "labs")))
    ensure_images(engine, Workspace(tmp_path / "ws"), names, settings=merge_settings())
    info = save_images(engine, ["mobylab/runtime:busybox"], tmp_path / "lab.tar")
    assert info.tags == ("mobylab/runtime:busybox",)
    assert info.size < 10_000_000


def test_saving_a_missing_image_is_one_line(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not on the engine") as caught:
        save_images(engine, [f"mobylab-test/absent:{uuid.uuid4().hex[:8]}"], tmp_path / "x.tar")
    assert "images.bootstrap" in caught.value.one_line()
    assert not (tmp_path / "x.tar").exists()


def _invoke(tmp_path: Path, *args: str) -> process.Completed:
    env = {"MOBYLAB_WORKSPACE": str(tmp_path / "ws"), "CI": os.environ.get("CI", "")}
    return process.run(["invoke", *args], cwd=REPO, env=env, tail_lines=400)


def test_the_tasks_from_the_command_line(
    engine: Engine, images_ready: dict[str, str], tmp_path: Path
) -> None:
    boot = _invoke(tmp_path, "images.bootstrap", "--only", "runtime")
    assert boot.ok and "runtime: mobylab/runtime:busybox" in boot.output

    listed = _invoke(tmp_path, "images.list", "--json")
    assert listed.ok
    rows = json.loads(listed.output[listed.output.index("[") :])
    assert {RECIPES[name].tag for name in RECIPES} <= {row["tag"] for row in rows}

    archive = tmp_path / "hello.tar"
    saved = _invoke(tmp_path, "images.save", "--lab", "hello", str(archive))
    assert saved.ok, saved.output
    assert checksum_path(archive).exists()
    loaded = _invoke(tmp_path, "images.load", str(archive))
    assert loaded.ok and "mobylab/runtime:busybox" in loaded.output

    unknown = _invoke(tmp_path, "images.bootstrap", "--only", "alpine")
    assert unknown.returncode == 1 and "no offline image recipe called 'alpine'" in unknown.output


def test_a_lab_counts_the_offline_images_it_names(
    engine: Engine, images_ready: dict[str, str]
) -> None:
    from mobylab.lab.bases import offline_present

    # A runtime-only lab (hello) needs only the runtime image to build offline.
    assert offline_present(engine, ("runtime",))
    assert offline_present(engine, ("golang", "runtime"))
    # A lab naming no offline image has none "present" to prefer.
    assert not offline_present(engine, ())
