"""Archive checks without an engine: checksum, tar structure, docker-save manifest."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from mobylab.errors import ImageError
from mobylab.images.archive import (
    FORMAT,
    TRAILER,
    _append_trailer,
    check_manifest,
    checksum_line,
    checksum_path,
    parse_checksum,
    trailer_problem,
    verify_archive,
)


def _docker_save_like(path: Path, *, with_manifest: bool = True, drop_layer: bool = False) -> None:
    files = {
        "abc.json": b'{"config": {}}',
        "layer1/layer.tar": b"L" * 5000,
        "repositories": b"{}",
    }
    manifest = [
        {"Config": "abc.json", "RepoTags": ["example/one:1"], "Layers": ["layer1/layer.tar"]}
    ]
    if with_manifest:
        files["manifest.json"] = json.dumps(manifest).encode()
    if drop_layer:
        del files["layer1/layer.tar"]
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _seal(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    checksum_path(path).write_text(checksum_line(digest, path.name))


def test_a_whole_archive_verifies(tmp_path: Path) -> None:
    archive = tmp_path / "images.tar"
    _docker_save_like(archive)
    _seal(archive)
    info = verify_archive(archive)
    assert info.tags == ("example/one:1",)
    assert info.size == archive.stat().st_size


def test_a_tampered_archive_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "images.tar"
    _docker_save_like(archive)
    _seal(archive)
    data = bytearray(archive.read_bytes())
    data[2000] ^= 0xFF
    archive.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="does not match"):
        verify_archive(archive)


def test_a_truncated_archive_is_refused_even_with_a_matching_checksum(tmp_path: Path) -> None:
    archive = tmp_path / "images.tar"
    _docker_save_like(archive)
    archive.write_bytes(archive.read_bytes()[:3000])
    _seal(archive)
    with pytest.raises(ImageError, match="not a whole tar archive"):
        verify_archive(archive)


@pytest.mark.parametrize(
    ("content", "why"),
    [(b"hello, not a tar at all\n" * 40, "not a whole tar"), (b"", "not a whole tar")],
)
def test_a_non_archive_is_refused(tmp_path: Path, content: bytes, why: str) -> None:
    archive = tmp_path / "images.tar"
    archive.write_bytes(content)
    _seal(archive)
    with pytest.raises(ImageError, match=why):
        verify_archive(archive)


def test_a_tar_not_made_by_docker_save_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "images.tar"
    _docker_save_like(archive, with_manifest=False)
    _seal(archive)
    with pytest.raises(ImageError, match=r"no manifest\.json"):
        verify_archive(archive)
    _docker_save_like(archive, drop_layer=True)
    _seal(archive)
    with pytest.raises(ImageError, match="missing"):
        verify_archive(archive)


def test_an_archive_with_no_checksum_at_all_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "images.tar"
    _docker_save_like(archive)
    with pytest.raises(ImageError, match="no checksum"):
        verify_archive(archive)


def test_a_bad_checksum_file_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "images.tar"
    _docker_save_like(archive)
    checksum_path(archive).write_text("nonsense\n")
    with pytest.raises(ImageError, match="not a sha256sum file"):
        verify_archive(archive)


def test_errors_are_one_line(tmp_path: Path) -> None:
    archive = tmp_path / "images.tar"
    archive.write_bytes(b"x" * 10)
    _seal(archive)
    with pytest.raises(ImageError) as caught:
        verify_archive(archive)
    assert "\n" not in caught.value.one_line()
    assert "nothing was loaded" in caught.value.one_line()


def test_parse_checksum() -> None:
    assert parse_checksum("a" * 64 + "  images.tar\n") == "a" * 64
    for bad in ("", "abc  x", "A" * 64, "g" * 64):
        with pytest.raises(ValueError):
            parse_checksum(bad)


def test_check_manifest() -> None:
    members = {"c.json", "l/layer.tar"}
    entry = {"Config": "c.json", "Layers": ["l/layer.tar"], "RepoTags": ["a:1", "b:2"]}
    assert check_manifest([entry], members) == ("a:1", "b:2")
    assert check_manifest([{**entry, "RepoTags": None}], members) == ()
    for bad in ([], {}, [{"Layers": []}], [{"Config": "c.json"}]):
        with pytest.raises(ValueError):
            check_manifest(bad, members)
    with pytest.raises(ValueError, match="missing"):
        check_manifest([entry], {"c.json"})


def _sealed_inside(tmp_path: Path) -> Path:
    archive = tmp_path / "images.tar"
    _docker_save_like(archive)
    _append_trailer(archive, ("example/one:1",))
    return archive


def test_an_archive_checks_itself_with_no_checksum_file(tmp_path: Path) -> None:
    archive = _sealed_inside(tmp_path)
    assert not checksum_path(archive).exists()
    assert verify_archive(archive).tags == ("example/one:1",)
    with tarfile.open(archive) as tar:
        assert tar.getnames()[-1] == TRAILER


def test_a_change_before_the_embedded_checksum_is_refused(tmp_path: Path) -> None:
    archive = _sealed_inside(tmp_path)
    data = bytearray(archive.read_bytes())
    data[2000] ^= 0xFF  # inside layer1/layer.tar
    archive.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="differs from the one recorded inside"):
        verify_archive(archive)


def test_an_archive_cut_before_its_embedded_checksum_is_refused(tmp_path: Path) -> None:
    archive = _sealed_inside(tmp_path)
    with tarfile.open(archive) as tar:
        offset = tar.getmember(TRAILER).offset
    archive.write_bytes(archive.read_bytes()[:offset])
    with pytest.raises(ImageError, match="nothing was loaded"):
        verify_archive(archive)


def test_an_archive_cut_inside_its_embedded_checksum_is_refused(tmp_path: Path) -> None:
    archive = _sealed_inside(tmp_path)
    with tarfile.open(archive) as tar:
        offset = tar.getmember(TRAILER).offset
    archive.write_bytes(archive.read_bytes()[: offset + 600])
    with pytest.raises(ImageError, match="not a whole tar archive"):
        verify_archive(archive)


def test_a_sidecar_is_checked_too(tmp_path: Path) -> None:
    archive = _sealed_inside(tmp_path)
    checksum_path(archive).write_text(checksum_line("0" * 64, archive.name))
    with pytest.raises(ImageError, match="does not match"):
        verify_archive(archive)
    _seal(archive)
    assert verify_archive(archive).tags == ("example/one:1",)


def test_trailer_problem() -> None:
    good = {"format": FORMAT, "sha256": "ab", "bytes": 10}
    assert trailer_problem(good, "ab", 10) == ""
    assert "truncated" in trailer_problem(good, "ab", 9)
    assert "changed" in trailer_problem(good, "cd", 10)
    assert "not a mobylab" in trailer_problem({"sha256": "ab", "bytes": 10}, "ab", 10)
    assert "not a mobylab" in trailer_problem(["x"], "ab", 10)


def test_files_after_the_embedded_checksum_are_refused(tmp_path: Path) -> None:
    archive = _sealed_inside(tmp_path)
    with tarfile.open(archive, "a") as tar:
        info = tarfile.TarInfo("extra")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(ImageError, match="not its last file"):
        verify_archive(archive)
