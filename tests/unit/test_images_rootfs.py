"""Root filesystem failures are one line, before any long work starts (loopback only)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from mobylab.config import merge_settings
from mobylab.errors import ImageError
from mobylab.images import RECIPES
from mobylab.images import rootfs as rootfs_module
from mobylab.images.recipes import rootfs_key
from mobylab.images.rootfs import cache_dir, check_mirror, debootstrap_rootfs

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cache_dir_follows_the_setting_in_the_documented_order(tmp_path: Path) -> None:
    assert cache_dir(merge_settings({}, {}).rootfs_cache) == Path("/var/cache/mobylab/rootfs")
    config = {"rootfs_cache": str(tmp_path / "config")}
    assert cache_dir(merge_settings(config, {}).rootfs_cache) == tmp_path / "config"
    env = {"MOBYLAB_ROOTFS_CACHE": str(tmp_path / "env")}
    assert cache_dir(merge_settings(config, env).rootfs_cache) == tmp_path / "env"


def test_unreachable_mirror_is_one_line() -> None:
    mirror = f"http://127.0.0.1:{_closed_port()}/debian"
    with pytest.raises(ImageError) as caught:
        check_mirror(mirror, "bookworm", timeout=5)
    assert "unreachable" in caught.value.one_line()
    assert "\n" not in caught.value.one_line()


@needs_root
def test_debootstrap_with_an_unreachable_mirror_fails_fast(tmp_path: Path) -> None:
    mirror = f"http://127.0.0.1:{_closed_port()}/debian"
    with pytest.raises(ImageError, match="unreachable"):
        debootstrap_rootfs(
            RECIPES["golang"],
            suite="bookworm",
            mirror=mirror,
            cache=tmp_path / "cache",
            log=tmp_path / "log",
            progress=lambda _: None,
        )


def test_missing_debootstrap_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(rootfs_module.os, "geteuid", lambda: 0)
    with pytest.raises(ImageError, match="debootstrap is not installed"):
        debootstrap_rootfs(
            RECIPES["dind"],
            suite="bookworm",
            mirror="http://127.0.0.1:9/debian",
            cache=tmp_path / "cache",
            log=tmp_path / "log",
            progress=lambda _: None,
        )


def test_not_root_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(rootfs_module.os, "geteuid", lambda: 1000)
    with pytest.raises(ImageError, match="needs root"):
        debootstrap_rootfs(
            RECIPES["dind"],
            suite="bookworm",
            mirror="http://127.0.0.1:9/debian",
            cache=tmp_path / "cache",
            log=tmp_path / "log",
            progress=lambda _: None,
        )


def test_a_cached_tarball_skips_debootstrap(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Not root and no debootstrap: only the cache can answer.
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(rootfs_module.os, "geteuid", lambda: 1000)
    mirror = "http://127.0.0.1:9/debian"
    key = rootfs_key("bookworm", mirror, RECIPES["dind"].packages)
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / f"{key}.tar").write_bytes(b"tar")
    (cache / f"{key}.json").write_text('{"sha256": "abc", "debootstrap": "1.0"}')
    seen: list[str] = []
    fs = debootstrap_rootfs(
        RECIPES["dind"],
        suite="bookworm",
        mirror=mirror,
        cache=cache,
        log=tmp_path / "log",
        progress=seen.append,
    )
    assert fs.path == cache / f"{key}.tar" and fs.sha256 == "abc"
    assert "from the cache" in seen[0]
