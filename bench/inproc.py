"""In-process per-request timings: each request timed one by one, µs median.

    python -m bench.inproc [N] [--repeat 3000]

Seeds a SQLite database with N tokens (bench.seed), builds the app as
`tokenapp serve` does (create_app, then the WSGI callable gunicorn runs) and
calls it with a prepared WSGI environ, reading the whole body; no gunicorn,
no socket. The hello-world Flask route is timed the same way. This is what
bench/profile.md is written from: sampling profilers that include gunicorn's
blocking send understate each part.
"""

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

from bench import seed as seeding


def environ(path: str, secret: str | None = None, query: str = "", **headers: str) -> dict:
    env = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": "50000",
        "HTTP_HOST": "127.0.0.1:8000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }
    if secret:
        env["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
    for name, value in headers.items():
        env["HTTP_" + name.upper()] = value
    return env


def call(app: Callable, env: dict) -> str:
    status = []

    def start_response(line, headers, exc_info=None):
        status.append(line)

    result = app(dict(env, **{"wsgi.input": io.BytesIO(b"")}), start_response)
    try:
        b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close:
            close()
    return status[0]


def time_one(app: Callable, env: dict, repeat: int) -> tuple[float, str]:
    status = call(app, env)
    for _ in range(200):
        call(app, env)
    samples = []
    clock = time.perf_counter_ns
    for _ in range(repeat):
        start = clock()
        call(app, env)
        samples.append(clock() - start)
    return statistics.median(samples) / 1000, status


def targets(fixtures: dict) -> list[tuple[str, dict]]:
    doc = f"/api/v1/projects/{fixtures['project']}/dashboards/{fixtures['document']}"
    unknown = seeding.filler_secret()
    return [
        ("verify PAT", environ("/api/v1/auth/verify", fixtures["pat"])),
        ("verify project key", environ("/api/v1/auth/verify", fixtures["export_key"])),
        (
            "check PAT, project and scope",
            environ(
                "/api/v1/auth/check",
                fixtures["pat"],
                f"project={fixtures['project']}&scope=dashboard:view",
                X_Original_Method="GET",
            ),
        ),
        ("refused unknown token", environ("/api/v1/auth/verify", unknown)),
        ("document read", environ(doc, fixtures["pat"])),
    ]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("n", nargs="?", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3000)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="tokenapp-inproc-")
    fixtures = seeding.seed(work, args.n)
    os.environ["TOKENAPP_DATABASE_URL"] = fixtures["database_url"]
    from bench.hello import app as hello
    from tokenapp import create_app

    app = create_app()
    base, _ = time_one(hello, environ("/hello"), args.repeat)
    print(f"{'hello-world Flask route':34} {base:7.1f} µs")
    for name, env in targets(fixtures):
        micros, status = time_one(app, env, args.repeat)
        print(f"{name:34} {micros:7.1f} µs  {base / micros:.2f}× hello  ({status})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
