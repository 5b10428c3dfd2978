"""Run every benchmark and print each figure beside its same-run baseline.

Usage: python -m bench [name ...]   (names: kernel, dispatch, tools, tui, import)
"""

from __future__ import annotations

import importlib
import sys

SUITES = ("kernel", "dispatch", "tools", "tui", "import")


def _format(row: dict) -> str:
    status = "ok  " if row["ok"] else "MISS"
    return (f"{status} {row['name']:<48} {row['value']:>10.3f} {row['unit']:<9} "
            f"ratio {row['ratio']:>8.3f} vs {row['baseline_name']} ({row['baseline_value']:.3f})  "
            f"target {row['target']}")


def main(argv: list[str]) -> int:
    chosen = argv or list(SUITES)
    unknown = [name for name in chosen if name not in SUITES]
    if unknown:
        print(f"unknown suite(s): {', '.join(unknown)}; choose from {', '.join(SUITES)}", file=sys.stderr)
        return 2
    missed = 0
    for name in chosen:
        module = importlib.import_module(f"bench.bench_{name}")
        print(f"== {name}", flush=True)
        for row in module.run():
            print(_format(row), flush=True)
            missed += not row["ok"]
    print(f"{missed} target(s) missed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
