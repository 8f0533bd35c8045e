"""The pure parts of the offline images: recipes, cache keys, labels, lab lists, busybox."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest

from mobylab.catalog import available
from mobylab.config import Settings
from mobylab.errors import ImageError, LabError
from mobylab.images import RECIPES, image_refs, lab_image_names, recipe_named
from mobylab.images.build import describe_made, how_made
from mobylab.images.recipes import (
    debootstrap_argv,
    image_labels,
    import_changes,
    parse_lab_images,
    rootfs_key,
)
from mobylab.images.rootfs import (
    Rootfs,
    applet_names,
    busybox_tar,
    debootstrap_phase,
    find_static_busybox,
    is_static_elf,
)

MIRROR = "http://deb.debian.org/debian"


def test_recipes_have_the_documented_tags() -> None:
    assert RECIPES["golang"].tag == "mobylab/golang:1.19-bookworm"
    assert RECIPES["runtime"].tag == "mobylab/runtime:busybox"
    assert RECIPES["dind"].tag == "mobylab/dind:bookworm"
    assert "golang-golang-x-net-dev" in RECIPES["golang"].packages
    assert {"docker.io", "iptables", "procps"} <= set(RECIPES["dind"].packages)


def test_unknown_recipe_is_a_one_line_error() -> None:
    with pytest.raises(ImageError) as caught:
        recipe_named("alpine")
    assert "golang" in caught.value.one_line() and "\n" not in caught.value.one_line()


def test_rootfs_key_ignores_package_order_but_not_mirror_or_suite() -> None:
    key = rootfs_key("bookworm", MIRROR, ["git", "make"])
    assert key == rootfs_key("bookworm", MIRROR + "/", ["make", "git", "git"])
    assert key != rootfs_key("trixie", MIRROR, ["git", "make"])
    assert key != rootfs_key("bookworm", "http://mirror.example/debian", ["git", "make"])
    assert key != rootfs_key("bookworm", MIRROR, ["git"])


def test_debootstrap_argv() -> None:
    argv = debootstrap_argv("debootstrap", "bookworm", Path("/t/root"), MIRROR, ["a", "b"])
    assert argv == [
        "debootstrap",
        "--variant=minbase",
        "--include=a,b",
        "bookworm",
        "/t/root",
        MIRROR,
    ]
    assert "--include=" not in " ".join(debootstrap_argv("d", "s", Path("/r"), MIRROR, []))


def test_import_changes_quote_values_and_carry_labels() -> None:
    recipe = RECIPES["golang"]
    made = {"rootfs-sha256": "ab" * 32, "debootstrap": "1.0.128", "built": "2026-01-01T00:00:00Z"}
    changes = import_changes(recipe, image_labels(recipe, made))
    assert 'ENV GO111MODULE="off"' in changes
    assert 'ENV GOPATH="/go:/usr/share/gocode"' in changes
    path = next(c for c in changes if c.startswith("ENV PATH="))
    assert "/usr/lib/go/bin" in path and "/go/bin" in path
    assert 'CMD ["/bin/bash"]' in changes
    label = next(c for c in changes if c.startswith("LABEL "))
    assert '"org.mobylab.managed"="true"' in label
    assert '"org.mobylab.recipe"="golang"' in label
    assert '"org.mobylab.packages"="golang-go,golang-golang-x-net-dev,ca-certificates,git"' in label
    assert '"org.mobylab.rootfs-sha256"' in label


def test_how_made_and_its_description() -> None:
    fs = Rootfs(
        Path("/c/x.tar"),
        "cd" * 32,
        {"debootstrap": "1.0.128", "suite": "bookworm", "mirror": MIRROR, "date": "2026-11-27"},
    )
    made = how_made(RECIPES["dind"], fs)
    assert made["method"] == "debootstrap" and made["rootfs-sha256"] == "cd" * 32
    labels = image_labels(RECIPES["dind"], made)
    line = describe_made(labels)
    assert "debootstrap 1.0.128 bookworm" in line and "docker.io" in line
    busybox = how_made(RECIPES["runtime"], Rootfs(Path("/c/b.tar"), "ef" * 32, {"busybox": "/b"}))
    assert describe_made(image_labels(RECIPES["runtime"], busybox)).startswith("static busybox")
    assert describe_made({}) == "loaded or made elsewhere"


def test_parse_lab_images() -> None:
    assert parse_lab_images('title = "x"\nimages = ["golang", "runtime"]\n') == [
        "golang",
        "runtime",
    ]
    assert parse_lab_images('title = "x"\n') == []
    with pytest.raises(ImageError):
        parse_lab_images('images = "golang"')
    with pytest.raises(ImageError):
        parse_lab_images("images = [")


def test_image_refs_map_recipes_to_tags_and_keep_other_refs() -> None:
    refs = image_refs(["golang", "example/app:1", "golang", "runtime"])
    assert refs == ["mobylab/golang:1.19-bookworm", "example/app:1", "mobylab/runtime:busybox"]


def test_lab_image_names_reads_the_lab_folder(tmp_path: Path) -> None:
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "lab.toml").write_text('images = ["golang", "runtime"]\n')
    settings = Settings(labs_dir=str(tmp_path))
    assert lab_image_names("demo", settings) == ["golang", "runtime"]
    with pytest.raises(LabError) as caught:
        lab_image_names("nope", settings)
    assert "demo" in caught.value.one_line()


def _elf64(program_types: list[int]) -> bytes:
    header = bytearray(64)
    header[:4] = b"\x7fELF"
    header[4], header[5] = 2, 1
    header[32:40] = (64).to_bytes(8, "little")
    header[54:56] = (56).to_bytes(2, "little")
    header[56:58] = len(program_types).to_bytes(2, "little")
    for kind in program_types:
        entry = bytearray(56)
        entry[:4] = kind.to_bytes(4, "little")
        header += entry
    return bytes(header)


def test_is_static_elf() -> None:
    assert is_static_elf(_elf64([1, 1, 4]))
    assert not is_static_elf(_elf64([6, 3, 1]))
    assert not is_static_elf(b"#!/bin/sh\n" + bytes(100))
    assert not is_static_elf(_elf64([1, 1])[:80])


def test_dynamic_programs_of_the_machine_are_not_static() -> None:
    assert not is_static_elf(Path("/bin/ls").read_bytes()[:8192])


@pytest.mark.skipif(not Path("/bin/busybox").exists(), reason="no busybox here")
def test_find_static_busybox_only_returns_a_static_one() -> None:
    try:
        found = find_static_busybox()
    except ImageError as exc:
        assert "busybox-static" in exc.one_line()
    else:
        assert is_static_elf(found.read_bytes()[:8192])


def test_busybox_tar_is_deterministic_and_complete() -> None:
    first = busybox_tar(b"\x7fELF...", ["sh", "ls", "busybox", "ls"], b"CERTS")
    assert first == busybox_tar(b"\x7fELF...", ["ls", "sh"], b"CERTS")
    with tarfile.open(fileobj=io.BytesIO(first)) as tar:
        names = {m.name: m for m in tar.getmembers()}
        assert names["bin/sh"].issym() and names["bin/sh"].linkname == "busybox"
        assert names["bin/busybox"].mode == 0o755
        assert names["tmp"].mode == 0o1777
        assert "bin/busybox/busybox" not in names
        certs = tar.extractfile("etc/ssl/certs/ca-certificates.crt")
        assert certs is not None and certs.read() == b"CERTS"


def test_applet_names_keep_plain_names() -> None:
    assert applet_names("sh\nls\n[\n[[\nrun-parts\nbusybox\n") == [
        "sh",
        "ls",
        "run-parts",
        "busybox",
    ]


def test_debootstrap_phases() -> None:
    assert debootstrap_phase("I: Retrieving Release ") == "fetching the package lists"
    assert debootstrap_phase("I: Retrieving libc6 2.36") == "downloading packages"
    assert debootstrap_phase("I: Extracting zlib1g...") == "extracting packages"
    assert debootstrap_phase("I: Base system installed successfully.") == "base system installed"
    assert debootstrap_phase("E: Couldn't download").startswith("error: ")
    assert debootstrap_phase("W: whatever") == ""


def test_lab_toml_of_the_repository_if_any() -> None:
    for name in available(Settings()):
        names = lab_image_names(name, Settings())
        assert all(isinstance(n, str) for n in names), json.dumps(names)


def test_only_imported_images_count_as_offline_images() -> None:
    from mobylab.images.build import is_imported

    assert is_imported({"RootFS": {"Layers": ["sha256:a"]}, "Parent": ""})
    assert not is_imported({"RootFS": {"Layers": ["sha256:a", "sha256:b"]}, "Parent": ""})
    assert not is_imported({"RootFS": {"Layers": ["sha256:a"]}, "Parent": "sha256:p"})
    assert not is_imported({})
