"""The `mobylab` program: the same tasks as `invoke` in a clone, after `pip install`."""

from __future__ import annotations

from invoke import Config, Program

from .. import __version__
from . import ns


class MobylabConfig(Config):
    # Reads /etc/mobylab.yaml, ~/.mobylab.yaml and MOBYLAB_-prefixed invoke settings.
    prefix = "mobylab"


program = Program(
    namespace=ns, version=__version__, name="mobylab", binary="mobylab", config_class=MobylabConfig
)


def main() -> None:
    program.run()
