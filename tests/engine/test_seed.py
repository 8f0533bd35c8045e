"""Seeding the dev daemon from the host engine: save | load streamed, skipping what is there."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mobylab.config import merge_settings
from mobylab.dev.seed import seed_images
from mobylab.engine import Engine
from mobylab.engine._probe import ensure_probe_image
from mobylab.errors import ImageError
from mobylab.images import ensure_images
from mobylab.workspace import Workspace
from tests.engine.test_devenv_helpers import dev_environment, target_today

RUNTIME = "mobylab/runtime:busybox"


@pytest.fixture
def dev(engine: Engine, workspace: Workspace, tmp_path: Path) -> Iterator[Engine]:
    ensure_images(engine, workspace, ["dind", "runtime"], settings=merge_settings())
    with dev_environment(engine, workspace) as environment:
        yield environment.up(target_today(tmp_path), timeout=120)


def test_copies_several_and_skips_what_is_there(engine: Engine, dev: Engine) -> None:
    client = engine.client()
    try:
        probe_image = ensure_probe_image(client)
    finally:
        client.close()
    assert probe_image
    first = seed_images(engine, dev, [RUNTIME])
    assert [r.status for r in first] == ["loaded"]
    both = seed_images(engine, dev, [RUNTIME, probe_image])
    assert {r.image: r.status for r in both} == {RUNTIME: "present", probe_image: "loaded"}
    dev_client = dev.client()
    try:
        for record in both:
            assert dev_client.images.get(record.image).id == record.id
    finally:
        dev_client.close()


def test_an_image_retagged_on_the_host_is_copied_again(engine: Engine, dev: Engine) -> None:
    seed_images(engine, dev, [RUNTIME])
    tag = f"mobylab-test/seed:{uuid.uuid4().hex[:8]}"
    client = engine.client()
    try:
        client.images.get(RUNTIME).tag(tag)
        result = seed_images(engine, dev, [tag])
        assert result[0].status == "loaded"
        dev_client = dev.client()
        try:
            assert dev_client.images.get(tag).id == client.images.get(RUNTIME).id
        finally:
            dev_client.close()
    finally:
        client.images.remove(tag)
        client.close()


def test_a_missing_image_is_one_clear_error(engine: Engine, dev: Engine) -> None:
    with pytest.raises(ImageError) as info:
        seed_images(engine, dev, [f"mobylab-test/nothing:{uuid.uuid4().hex[:8]}"])
    assert "is not on the host engine" in info.value.one_line()
