"""Run every benchmark and print each figure beside its same-run baseline.

Usage: python -m bench [name ...]   (names: kernel, dispatch, tools, tui, import, postgres)

`postgres` needs a server: without KANBAN_TEST_PG_DSN the run restarts itself beside a
throwaway one (scripts/with_postgres.sh).
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

SUITES = ("kernel", "dispatch", "tools", "tui", "import", "postgres")
WITH_POSTGRES = Path(__file__).resolve().parent.parent / "scripts" / "with_postgres.sh"


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
    if "postgres" in chosen and not os.environ.get("KANBAN_TEST_PG_DSN") and not os.environ.get("KANBAN_BENCH_PG_TRIED"):
        os.environ["KANBAN_BENCH_PG_TRIED"] = "1"  # once: without a server, bench_postgres says so
        os.execv(str(WITH_POSTGRES), [str(WITH_POSTGRES), sys.executable, "-m", "bench", *chosen])
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
