"""The Debian mirror's package indexes: parsing, versions, backports, the day-old cache, and
buildx's newest offer.

No test reaches the network: the cache is written here, a mirror is a file:// folder,
and the one "unreachable" mirror is a closed port on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import time
from pathlib import Path

import pytest

from mobylab.errors import ImageError
from mobylab.images.buildx import newest_offer
from mobylab.images.debian import (
    INDEX_MAX_AGE,
    WANTED_PACKAGES,
    Package,
    available,
    base_suite,
    describe,
    fetch_package,
    index_url,
    offers,
    parse_packages,
    suite_packages,
    upstream_version,
)

UNREACHABLE = "http://127.0.0.1:9/debian"

PACKAGES = """\
Package: golang-1.19-go
Source: golang-1.19
Version: 1.19.8-2
Installed-Size: 237110
Maintainer: Debian Go Compiler Team <team+go-compiler@tracker.debian.org>
Architecture: amd64
Depends: golang-1.19-src (>= 1.19.8-2)
Description: Go programming language compiler, linker, compiled stdlib
 Go is an open source programming language that makes it easy to build simple,
 reliable, and efficient software.
 .
 This package provides an assembler, compiler, linker, and compiled libraries.
Filename: pool/main/g/golang-1.19/golang-1.19-go_1.19.8-2_amd64.deb
Size: 25462084
SHA256: 0f1e

Package: golang-1.19-src
Source: golang-1.19
Version: 1.19.8-2
Filename: pool/main/g/golang-1.19/golang-1.19-src_1.19.8-2_all.deb

Package: runc
Version: 1.1.5+ds1-1
Filename: pool/main/r/runc/runc_1.1.5+ds1-1_amd64.deb

Package: golang-go
Source: golang-defaults
Version: 2:1.19~1
Filename: pool/main/g/golang-defaults/golang-go_1.19~1_amd64.deb

Package: tini
Version: 0.19.0-1
Filename: pool/main/t/tini/tini_0.19.0-1_amd64.deb

Package: runc
Version: 1.1.5+ds1-1+deb12u1
Filename: pool/main/r/runc/runc_1.1.5+ds1-1+deb12u1_amd64.deb

Package: containerd
Filename: pool/main/c/containerd/containerd_no_version_amd64.deb

Package: docker-buildx
Version: 0.10.2+ds1-1
Filename: pool/main/d/docker-buildx/docker-buildx_0.10.2+ds1-1_amd64.deb"""


def pkg(name: str, version: str) -> Package:
    return Package(name, version, f"pool/main/{name[0]}/{name}/{name}_{version}_amd64.deb")


OFFERED = {
    "bookworm": {
        "golang-1.19-go": pkg("golang-1.19-go", "1.19.8-2"),
        "tini": pkg("tini", "0.19.0-1"),
    },
    "bookworm-backports": {"golang-1.23-go": pkg("golang-1.23-go", "1.23.5-1~bpo12+1")},
    "sid": {
        "golang-1.26-go": pkg("golang-1.26-go", "1.26.10-1"),
        "golang-1.27-go": pkg("golang-1.27-go", "1.27.3-1"),
        "runc": pkg("runc", "1.3.0+ds1-1"),
    },
}


def cache_file(cache: Path, mirror: str, suite: str) -> Path:
    """The cache file's name as the module names it: the mirror's hash and the suite."""
    key = hashlib.sha256(mirror.rstrip("/").encode()).hexdigest()[:12]
    return cache / f"{key}-{suite}.json"


def write_cache(cache: Path, mirror: str, suite: str, packages: dict, read: float) -> Path:
    path = cache_file(cache, mirror, suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "mirror": mirror,
                "suite": suite,
                "read": read,
                "packages": packages,
                "wanted": WANTED_PACKAGES.pattern,
            }
        )
    )
    return path


def file_mirror(root: Path, suites: dict[str, str]) -> str:
    """A mirror folder holding each suite's Packages.xz, as a file:// URL."""
    for suite, text in suites.items():
        folder = root / "dists" / suite / "main" / "binary-amd64"
        folder.mkdir(parents=True)
        (folder / "Packages.xz").write_bytes(lzma.compress(text.encode()))
    return root.as_uri()


# --- parsing ---------------------------------------------------------------------------------


def test_parse_packages_keeps_the_wanted_packages_with_their_file():
    found = parse_packages(PACKAGES)
    assert set(found) == {"golang-1.19-go", "runc", "tini", "docker-buildx"}
    assert found["golang-1.19-go"] == Package(
        "golang-1.19-go",
        "1.19.8-2",
        "pool/main/g/golang-1.19/golang-1.19-go_1.19.8-2_amd64.deb",
    )
    # The last stanza has no blank line after it and still counts.
    assert found["docker-buildx"].version == "0.10.2+ds1-1"


def test_parse_packages_the_last_of_two_versions_wins():
    runc = parse_packages(PACKAGES)["runc"]
    assert runc.version == "1.1.5+ds1-1+deb12u1"
    assert runc.filename.endswith("runc_1.1.5+ds1-1+deb12u1_amd64.deb")


def test_parse_packages_ignores_unwanted_and_versionless_stanzas():
    found = parse_packages(PACKAGES)
    assert "golang-1.19-src" not in found
    assert "golang-go" not in found
    assert "containerd" not in found  # no Version: field
    assert parse_packages("") == {}


def test_parse_packages_with_another_pattern():
    import re

    found = parse_packages(PACKAGES, re.compile(r"^golang-.*$"))
    assert set(found) == {"golang-1.19-go", "golang-1.19-src", "golang-go"}


@pytest.mark.parametrize(
    ("debian", "upstream"),
    [
        ("2:1.19~1", (1, 19)),
        ("1.26.10-1", (1, 26, 10)),
        ("0.29.1+ds1-4", (0, 29, 1)),
        ("1.15.15-1~deb11u4", (1, 15, 15)),
        ("1.23.5-1~bpo12+1", (1, 23, 5)),
        ("1.0.0~rc93+ds1-5+deb11u5", (1, 0, 0)),
        ("26.1.5+dfsg1-9+b9", (26, 1, 5)),
        ("1.4", (1, 4)),
    ],
)
def test_upstream_version(debian, upstream):
    assert upstream_version(debian) == upstream


def test_upstream_versions_compare_as_numbers():
    assert upstream_version("1.26.10-1") > upstream_version("1.26.9-1")
    assert upstream_version("0.13.1+ds1-3") > upstream_version("0.9.1+ds1-1")


def test_base_suite():
    assert base_suite("trixie-backports") == "trixie"
    assert base_suite("bookworm-backports") == "bookworm"
    assert base_suite("sid") == "sid"


def test_available_falls_back_to_the_base_suite():
    assert available(OFFERED, "bookworm-backports", "golang-1.23-go")
    assert available(OFFERED, "bookworm-backports", "tini")
    assert available(OFFERED, "bookworm", "tini")
    # A base suite does not see its backports.
    assert not available(OFFERED, "bookworm", "golang-1.23-go")
    assert not available(OFFERED, "sid", "tini")
    assert not available(OFFERED, "forky", "tini")


def test_describe_lists_every_hit_with_its_suite_and_version():
    text = describe(OFFERED, r"golang-1\.\d+-go")
    hits = text.split(", ")
    assert len(hits) == 4
    assert hits[0].startswith("bookworm ") and hits[0].endswith(" 1.19.8-2")
    assert "golang-1.23-go 1.23.5-1~bpo12+1" in hits[1]
    assert hits[2:] == ["sid golang-1.26-go 1.26.10-1", "sid golang-1.27-go 1.27.3-1"]
    assert describe(OFFERED, "docker-cli") == "none"
    # The pattern matches whole names only.
    assert describe(OFFERED, "golang") == "none"


# --- the cache and the mirror ----------------------------------------------------------------


def test_a_fresh_cache_answers_without_the_mirror(tmp_path: Path):
    write_cache(
        tmp_path,
        UNREACHABLE,
        "bookworm",
        {
            "golang-1.19-go": ["1.19.8-2", "pool/main/g/golang-1.19/g.deb"],
            "tini": ["0.19.0-1", "t"],
        },
        read=time.time() - 60,
    )
    found = suite_packages(UNREACHABLE, "bookworm", tmp_path, timeout=2)
    assert found == {
        "golang-1.19-go": Package("golang-1.19-go", "1.19.8-2", "pool/main/g/golang-1.19/g.deb"),
        "tini": Package("tini", "0.19.0-1", "t"),
    }
    # The mirror's trailing slash names the same cache.
    assert suite_packages(UNREACHABLE + "/", "bookworm", tmp_path, timeout=2) == found
    assert offers(UNREACHABLE, tmp_path, ["bookworm"]) == {"bookworm": found}


def test_a_cache_of_another_suite_or_mirror_is_not_used(tmp_path: Path):
    write_cache(tmp_path, UNREACHABLE, "bookworm", {"tini": ["0.19.0-1", "t"]}, time.time())
    with pytest.raises(ImageError, match="unreachable"):
        suite_packages(UNREACHABLE, "trixie", tmp_path, timeout=2)
    other = "http://127.0.0.1:9/other"
    with pytest.raises(ImageError, match="unreachable"):
        suite_packages(other, "bookworm", tmp_path, timeout=2)


def test_an_unreachable_mirror_is_one_line(tmp_path: Path):
    write_cache(
        tmp_path,
        UNREACHABLE,
        "bookworm",
        {"tini": ["0.19.0-1", "t"]},
        time.time() - INDEX_MAX_AGE - 5,
    )
    with pytest.raises(ImageError) as stale:
        suite_packages(UNREACHABLE, "bookworm", tmp_path, timeout=2)
    line = stale.value.one_line()
    assert "\n" not in line
    assert "the Debian mirror is unreachable" in line
    assert index_url(UNREACHABLE, "bookworm") in line
    assert "debian_mirror" in line
    # A fresh cache is not used when a refresh is asked for.
    write_cache(tmp_path, UNREACHABLE, "bookworm", {"tini": ["0.19.0-1", "t"]}, time.time())
    with pytest.raises(ImageError, match="unreachable"):
        suite_packages(UNREACHABLE, "bookworm", tmp_path, refresh=True, timeout=2)


def test_a_cache_that_is_not_json_is_read_again(tmp_path: Path):
    cache_file(tmp_path, UNREACHABLE, "bookworm").write_text("{half a file")
    with pytest.raises(ImageError, match="unreachable"):
        suite_packages(UNREACHABLE, "bookworm", tmp_path, timeout=2)
    cache_file(tmp_path, UNREACHABLE, "bookworm").write_text("[1, 2]")
    with pytest.raises(ImageError, match="unreachable"):
        suite_packages(UNREACHABLE, "bookworm", tmp_path, timeout=2)


@pytest.mark.parametrize(
    "damaged",
    [
        {"read": "now"},
        {"read": "yesterday", "packages": {}},
        {"read": "now", "packages": {"tini": ["0.19.0-1"]}},
    ],
    ids=["no-packages", "read-not-a-number", "short-record"],
)
def test_a_damaged_cache_is_read_again(tmp_path: Path, damaged: dict):
    data = {k: (time.time() if v == "now" else v) for k, v in damaged.items()}
    path = cache_file(tmp_path, UNREACHABLE, "bookworm")
    path.write_text(json.dumps(data))
    with pytest.raises(ImageError, match="unreachable"):
        suite_packages(UNREACHABLE, "bookworm", tmp_path, timeout=2)


def test_the_index_is_read_from_the_mirror_and_cached(tmp_path: Path):
    mirror = file_mirror(tmp_path / "mirror", {"bookworm": PACKAGES})
    cache = tmp_path / "cache"
    found = suite_packages(mirror, "bookworm", cache)
    assert found == parse_packages(PACKAGES)
    cached = json.loads(cache_file(cache, mirror, "bookworm").read_text())
    assert cached["suite"] == "bookworm"
    assert cached["packages"]["runc"] == [
        "1.1.5+ds1-1+deb12u1",
        "pool/main/r/runc/runc_1.1.5+ds1-1+deb12u1_amd64.deb",
    ]
    assert time.time() - cached["read"] < 60
    # The mirror may go away: the cache answers for a day.
    (tmp_path / "mirror" / "dists" / "bookworm" / "main" / "binary-amd64" / "Packages.xz").unlink()
    assert suite_packages(mirror, "bookworm", cache) == found


def test_a_damaged_or_missing_index(tmp_path: Path):
    mirror = file_mirror(tmp_path / "mirror", {"bookworm": PACKAGES})
    index = tmp_path / "mirror" / "dists" / "bookworm" / "main" / "binary-amd64" / "Packages.xz"
    index.write_bytes(b"not xz at all")
    with pytest.raises(ImageError, match=r"package index of bookworm .* is damaged"):
        suite_packages(mirror, "bookworm", tmp_path / "cache")
    with pytest.raises(ImageError) as info:
        suite_packages(mirror, "trixie", tmp_path / "cache")
    assert "\n" not in info.value.one_line()


def test_fetch_package_keeps_the_deb(tmp_path: Path):
    mirror_root = tmp_path / "mirror"
    package = pkg("tini", "0.19.0-1")
    deb = mirror_root / package.filename
    deb.parent.mkdir(parents=True)
    deb.write_bytes(b"!<arch>\ndebian-binary")
    got = fetch_package(mirror_root.as_uri(), package, tmp_path / "debs")
    assert got == tmp_path / "debs" / "tini_0.19.0-1_amd64.deb"
    assert got.read_bytes() == b"!<arch>\ndebian-binary"
    # Kept: a second fetch does not need the mirror.
    deb.unlink()
    assert fetch_package(mirror_root.as_uri(), package, tmp_path / "debs") == got


# --- buildx ------------------------------------------------------------------------------------


def test_newest_buildx_offer():
    offered = {
        "bookworm": {},
        "trixie": {"docker-buildx": pkg("docker-buildx", "0.13.1+ds1-3")},
        "forky": {"docker-buildx": pkg("docker-buildx", "0.9.1+ds1-1")},
        "sid": {"docker-buildx": pkg("docker-buildx", "0.19.3+ds1-1")},
    }
    suite, package = newest_offer(offered)
    assert suite == "sid"
    assert package.version == "0.19.3+ds1-1"
    # Compared as numbers: 0.13 is newer than 0.9.
    del offered["sid"]
    assert newest_offer(offered)[0] == "trixie"


def test_no_buildx_offer():
    assert newest_offer({"bookworm": {"tini": pkg("tini", "0.19.0-1")}}) is None
    assert newest_offer({}) is None
