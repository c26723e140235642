"""Start-up of the ``citela`` command line, against a bare interpreter's, in one run.

    uv run --no-sync python bench/cli_startup.py [--repeat 5] [--command="ingest --help"]…

(``--command=…`` with ``=``: its value starts with a dash, as ``--command=--help``.)

Each repetition runs, alternating, ``python -c pass`` (the anchor: an interpreter that starts
and exits) and each command (by default ``citela --help``, ``citela migrate --help`` and
``citela ingest --help``), as fresh processes of this interpreter, with the installed
``citela`` script; only wall time is measured, output discarded. The issue's goal: ``citela
--help`` under 1 s on an idle host (it took 6 s idle, 23 s loaded, when it imported every
service); a service's command imports that service, so its ``--help`` costs that service's
import. Prints each median, and last ``ratio=<citela --help / python -c pass> help_s=…
python_s=… load=<1-minute load average>`` (a loaded host stretches both sides).
"""

from __future__ import annotations

import argparse
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_COMMANDS = ("--help", "migrate --help", "ingest --help")


def citela() -> list[str]:
    """The installed ``citela`` script, run by this interpreter (or the module if none)."""
    script = Path(sys.executable).parent / "citela"
    return (
        [sys.executable, str(script)]
        if script.exists()
        else [sys.executable, "-m", "citela_platform.cli"]
    )


def wall_s(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(  # our own interpreter and script
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=300
    )
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument(
        "--command",
        action="append",
        help="arguments of citela, quoted, after = (repeat the option); default: "
        + ", ".join(repr(c) for c in DEFAULT_COMMANDS),
    )
    args = parser.parse_args()
    commands: list[str] = args.command or list(DEFAULT_COMMANDS)
    anchor = [sys.executable, "-c", "pass"]
    wall_s([*citela(), "--help"])  # compile what is not compiled yet, outside the measure
    times: dict[str, list[float]] = {"python -c pass": [], **{c: [] for c in commands}}
    for _ in range(args.repeat):
        times["python -c pass"].append(wall_s(anchor))
        for command in commands:
            times[command].append(wall_s([*citela(), *shlex.split(command)]))
    medians = {name: statistics.median(runs) for name, runs in times.items()}
    for name, median in medians.items():
        label = name if name == "python -c pass" else f"citela {name}"
        print(f"{label:<28} median {median:.3f} s  (min {min(times[name]):.3f} s)")
    help_s, python_s = medians.get("--help"), medians["python -c pass"]
    if help_s is not None:
        print(
            f"ratio={help_s / python_s:.1f} help_s={help_s:.3f} python_s={python_s:.3f} "
            f"load={os.getloadavg()[0]:.2f}"
        )


if __name__ == "__main__":
    main()
