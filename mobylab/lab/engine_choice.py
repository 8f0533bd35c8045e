"""Pure: which engine a lab runs on, from `--engine` (host, dev, both, dev:<build>).

One place for the choice, so that naming a dev build by its commit prefix can be
wired here once dev.up runs several builds side by side.
"""

from __future__ import annotations

import re

from ..errors import UsageError

_COMMIT_PREFIX = re.compile(r"[0-9a-f]{4,40}")


def parse_engine_choice(value: str, *, several: bool = True) -> str:
    """host, dev or (with `several`, guided runs only) both; a UsageError otherwise."""
    if value.startswith("dev:"):
        prefix = value.removeprefix("dev:")
        if not _COMMIT_PREFIX.fullmatch(prefix):
            raise UsageError(
                f"--engine {value!r}: {prefix!r} is not a commit prefix",
                "Name a dev build by 4 to 40 hex digits of its commit.",
            )
        raise UsageError(
            f"--engine {value!r}: not yet: several dev builds come with the dev-build "
            "timeline (one dev daemon runs at a time today)",
            "Use --engine dev for the dev daemon that runs now.",
        )
    allowed = ("host", "dev", "both") if several else ("host", "dev")
    if value == "both" and not several:
        raise UsageError(
            "--engine both: practice runs on one engine (one shell)", "Use host or dev."
        )
    if value not in allowed:
        raise UsageError(f"--engine {value!r} is not one of {', '.join(allowed)}")
    return value
