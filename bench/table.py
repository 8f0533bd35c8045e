"""Print the markdown table of a results file: `python -m bench.table [FILE]`.

Without FILE, the newest file in bench/results. For docs/benchmarks.md.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .harness import RESULTS, table_from_results


def main(argv: list[str]) -> int:
    if argv:
        path = Path(argv[0])
    else:
        found = sorted(RESULTS.glob("*.json"), key=lambda p: p.stat().st_mtime)
        if not found:
            print("no results yet: run `invoke bench`", file=sys.stderr)
            return 1
        path = found[-1]
    print("\n".join(table_from_results(path)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
