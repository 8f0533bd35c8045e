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


def test_every_config_key_is_a_typed_setting() -> None:
    settings = merge_settings({"rootfs_cache": "/srv/cache", "ssh-retries": "4"}, {})
    assert settings.rootfs_cache == "/srv/cache"
    assert settings.ssh_retries == 4
    with pytest.raises(UsageError, match="unknown setting 'colour'"):
        merge_settings({"colour": "blue"}, {})


def test_the_environment_wins_over_the_config_file_for_every_setting() -> None:
    config = {"rootfs_cache": "/config", "ssh_config": "/config/ssh", "remote_dir": "~/config"}
    env = {
        "MOBYLAB_ROOTFS_CACHE": "/env",
        "MOBYLAB_SSH_CONFIG": "/env/ssh",
        "MOBYLAB_REMOTE_DIR": "~/env",
        "MOBYLAB_LABS_DIR": "/env/labs",
    }
    settings = merge_settings(config, env, {"remote_dir": "~/flag"})
    assert settings.rootfs_cache == "/env"
    assert settings.ssh_config == "/env/ssh"
    assert settings.labs_dir == "/env/labs"
    assert settings.remote_dir == "~/flag"
    with pytest.raises(UsageError, match="must be 0 or more"):
        merge_settings({}, {"MOBYLAB_SSH_RETRIES": "-1"})


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
