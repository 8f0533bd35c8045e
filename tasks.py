"""invoke entry point: `invoke --list` in a clone shows every mobylab task."""

from mobylab.tasks import ns

__all__ = ["ns"]
