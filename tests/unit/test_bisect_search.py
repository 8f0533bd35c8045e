"""The bisect search on plain data: both directions, skips, refusals, resuming."""

from __future__ import annotations

import pytest

from mobylab.errors import UsageError
from mobylab.scenario.search import Change, Found, NextCommit, Outcome, next_step

P, A, U = Outcome.PRESENT, Outcome.ABSENT, Outcome.UNTESTED
WALK = [f"c{i:02d}" for i in range(57)]


def bisect(walk: list[str], truth: dict[str, Outcome]) -> tuple[Found, list[str]]:
    """Run the search to the end against known results; the commits it tested, in order."""
    results: dict[str, Outcome] = {}
    tested: list[str] = []
    while True:
        decision = next_step(walk, results)
        if isinstance(decision, Found):
            return decision, tested
        assert decision.commit not in results
        tested.append(decision.commit)
        results[decision.commit] = truth[decision.commit]


def arrival_at(index: int, walk: list[str] = WALK) -> dict[str, Outcome]:
    return {commit: (P if i >= index else A) for i, commit in enumerate(walk)}


@pytest.mark.parametrize("index", [1, 2, 21, 35, 55, 56])
def test_an_arrival_is_found_in_log2_steps(index: int) -> None:
    found, tested = bisect(WALK, arrival_at(index))
    assert found.first == WALK[index] and found.previous == WALK[index - 1]
    assert found.change is Change.ARRIVAL and found.exact
    assert tested[:2] == [WALK[0], WALK[-1]]
    # Two ends and at most ceil(log2(55)) + 1 midpoints: the 8 builds of the real range.
    assert len(tested) <= 8


def test_a_regression_is_found_the_same_way() -> None:
    truth = {commit: (A if i >= 30 else P) for i, commit in enumerate(WALK)}
    found, _ = bisect(WALK, truth)
    assert found.first == WALK[30] and found.change is Change.REGRESSION


def test_untested_commits_are_skipped_and_the_search_goes_around_them() -> None:
    truth = arrival_at(21)
    for i in (28, 29, 14):
        truth[WALK[i]] = U
    found, tested = bisect(WALK, truth)
    assert found.first == WALK[21] and found.exact
    assert WALK[28] in tested


def test_only_skipped_commits_left_name_every_candidate() -> None:
    truth = arrival_at(21)
    truth[WALK[19]] = truth[WALK[20]] = U
    found, _ = bisect(WALK, truth)
    assert found.candidates == (WALK[19], WALK[20], WALK[21])
    assert not found.exact and found.first == WALK[21] and found.previous == WALK[20]


@pytest.mark.parametrize(("old", "new", "words"), [(P, P, "present at both"), (A, A, "absent")])
def test_ends_that_agree_are_refused_with_what_it_means(
    old: Outcome, new: Outcome, words: str
) -> None:
    with pytest.raises(UsageError) as caught:
        next_step(WALK, {WALK[0]: old, WALK[-1]: new})
    assert "nothing changed between them" in caught.value.one_line()
    assert words in caught.value.one_line()


def test_an_end_that_could_not_be_tested_is_refused() -> None:
    with pytest.raises(UsageError, match="could not be tested at the --new end"):
        next_step(WALK, {WALK[0]: A, WALK[-1]: U})


def test_one_commit_is_no_range() -> None:
    with pytest.raises(UsageError, match="same commit"):
        next_step(["c00"], {})


def test_a_resumed_search_takes_the_same_path() -> None:
    truth = arrival_at(40)
    _, whole = bisect(WALK, truth)
    # Interrupted after three results: the same next commits from the kept results.
    kept = {commit: truth[commit] for commit in whole[:3]}
    results = dict(kept)
    rest = []
    while not isinstance(decision := next_step(WALK, results), Found):
        rest.append(decision.commit)
        results[decision.commit] = truth[decision.commit]
    assert whole == [*whole[:3], *rest]


def test_the_next_commit_says_how_many_remain() -> None:
    decision = next_step(WALK, {WALK[0]: A, WALK[-1]: P})
    assert isinstance(decision, NextCommit) and decision.remaining == 56


def test_adjacent_ends_need_no_midpoint() -> None:
    found = next_step(["old", "new"], {"old": A, "new": P})
    assert isinstance(found, Found) and found.first == "new" and found.previous == "old"
