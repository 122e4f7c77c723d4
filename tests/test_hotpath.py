"""The fast path for verify and check answers byte for byte as the Flask path does."""

import io
import sys

import pytest

from tokenapp import lifecycle
from tokenapp.hotpath import FastPath

VERIFY = "/api/v1/auth/verify"
CHECK = "/api/v1/auth/check"


def environ(path, secret=None, query="", method="GET", scheme="Bearer", **extra):
    env = {
        "REQUEST_METHOD": method,
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "localhost",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "localhost",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    if secret:
        env["HTTP_AUTHORIZATION"] = f"{scheme} {secret}"
    env.update(extra)
    return env


def answer(wsgi, env):
    got = []
    body = wsgi(
        dict(env, **{"wsgi.input": io.BytesIO(b"")}), lambda s, h, e=None: got.extend([s, h])
    )
    data = b"".join(body)
    getattr(body, "close", lambda: None)()
    return got[0], list(got[1]), data


@pytest.fixture
def secrets(ctx, make_user, make_project, make_token, make_key):
    owner = make_user("owner")
    viewer = make_user("viewer")
    project = make_project("alpha", owner=owner, members=[(viewer, "viewer")])
    limited = lifecycle.issue("pat", owner, "limited", scopes=["dashboard"], rate_limit=1000)
    fenced = lifecycle.issue(
        "pat", owner, "fenced", scopes=["dashboard"], ip_allowlist=["10.0.0.0/8"]
    )
    return {
        "pat": make_token(["dashboard", "automation"], user=owner)[1],
        "narrow": make_token(["automation:view"], user=viewer)[1],
        "export": make_key(project, owner, "export")[1],
        "full": make_key(project, owner, "full")[1],
        "limited": limited[1],
        "fenced": fenced[1],
        "unknown": "tkp_" + "A" * 30 + "000000",
    }


# (name, environ arguments, answered by the fast path?)
TABLE = [
    ("verify pat", (VERIFY, "pat"), {}, True),
    ("verify export key", (VERIFY, "export"), {}, True),
    ("verify full key", (VERIFY, "full"), {}, True),
    ("verify loco scheme", (VERIFY, "pat"), {"scheme": "loco"}, True),
    ("verify over https", (VERIFY, "pat"), {"wsgi.url_scheme": "https"}, True),
    ("check pat project scope", (CHECK, "pat", "project=alpha&scope=dashboard:view"), {}, True),
    ("check no query", (CHECK, "full"), {}, True),
    (
        "check original method",
        (CHECK, "pat", "scope=dashboard"),
        {"HTTP_X_ORIGINAL_METHOD": "POST"},
        True,
    ),
    ("check forwarded method", (CHECK, "export"), {"HTTP_X_FORWARDED_METHOD": "get"}, True),
    ("check refused scope", (CHECK, "narrow", "scope=dashboard:view"), {}, False),
    (
        "check refused role",
        (CHECK, "narrow", "project=alpha&scope=automation:view"),
        {"HTTP_X_ORIGINAL_METHOD": "DELETE"},
        False,
    ),
    ("check unknown project", (CHECK, "pat", "project=nope"), {}, False),
    ("check bad scope", (CHECK, "pat", "scope=nothing:here"), {}, False),
    ("check odd method", (CHECK, "pat"), {"HTTP_X_ORIGINAL_METHOD": "BREW"}, False),
    ("check encoded query", (CHECK, "pat", "scope=dashboard%3Aview"), {}, False),
    ("check repeated parameter", (CHECK, "pat", "scope=dashboard&scope=automation"), {}, False),
    ("verify explain", (VERIFY, "pat", "explain=1"), {}, False),
    ("verify query key", (VERIFY, None, "key=SECRET"), {}, False),
    ("verify head", (VERIFY, "pat"), {"method": "HEAD"}, False),
    ("verify no credential", (VERIFY, None), {}, False),
    ("verify blank bearer", (VERIFY, ""), {"HTTP_AUTHORIZATION": "Bearer  "}, False),
    ("verify basic", (VERIFY, "pat"), {"scheme": "Basic"}, False),
    ("verify unknown", (VERIFY, "unknown"), {}, True),
    ("verify malformed", (VERIFY, None), {"HTTP_AUTHORIZATION": "Bearer tkp_nope"}, True),
    ("verify plain http from elsewhere", (VERIFY, "pat"), {"REMOTE_ADDR": "192.0.2.7"}, False),
    ("verify rate limited token", (VERIFY, "limited"), {}, False),
    ("verify allowlist refuses", (VERIFY, "fenced"), {}, False),
    (
        "verify allowlist admits",
        (VERIFY, "fenced"),
        {"REMOTE_ADDR": "10.1.2.3", "wsgi.url_scheme": "https"},
        True,
    ),
    ("check unknown", (CHECK, "unknown", "scope=dashboard"), {}, True),
    ("verify with a cookie", (VERIFY, "pat"), {"HTTP_COOKIE": "tokenapp_session=x"}, False),
]


@pytest.mark.parametrize("app_overrides", [{"FAST_PATH": True}])
@pytest.mark.parametrize(("name", "args", "extra", "fast"), TABLE, ids=[row[0] for row in TABLE])
def test_fast_path_answers_as_flask_does(app, secrets, name, args, extra, fast):
    path, secret, *query = args
    extra = dict(extra)
    if secret and secret in secrets:
        secret = secrets[secret]
    if "query" not in extra and query:
        extra["query"] = query[0].replace("SECRET", secrets["pat"])
    env = environ(path, secret, **extra)
    assert isinstance(app.wsgi_app, FastPath)
    fast = fast and path != CHECK  # check: Flask's until the fast path knows forward rules
    if env["REQUEST_METHOD"] == "GET":  # answer() is asked only for GET
        assert (app.wsgi_app.answer(dict(env), path) is not None) is fast
    fast_answer = answer(app.wsgi_app, env)
    flask_answer = answer(app.wsgi_app.inner, env)
    assert _steady(fast_answer) == _steady(flask_answer)


def _steady(answer):
    # A rate-limited credential counts down between the two requests.
    status, headers, body = answer
    return status, [h for h in headers if h[0] != "RateLimit-Remaining"], body


@pytest.mark.parametrize("app_overrides", [{"FAST_PATH": False}])
def test_the_fast_path_can_be_switched_off(app):
    assert not isinstance(app.wsgi_app, FastPath)
