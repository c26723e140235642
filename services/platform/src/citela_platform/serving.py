"""``citela serve --workers N``: uvicorn's supervisor, from a main module that imports little.

uvicorn starts each worker with multiprocessing's *spawn*, which first imports the parent's
main module again: from the ``citela`` command, the whole command line (every service, typer…),
11 s on a busy host without compiled bytecode, while the supervisor killed any worker that had
not answered its health check within 5 s, and started another: on a saturated host, for ever.
So ``citela serve`` execs ``python -m citela_platform.serving``: a worker imports uvicorn, this
module and its one service (``citela_platform.standalone``), and the supervisor gives a worker
``--healthcheck-timeout`` seconds (60 by default) before it calls it hung.
"""

from __future__ import annotations

import argparse
import os
import sys

from citela_common.serving import HEALTHCHECK_TIMEOUT_S, run

__all__ = ["HEALTHCHECK_TIMEOUT_S", "command", "exec_serve", "main", "serve"]


def command(
    service: str, host: str, port: int, workers: int, healthcheck_timeout_s: int
) -> list[str]:
    """The command line that serves ``service`` with ``workers`` processes."""
    return [
        sys.executable,
        "-m",
        "citela_platform.serving",
        service,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--healthcheck-timeout",
        str(healthcheck_timeout_s),
    ]


def exec_serve(
    service: str, host: str, port: int, workers: int, healthcheck_timeout_s: int
) -> None:
    """Replace this process (same pid: signals and supervisors see no change) by the server."""
    argv = command(service, host, port, workers, healthcheck_timeout_s)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)  # noqa: S606  # our own interpreter, arguments we built


def serve(service: str, host: str, port: int, workers: int, healthcheck_timeout_s: int) -> None:
    run(f"citela_platform.standalone:{service}", host, port, workers, healthcheck_timeout_s)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="citela-serving", description=__doc__)
    parser.add_argument("service")
    parser.add_argument("--host", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--healthcheck-timeout", type=int, default=HEALTHCHECK_TIMEOUT_S)
    args = parser.parse_args(argv)
    from citela_common.logging import configure_logging
    from citela_common.settings import get_settings

    settings = get_settings()
    configure_logging(settings.log_level, settings.log_json)
    serve(args.service, args.host, args.port, args.workers, args.healthcheck_timeout)


if __name__ == "__main__":
    main()
