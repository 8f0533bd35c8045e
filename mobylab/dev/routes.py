"""Pure: which way a checkout is built, "upstream" or "source", and why.

- upstream: the era's own Makefile (`make tgz`, `make binary`, and for the bake era
  `make build` too, so a docker-dev image exists for dev.up). It needs what that
  Makefile needs: buildx where it calls `docker buildx`, and every image its
  Dockerfile starts FROM, on the engine already or from a registry that answers.
- source: mobylab's own dev image, made from Debian packages, runs the checkout's
  hack/make.sh: no registry, no buildx, offline.
`auto` takes upstream only where it can work.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..errors import BuildError, UsageError


class Route(StrEnum):
    """The two ways a checkout is built (the module docstring says which is which)."""

    UPSTREAM = "upstream"
    SOURCE = "source"


#: What --route accepts: a route, or `auto` to let mobylab choose.
ROUTE_CHOICES = ("auto", *Route)

_FROM = re.compile(r"^\s*FROM\s+(.*)$", re.IGNORECASE)
_ARG = re.compile(r"^\s*ARG\s+(.+)$", re.IGNORECASE)
_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}?")


def _logical_lines(text: str) -> list[str]:
    lines: list[str] = []
    buffer = ""
    for raw in text.splitlines():
        stripped = raw.rstrip()
        if stripped.startswith("#") and not buffer:
            continue
        if stripped.endswith("\\"):
            buffer += stripped[:-1] + " "
            continue
        lines.append(buffer + stripped)
        buffer = ""
    if buffer:
        lines.append(buffer)
    return lines


def _arg_defaults(text: str) -> dict[str, str | None]:
    """Pure: NAME -> default (None: declared without one) of one ARG line's words."""
    found: dict[str, str | None] = {}
    for word in shlex.split(text):
        name, has_default, value = word.partition("=")
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            found[name] = value if has_default else None
    return found


def _substitute(text: str, args: dict[str, str | None]) -> str | None:
    """Pure: $X, ${X} and ${X:-default} expanded from `args` until nothing changes;
    None when a variable has no value (the image cannot be known)."""
    missing = False

    def value(match: re.Match[str]) -> str:
        nonlocal missing
        found = args.get(match.group(1))
        if found is None:
            if match.group(2) is None:
                missing = True
                return ""
            return match.group(2)
        return found

    for _ in range(8):
        expanded = _VAR.sub(value, text)
        if missing:
            return None
        if expanded == text:
            return expanded
        text = expanded
    return None


def external_images(dockerfile: str) -> list[str]:
    """Pure: the images a Dockerfile starts FROM that are not its own stages.

    ARG defaults declared before the first FROM (the only ones a FROM sees) are
    substituted, nested ones too ($X, ${X}, ${X:-default}); `scratch`, stage names
    and FROM lines whose image stays unknown are left out.
    """
    args: dict[str, str | None] = {}
    stages: set[str] = set()
    images: list[str] = []
    seen_from = False
    for line in _logical_lines(dockerfile):
        arg = _ARG.match(line)
        if arg:
            if not seen_from:
                for name, default in _arg_defaults(arg.group(1)).items():
                    args.setdefault(name, default)
            continue
        match = _FROM.match(line)
        if not match:
            continue
        seen_from = True
        words = [w for w in match.group(1).split() if not w.startswith("--")]
        if not words:
            continue
        image = _substitute(words[0], args)
        if len(words) >= 3 and words[1].lower() == "as":
            stages.add(words[2].lower())
        if not image or image.lower() == "scratch" or image.lower() in stages:
            continue
        if image not in images:
            images.append(image)
    return images


@dataclass(frozen=True)
class RouteFacts:
    """What the engine and the machine offer the upstream route."""

    buildx: bool
    make: bool
    registry_answers: bool
    registry_detail: str
    # The Dockerfile's FROM images the engine does not have.
    missing_images: tuple[str, ...]


def upstream_problem(needs_buildx: bool, facts: RouteFacts) -> str:
    """Pure: why the era's Makefile cannot work here ('' when it can)."""
    if not facts.make:
        return "make is not installed"
    if needs_buildx and not facts.buildx:
        return "its Makefile runs `docker buildx` and the docker CLI has no buildx plugin"
    if facts.missing_images and not facts.registry_answers:
        shown = ", ".join(facts.missing_images[:3])
        more = f" and {len(facts.missing_images) - 3} more" if len(facts.missing_images) > 3 else ""
        return (
            f"its Dockerfile starts FROM {shown}{more}, which the engine does not have, "
            f"and no registry answers ({facts.registry_detail})"
        )
    return ""


def choose_route(requested: str, needs_buildx: bool, facts: RouteFacts) -> tuple[Route, str]:
    """Pure: (route, why) for `--route requested`."""
    if requested not in ROUTE_CHOICES:
        raise UsageError(f"--route {requested!r} is not a route", "Use auto, upstream or source.")
    problem = upstream_problem(needs_buildx, facts)
    if requested == Route.UPSTREAM:
        if problem:
            raise BuildError(
                f"the upstream route cannot work here: {problem}",
                "Use --route source (mobylab's Debian-made dev image builds it offline)"
                + (
                    ", or install the docker buildx plugin (`invoke engine.buildx`)"
                    if "buildx" in problem
                    else ""
                ),
            )
        return Route.UPSTREAM, "asked for (--route upstream)"
    if requested == Route.SOURCE:
        return Route.SOURCE, "asked for (--route source)"
    if problem:
        return Route.SOURCE, f"the era's own make cannot work here: {problem}"
    return Route.UPSTREAM, "the era's own make can work here (its images and tools are at hand)"


def needs_buildx(recipes: Iterable[Sequence[str]]) -> bool:
    """Pure: whether any recipe line calls `docker buildx` (or $(BUILDX))."""
    return any(re.search(r"\bbuildx\b|\$[({]BUILDX[)}]|BAKE", line) for r in recipes for line in r)
