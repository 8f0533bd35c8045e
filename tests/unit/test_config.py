"""Settings: defaults < config file section < environment < flags."""

from __future__ import annotations

import pytest
from invoke import Config, Context

from mobylab.config import Settings, merge_settings, settings_from_context
from mobylab.errors import UsageError


def test_defaults() -> None:
    settings = merge_settings(environ={})
    assert settings == Settings()
    assert settings.debian_suite == "bookworm"
    assert settings.engine == "auto"


def test_config_then_env_then_flags() -> None:
    config = {"engine_timeout": "5", "debian-mirror": "http://config/debian", "parallel": 2}
    env = {"MOBYLAB_ENGINE_TIMEOUT": "7", "MOBYLAB_PARALLEL": "3"}
    settings = merge_settings(config, env, {"parallel": 4})
    assert settings.debian_mirror == "http://config/debian"
    assert settings.engine_timeout == 7.0
    assert settings.parallel == 4


def test_empty_env_values_and_none_flags_are_ignored() -> None:
    settings = merge_settings({"ref": "v17.05.0-ce"}, {"MOBYLAB_REF": ""}, {"ref": None})
    assert settings.ref == "v17.05.0-ce"


def test_types_are_coerced() -> None:
    settings = merge_settings({"hosts": "a, b,,c"}, {"MOBYLAB_HOST_TIMEOUT": "1.5"})
    assert settings.hosts == ("a", "b", "c")
    assert settings.host_timeout == 1.5
    assert merge_settings({"hosts": ["x", "y"]}, {}).hosts == ("x", "y")


def test_bad_values_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="not a int"):
        merge_settings({"parallel": "many"}, {})
    with pytest.raises(UsageError, match="'offline' is 'maybe'") as caught:
        merge_settings({}, {"MOBYLAB_OFFLINE": "maybe"})
    assert "Use one of: auto, yes, no" in caught.value.one_line()
    with pytest.raises(UsageError, match="unknown setting"):
        merge_settings({}, {}, {"colour": "blue"})


def test_unknown_config_keys_are_kept_as_extra() -> None:
    settings = merge_settings({"rootfs_cache": "/srv/cache"}, {})
    assert settings.extra == {"rootfs_cache": "/srv/cache"}


def test_settings_from_an_invoke_context(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MOBYLAB_REF", "from-env")
    ctx = Context(Config(overrides={"mobylab": {"ref": "from-config", "workspace": "/tmp/w"}}))
    settings = settings_from_context(ctx)
    assert settings.ref == "from-env"
    assert str(settings.workspace_path) == "/tmp/w"
    assert settings_from_context(ctx, ref="from-flag").ref == "from-flag"
    assert settings_from_context(object()).ref == "from-env"


def test_replace_keeps_the_rest() -> None:
    settings = merge_settings({"ref": "a"}, {}).replace(engine="private")
    assert (settings.ref, settings.engine) == ("a", "private")
