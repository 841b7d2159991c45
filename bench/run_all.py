"""Run every benchmark, one after another, each in a fresh interpreter.

    .venv/bin/python -m bench.run_all            # small sizes (a few minutes)
    .venv/bin/python -m bench.run_all --full     # the issue's sizes (generates data once)

Results go to bench/results/*.json; each benchmark prints a Markdown table as well.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from bench.common import PYTHON, ROOT, clean_env, describe_machine, machine

BENCHMARKS = ("form_steps", "status", "export", "e2e", "footprint")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="full sizes")
    parser.add_argument("only", nargs="*", help=f"a subset of: {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    print(describe_machine(machine()), flush=True)
    failed = []
    for name in args.only or BENCHMARKS:
        print(f"\n## {name}{' (full)' if args.full else ''}\n", flush=True)
        started = time.perf_counter()
        command = [PYTHON, "-m", f"bench.{name}", *(["--full"] if args.full else [])]
        code = subprocess.run(command, cwd=ROOT, env=clean_env(), check=False).returncode
        print(f"\n({name}: {time.perf_counter() - started:.0f} s, exit {code})", flush=True)
        if code:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
