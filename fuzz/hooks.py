"""schemathesis hooks for fuzz/run.sh: the fuzzer's credential, kept alive.

The stateful phase follows links from `GET /personal-access-tokens` (which lists
the fuzzer's own token) to DELETE and regenerate, so the fuzzer can revoke the
very token it authenticates with. That is the API working as designed; instead
of excluding those operations, the auth provider checks its token every second
and, once it stops working, mints a new one with the CLI (every scope, no expiry).
"""

import os
import subprocess
import sys
import urllib.error
import urllib.request

import schemathesis

BIN = os.environ.get("BIN", ".venv/bin")


def _parse_coverage_lambdas_early() -> None:
    """Work around a CPython 3.11.7 bug in the fuzzer's own process, not in the app.

    Deep in schemathesis' coverage walk, hypothesis parses the walker's source to
    describe a filter lambda; ast.parse at that stack depth fails with "SystemError:
    AST constructor recursion depth mismatch" (fixed in later CPython releases).
    Parsing the same source here, at the top of the stack, fills hypothesis' cache
    so the deep call never parses. Its own cache is per thread and schemathesis
    runs its workers in threads: a plain dict, shared by all, takes its place.
    """
    import ast
    import inspect

    from hypothesis.internal import lambda_sources
    from schemathesis.specs.openapi.coverage import _schema

    lines = tuple(inspect.findsource(_schema)[0])
    tree = ast.parse("".join(lines))
    lambda_sources.AST_LAMBDAS_CACHE = {lines: lambda_sources.extract_all_lambdas(tree)}


_parse_coverage_lambdas_early()


def _works(token: str) -> bool:
    request = urllib.request.Request(  # noqa: S310 (the loopback URL run.sh built)
        os.environ["FUZZ_BASE_URL"] + "/api/v1/auth/verify",
        headers={"Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status == 200
    except urllib.error.HTTPError:
        # 401 revoked or regenerated, 403 an IP allowlist, 429 a rate limit: all set
        # on its own token by the fuzzer through PATCH; carry on with a fresh one.
        return False


def _mint() -> str:
    scopes = os.environ["FUZZ_SCOPES"].split()
    command = [f"{BIN}/tokenapp", "token", "create", "--user", "fuzzer", "--note", "fuzz (again)"]
    command += ["--expiration", "never", *(f"--scope={s}" for s in scopes)]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()


@schemathesis.auth(refresh_interval=1)
class FuzzerToken:
    minted = 0

    def __init__(self):
        self.token = os.environ["FUZZ_TOKEN"]

    def get(self, case, ctx):
        if not _works(self.token):
            FuzzerToken.minted += 1
            say = "fuzz: the fuzzer revoked, regenerated or limited its own token; new token"
            print(f"\n{say} #{FuzzerToken.minted}", file=sys.stderr)
            self.token = _mint()
        return self.token

    def set(self, case, data, ctx):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"
