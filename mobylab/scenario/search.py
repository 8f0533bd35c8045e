"""The bisect search, pure: which commit to test next, and when the answer is known.

The walk is a list of commits from the old end to the new end (the first-parent
line by default, as `git bisect --first-parent`, so each step is a merged pull
request). Both ends are tested first and must differ: their results say whether
the search looks for an arrival (absent at the old end, present at the new) or a
regression (present, then absent). A commit that could not be tested is skipped,
as `git bisect skip` does: the search goes around it, and when only skipped
commits are left between the last "old" result and the first "new" one, the
answer is every one of them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from ..errors import UsageError


class Outcome(StrEnum):
    """What running a scenario on an engine said."""

    PRESENT = "present"
    ABSENT = "absent"
    # The scenario could not run at all (no engine, a failed build, the time limit).
    UNTESTED = "could not test"


class Change(StrEnum):
    """What changed between the two ends."""

    ARRIVAL = "arrival"
    REGRESSION = "regression"


@dataclass(frozen=True)
class NextCommit:
    """Build and test this commit next."""

    commit: str
    # Commits still in question, this one included: how far the search has to go.
    remaining: int


@dataclass(frozen=True)
class Found:
    """The search is over: `first` is the first commit seen with the new end's result."""

    first: str
    # The commit before it on the walk: the old end's result, or skipped.
    previous: str
    change: Change
    # The commits that may have made the change: `first` alone, or, when commits
    # before it could not be tested, those too (oldest first).
    candidates: tuple[str, ...]

    @property
    def exact(self) -> bool:
        return len(self.candidates) == 1


Decision = NextCommit | Found


def change_between(old: Outcome, new: Outcome) -> Change:
    """The change the ends show, or a UsageError saying why there is nothing to search."""
    for end, outcome in (("--old", old), ("--new", new)):
        if outcome is Outcome.UNTESTED:
            raise UsageError(
                f"the scenario could not be tested at the {end} end",
                "See its output in the report; bisect needs a result at both ends.",
            )
    if old is new:
        raise UsageError(
            f"nothing changed between them: {old} at both",
            "Pick ends whose results differ, or check that the scenario tests the behaviour.",
        )
    return Change.ARRIVAL if new is Outcome.PRESENT else Change.REGRESSION


def next_step(walk: Sequence[str], results: Mapping[str, Outcome]) -> Decision:
    """What to do next, from the walk (old end first) and the results so far.

    Results are all the search keeps, so a search resumed from its log takes the
    same path as one that was never interrupted.
    """
    if len(walk) < 2:
        raise UsageError("the two ends are the same commit", "Give an --old before the --new.")
    old_end, new_end = walk[0], walk[-1]
    for end in (old_end, new_end):
        if end not in results:
            return NextCommit(end, len(walk))
    old, new = results[old_end], results[new_end]
    change = change_between(old, new)
    # The first commit with the new result, and the last one before it with the old.
    high = next(i for i, commit in enumerate(walk) if results.get(commit) is new)
    low = max(i for i in range(high) if results.get(walk[i]) is old)
    between = range(low + 1, high)
    untested = [i for i in between if walk[i] not in results]
    if untested:
        middle = (low + high) / 2
        pick = min(untested, key=lambda i: (abs(i - middle), i))
        return NextCommit(walk[pick], len(untested) + 1)
    skipped = tuple(walk[i] for i in between)
    return Found(
        first=walk[high], previous=walk[high - 1], change=change, candidates=(*skipped, walk[high])
    )
