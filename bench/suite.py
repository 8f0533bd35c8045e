"""The benchmark registry and its command-line entry point (`invoke bench`)."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console

from . import (
    catalog,
    devfixture,
    devup,
    lab,
    rebuild,
    scenario,
    seed,
    serve,
    source,
    startup,
    workshop,
)
from .harness import TABLE_HEADER, Benchmark, load_average, markdown_rows, measure, write_results

# In the order they run: the dev benchmarks share one fixture build (made by the
# first that needs it), the workshop ones share their sshd hosts.
BENCHMARKS: dict[str, Callable[[], Benchmark]] = {
    "startup": startup.benchmark,
    "dev-build-built": rebuild.benchmark,
    "dev-up": devup.benchmark,
    "dev-seed": seed.benchmark,
    "workshop-provision": workshop.provision,
    "workshop-check": workshop.check,
    "lab-cold": lab.cold,
    "lab-warm": lab.warm,
    "lab-rerun": lab.rerun,
    # The whole lab catalog: lab.verify against each lab run with --yes.
    "lab-verify": catalog.verify_catalog,
    # Today's engine for real (moby master from a mirror, the source route).
    "source-cold": source.cold,
    "source-warm": source.warm,
    "dev-up-master": source.dev_up,
    "lab-dev": source.lab_dev,
    # Scenarios on the mirror's real 2017 history.
    "scenario-try": scenario.try_built,
    "scenario-bisect": scenario.bisect,
    # workshop.serve: a keystroke through the page's websocket; rooms of 1, 4 and 8 seats.
    "serve-echo": serve.echo,
    "serve-room": serve.room,
}
# Run only when named: without them, their numbers come from the others.
ON_REQUEST = {"lab-rerun"}


def run(only: list[str], rounds: int | None, console: Console) -> bool:
    """Run the chosen benchmarks; True when no target was missed."""
    unknown = [name for name in only if name not in BENCHMARKS]
    if unknown:
        raise KeyError(", ".join(unknown))
    outcomes = []
    try:
        for name, make in BENCHMARKS.items():
            if (only and name not in only) or (not only and name in ON_REQUEST):
                continue
            benchmark = make()
            count = rounds or benchmark.rounds
            console.print(
                f"[bold]{name}[/]: {count} rounds (load average {load_average()})", highlight=False
            )

            def show(side: str, seconds: float) -> None:
                console.print(f"  {side}: {seconds:.3f} s", markup=False, highlight=False)

            outcome = measure(benchmark, count, on_sample=show)
            outcomes.append(outcome)
            if outcome.error:
                console.print(f"  error: {outcome.error}", markup=False, highlight=False)
            for key, value in outcome.extra.items():
                if key != "traceback":
                    console.print(f"  {key}: {value}", markup=False, highlight=False)
        named = {o.name: o for o in outcomes}
        if "lab-rerun" not in named and {"lab-cold", "lab-warm"} <= set(named):
            derived = lab.rerun_from(named["lab-cold"], named["lab-warm"])
            if derived is not None:
                outcomes.append(derived)
    finally:
        for close in (devfixture.close, workshop.close, source.close):
            try:
                close()
            except Exception as exc:  # cleanup trouble must not hide the results
                console.print(f"cleanup: {exc}", markup=False, highlight=False)
        path = write_results(outcomes, context={"load_average_end": load_average()})
    for row in [*TABLE_HEADER, *markdown_rows(outcomes)]:
        console.print(row, markup=False, highlight=False, soft_wrap=True)
    console.print(f"results: {path}", highlight=False)
    return all(o.met is not False for o in outcomes)
