"""The `mobylab` program: the same tasks as `invoke` in a clone, after `pip install`."""

from __future__ import annotations

from typing import Any

from invoke import Config, Program
from invoke.config import merge_dicts

from .. import __version__
from . import ns


class MobylabConfig(Config):
    # Reads /etc/mobylab.yaml, ~/.mobylab.yaml and MOBYLAB_-prefixed invoke settings.
    prefix = "mobylab"

    @staticmethod
    def global_defaults() -> dict[str, Any]:
        # Hints name the program the user typed, not `invoke`.
        return merge_dicts(Config.global_defaults(), {"mobylab": {"command": "mobylab"}})


program = Program(
    namespace=ns, version=__version__, name="mobylab", binary="mobylab", config_class=MobylabConfig
)


def main() -> None:
    program.run()
