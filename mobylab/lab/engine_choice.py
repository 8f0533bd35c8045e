"""Pure: which engines a lab runs on, from `--engine` (host, dev, both, dev:<build>).

The flag may be given several times (`--engine dev:2fa8fe4 --engine dev:2e96c17
--engine host`): the lab then runs on each, in that order, and its report holds a
features x engines matrix. `dev:<prefix>` names a dev build by a prefix of its
commit; the dev daemon running it is used, or started beside the others.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import UsageError

_COMMIT_PREFIX = re.compile(r"[0-9a-f]{4,40}")
KINDS = ("host", "dev", "both")


def _check(value: str, several: bool) -> str:
    if value.startswith("dev:"):
        prefix = value.removeprefix("dev:")
        if not _COMMIT_PREFIX.fullmatch(prefix):
            raise UsageError(
                f"--engine {value!r}: {prefix!r} is not a commit prefix",
                "Name a dev build by 4 to 40 hex digits of its commit.",
            )
        return value
    if value not in KINDS:
        # Practice takes one engine: its error names only those ("both" is refused after).
        kinds = KINDS if several else tuple(kind for kind in KINDS if kind != "both")
        example = "--engine dev:2fa8fe4 --engine host" if several else "--engine dev"
        raise UsageError(
            f"--engine {value!r} is not one of {', '.join(kinds)}, dev:<commit>",
            f"e.g. {example}.",
        )
    return value


def parse_engine_choice(value: str | Sequence[str] | None, *, several: bool = True) -> str:
    """The engines as one comma-separated choice ("host", "both", "dev:2fa8fe4,host").

    `several` False (practice: one shell, one engine) refuses more than one.
    """
    given = [value] if isinstance(value, str) else list(value or [])
    parts = [
        _check(part.strip(), several) for item in given for part in item.split(",") if part.strip()
    ]
    parts = list(dict.fromkeys(parts)) or ["host"]
    if not several and (len(parts) > 1 or parts == ["both"]):
        raise UsageError(
            f"--engine {','.join(parts)}: practice runs on one engine (one shell)",
            "Use host, dev or dev:<commit>.",
        )
    return ",".join(parts)


def engine_specs(choice: str) -> list[str]:
    """Pure: the engines of a choice in order, `both` being host then dev."""
    specs: list[str] = []
    for part in choice.split(","):
        for spec in ("host", "dev") if part == "both" else (part,):
            if spec and spec not in specs:
                specs.append(spec)
    return specs


def engine_label(spec: str) -> str:
    """Pure: an engine's name in reports and folders: host, dev, dev-<prefix>."""
    return spec.replace(":", "-")
