"""The fast path for verify and check answers byte for byte as the Flask path does,
and leaves the same metrics behind."""

import datetime
import io
import sys

import pytest

from tokenapp import auth
from tokenapp import documents
from tokenapp import lifecycle
from tokenapp import metrics
from tokenapp import service_accounts
from tokenapp.hotpath import FastPath
from tokenapp.models import Credential
from tokenapp.models import Membership

VERIFY = "/api/v1/auth/verify"
CHECK = "/api/v1/auth/check"
DOCS = "/api/v1/projects/alpha/dashboards"
DOC = DOCS + "/DOC"


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


RULES = """
[[rule]]
host = "reports.intranet"
path = "/reports/"
methods = ["GET", "HEAD"]
project = "alpha"
scope = "dashboard:view"

[[rule]]
path = "/flows"
project = "alpha"
scope = "automation:view"
"""


@pytest.fixture
def app_overrides(request, tmp_path, clock):
    """A fixed clock (a 429's Retry-After must not tick between the two answers); with
    the parameter "rules", a forward rules file."""
    overrides = {"FAST_PATH": True, "CLOCK": clock}
    if getattr(request, "param", None) == "rules":
        rules = tmp_path / "rules.toml"
        rules.write_text(RULES)
        overrides["FORWARD_RULES"] = str(rules)
    return overrides


@pytest.fixture
def secrets(ctx, make_user, make_project, make_token, make_key):
    owner = make_user("owner")
    viewer = make_user("viewer")
    project = make_project("alpha", owner=owner, members=[(viewer, "viewer")])
    limited = lifecycle.issue("pat", owner, "limited", scopes=["dashboard"], rate_limit=1000)
    spent = lifecycle.issue("pat", owner, "spent", scopes=["dashboard"], rate_limit=1)
    fenced = lifecycle.issue(
        "pat", owner, "fenced", scopes=["dashboard"], ip_allowlist=["10.0.0.0/8"]
    )
    body = {"title": "Q1 – café", "ratio": 0.1, "big": 2**70, "tags": ["a", None, True]}
    doc = documents.create(project, "dashboards", body, user_id=owner.id, creator="owner")
    key, _ = make_key(project, owner, "full", label="listed")
    soon = datetime.datetime(2030, 1, 3)  # the clock's 2030-01-01 noon: expires soon
    every, every_secret = lifecycle.issue(
        "pat",
        owner,
        "every",
        scopes=["dashboard"],
        expires_at=soon,
        ip_allowlist=["127.0.0.0/8"],
        rate_limit=1000,
    )
    rolled, old = lifecycle.issue("pat", owner, "rolled", scopes=["dashboard"])
    lifecycle.regenerate(rolled, grace_days=3)  # old: in its grace (a secret_expires_at)
    expired, expired_secret = lifecycle.issue("pat", owner, "expired", scopes=["dashboard"])
    past = datetime.datetime(2029, 12, 1)  # not editable: as an expiry the clock passed
    Credential.update(expires_at=past).where(Credential.id == expired.id).execute()
    robot = service_accounts.add(project, "ci", "editor")
    robot_key = lifecycle.issue("full", robot, "ci", project=project, expires_at=soon)[1]
    return {
        "every": every_secret,
        "old": old,
        "expired": expired_secret,
        "robot": robot_key,
        "DOC": str(doc.id),
        "KEY": str(key.id),
        "pat": make_token(["dashboard", "automation"], user=owner)[1],
        "view": make_token(["dashboard:view"], user=owner)[1],
        "narrow": make_token(["automation:view"], user=viewer)[1],
        "export": make_key(project, owner, "export")[1],
        "full": make_key(project, owner, "full")[1],
        "limited": limited[1],
        "spent": spent[1],
        "fenced": fenced[1],
        "unknown": "tkp_" + "A" * 30 + "000000",
    }


def nginx(method="GET", uri="/reports/q1", host="reports.intranet"):
    return {
        "HTTP_X_ORIGINAL_METHOD": method,
        "HTTP_X_ORIGINAL_URI": uri,
        "HTTP_X_ORIGINAL_HOST": host,
    }


def forwarded(method="GET", uri="/reports/q1", host="reports.intranet"):
    """Caddy's forward_auth and Traefik's forwardAuth."""
    return {
        "HTTP_X_FORWARDED_METHOD": method,
        "HTTP_X_FORWARDED_URI": uri,
        "HTTP_X_FORWARDED_HOST": host,
    }


QUERY = "project=alpha&scope=dashboard:view"
# (name, environ arguments, extra environ, answered by the fast path?)
TABLE = [
    ("verify pat", (VERIFY, "pat"), {}, True),
    ("verify export key", (VERIFY, "export"), {}, True),
    ("verify full key", (VERIFY, "full"), {}, True),
    ("verify loco scheme", (VERIFY, "pat"), {"scheme": "loco"}, True),
    ("verify over https", (VERIFY, "pat"), {"wsgi.url_scheme": "https"}, True),
    # A proxy's X-Forwarded-Proto: wss (werkzeug's routing refuses a websocket scheme, 400).
    ("verify over wss", (VERIFY, "pat"), {"wsgi.url_scheme": "wss"}, False),
    ("document over ws", (DOC, "pat"), {"wsgi.url_scheme": "ws"}, False),
    ("verify from a named host", (VERIFY, "pat"), {"HTTP_HOST": "Tokens.example:8443"}, True),
    # Hosts werkzeug's routing refuses (400: not IDNA-encodable).
    ("verify empty host label", (VERIFY, "pat"), {"HTTP_HOST": ".."}, False),
    ("check overlong host label", (CHECK, "pat"), {"HTTP_HOST": "a" * 64 + ".example"}, False),
    ("document overlong host", (DOC, "pat"), {"HTTP_HOST": "a" * 300}, False),
    ("check pat project scope", (CHECK, "pat", QUERY), {}, True),
    ("check no query", (CHECK, "full"), {}, True),
    (
        "check original method",
        (CHECK, "pat", "scope=dashboard"),
        {"HTTP_X_ORIGINAL_METHOD": "POST"},
        True,
    ),
    ("check forwarded method", (CHECK, "export"), {"HTTP_X_FORWARDED_METHOD": "get"}, True),
    ("check refused scope", (CHECK, "narrow", "scope=dashboard:view"), {}, True),
    (
        "check refused role",
        (CHECK, "narrow", "project=alpha&scope=automation:view"),
        {"HTTP_X_ORIGINAL_METHOD": "DELETE"},
        True,
    ),
    ("check unknown project", (CHECK, "pat", "project=nope"), {}, True),
    ("check bad scope", (CHECK, "pat", "scope=nothing:here"), {}, True),
    ("check blank scope", (CHECK, "pat", "scope="), {}, True),
    ("check odd method", (CHECK, "pat"), {"HTTP_X_ORIGINAL_METHOD": "BREW"}, True),
    ("check encoded query", (CHECK, "pat", "scope=dashboard%3Aview"), {}, False),
    ("check repeated parameter", (CHECK, "pat", "scope=dashboard&scope=automation"), {}, False),
    ("check nginx original request", (CHECK, "view", QUERY), nginx(), True),
    ("check nginx export key writes", (CHECK, "export", QUERY), nginx("DELETE"), True),
    ("check caddy or traefik", (CHECK, "view", QUERY), forwarded(), True),
    ("check forwarded export key writes", (CHECK, "export", QUERY), forwarded("PUT"), True),
    (
        "check conflicting uris",
        (CHECK, "view", QUERY),
        {**forwarded(), "HTTP_X_ORIGINAL_URI": "/flows/1"},
        True,
    ),
    (
        "check conflicting hosts",
        (CHECK, "view", QUERY),
        {**nginx(), "HTTP_X_FORWARDED_HOST": "other.intranet"},
        True,
    ),
    (
        "check conflicting methods",
        (CHECK, "export", QUERY),
        {"HTTP_X_ORIGINAL_METHOD": "DELETE", "HTTP_X_FORWARDED_METHOD": "GET"},
        True,
    ),
    ("check with the client's cookie", (CHECK, "view", QUERY), {"HTTP_COOKIE": "a=b"}, True),
    ("verify explain", (VERIFY, "pat", "explain=1"), {}, False),
    ("verify query key", (VERIFY, None, "key=SECRET"), {}, False),
    ("verify head", (VERIFY, "pat"), {"method": "HEAD"}, False),
    ("verify no credential", (VERIFY, None), {}, False),
    ("verify blank bearer", (VERIFY, ""), {"HTTP_AUTHORIZATION": "Bearer  "}, False),
    ("verify basic", (VERIFY, "pat"), {"scheme": "Basic"}, False),
    ("verify with a body", (VERIFY, "pat"), {"CONTENT_LENGTH": "0"}, False),
    ("verify unknown", (VERIFY, "unknown"), {}, True),
    ("verify malformed", (VERIFY, None), {"HTTP_AUTHORIZATION": "Bearer tkp_nope"}, True),
    ("verify plain http from elsewhere", (VERIFY, "pat"), {"REMOTE_ADDR": "192.0.2.7"}, False),
    ("verify rate limited token", (VERIFY, "limited"), {}, True),
    ("verify spent rate limit", (VERIFY, "spent"), {}, True),
    ("check spent rate limit", (CHECK, "spent", QUERY), {}, True),
    ("verify allowlist refuses", (VERIFY, "fenced"), {}, True),
    (
        "verify allowlist admits",
        (VERIFY, "fenced"),
        {"REMOTE_ADDR": "10.1.2.3", "wsgi.url_scheme": "https"},
        True,
    ),
    ("check unknown", (CHECK, "unknown", "scope=dashboard"), {}, True),
    ("verify with a cookie", (VERIFY, "pat"), {"HTTP_COOKIE": "tokenapp_session=x"}, True),
    ("document read", (DOC, "pat"), {}, True),
    ("document read by an export key", (DOC, "export"), {}, True),
    ("document read over https", (DOC, "full"), {"wsgi.url_scheme": "https"}, True),
    ("document unknown id", (DOCS + "/" + "0" * 32, "pat"), {}, True),
    ("document malformed id", (DOCS + "/nope", "pat"), {}, True),
    ("document unknown collection", ("/api/v1/projects/alpha/nothing/DOC", "pat"), {}, True),
    ("document other project", ("/api/v1/projects/beta/dashboards/DOC", "pat"), {}, True),
    ("document refused scope", (DOC, "narrow"), {}, True),
    ("document unknown token", (DOC, "unknown"), {}, True),
    ("document spent rate limit", (DOC, "spent"), {}, True),
    ("document with a query", (DOC, "pat", "x=1"), {}, False),
    ("document by query key", (DOC, None, "key=SECRET"), {}, False),
    ("document head", (DOC, "pat"), {"method": "HEAD"}, False),
    ("document trailing slash", (DOC + "/", "pat"), {}, False),
    ("document non-ascii path", (DOCS + "/caf\xc3\xa9", "pat"), {}, False),
    ("a project key by id", ("/api/v1/projects/alpha/keys/KEY", "pat"), {}, False),
    ("a member", ("/api/v1/projects/alpha/users/owner", "pat"), {}, False),
    # Hostile shapes: each answered as Flask answers it, or left to Flask.
    ("document double slash", ("/api/v1/projects/alpha//dashboards/DOC", "pat"), {}, False),
    ("document dot segments", ("/api/v1/projects/alpha/../dashboards/DOC", "pat"), {}, False),
    ("document dot collection", ("/api/v1/projects/alpha/./DOC", "pat"), {}, True),
    ("document upper-case collection", ("/api/v1/projects/alpha/Dashboards/DOC", "pat"), {}, True),
    ("document overlong id", (DOCS + "/" + "A" * 5000, "pat"), {}, True),
    (
        "document overlong project",
        ("/api/v1/projects/" + "a" * 5000 + "/dashboards/DOC", "pat"),
        {},
        True,
    ),
    ("document flows by id", ("/api/v1/projects/alpha/flows/DOC", "pat"), {}, False),
    (
        "document service account slug",
        ("/api/v1/projects/ci@alpha/dashboards/DOC", "pat"),
        {},
        True,
    ),
    (
        "verify two bearer headers",
        (VERIFY, "pat"),
        {"HTTP_AUTHORIZATION": "Bearer a, Bearer b"},
        True,
    ),
    ("verify upper-case scheme", (VERIFY, "pat"), {"scheme": "BEARER"}, True),
    ("verify overlong bearer", (VERIFY, "A" * 9000), {}, True),
    ("verify chunked", (VERIFY, "pat"), {"HTTP_TRANSFER_ENCODING": "chunked"}, False),
    ("verify options", (VERIFY, "pat"), {"method": "OPTIONS"}, False),
    ("check empty and trailing pairs", (CHECK, "pat", "project=alpha&"), {}, False),
    ("check value with '='", (CHECK, "pat", "project=alpha=x"), {}, True),
    (
        "check two original methods",
        (CHECK, "export", QUERY),
        {"HTTP_X_ORIGINAL_METHOD": "GET, POST"},
        True,
    ),
    ("check overlong method", (CHECK, "pat"), {"HTTP_X_ORIGINAL_METHOD": "X" * 5000}, True),
    ("verify every optional field", (VERIFY, "every"), {}, True),
    ("check every optional field", (CHECK, "every", QUERY), {}, True),
    ("verify a secret in its grace", (VERIFY, "old"), {}, True),
    ("check a secret in its grace", (CHECK, "old", QUERY), {}, True),
    ("verify expired", (VERIFY, "expired"), {}, True),
    ("check expired", (CHECK, "expired", QUERY), {}, True),
    ("verify a service account's key", (VERIFY, "robot"), {}, True),
    ("check a service account's key", (CHECK, "robot", QUERY), {}, True),
    ("document by a service account's key", (DOC, "robot"), {}, True),
]
# The same, with TOKENAPP_FORWARD_RULES: a check naming neither project nor scope.
RULES_TABLE = [
    ("rules nginx match", (CHECK, "view"), nginx(), True),
    ("rules caddy or traefik match", (CHECK, "view"), forwarded("HEAD", "/reports/?x=1"), True),
    ("rules second rule", (CHECK, "narrow"), forwarded("GET", "/flows/7", "any.intranet"), True),
    ("rules match refuses the method", (CHECK, "view"), forwarded("DELETE"), True),
    ("rules no match: host", (CHECK, "view"), forwarded(host="other.intranet"), True),
    ("rules no match: dot segments", (CHECK, "view"), forwarded(uri="/reports/%2e%2e/x"), True),
    ("rules no uri", (CHECK, "view"), {}, True),
    ("rules the query decides", (CHECK, "view", QUERY), forwarded(host="other.intranet"), True),
    (
        "rules conflicting uris",
        (CHECK, "view"),
        {**forwarded(), "HTTP_X_ORIGINAL_URI": "/flows/1"},
        True,
    ),
]
ROWS = [("plain", *row) for row in TABLE] + [("rules", *row) for row in RULES_TABLE]


@pytest.mark.parametrize(
    ("app_overrides", "name", "args", "extra", "fast"),
    ROWS,
    ids=[row[1] for row in ROWS],
    indirect=["app_overrides"],
)
def test_fast_path_answers_as_flask_does(app, secrets, name, args, extra, fast):
    path, secret, *query = args
    path = path.replace("DOC", secrets["DOC"]).replace("KEY", secrets["KEY"])
    extra = dict(extra)
    if secret and secret in secrets:
        secret = secrets[secret]
    if "query" not in extra and query:
        extra["query"] = query[0].replace("SECRET", secrets["pat"])
    env = environ(path, secret, **extra)
    assert isinstance(app.wsgi_app, FastPath)
    if "spent" in name:  # the window's one request, so that both answers are the 429
        assert answer(app.wsgi_app.inner, env)[0].startswith(("200", "204", "404"))
    if env["REQUEST_METHOD"] == "GET":  # answer() is asked only for GET
        route = app.wsgi_app.route(path)
        assert (route is not None and app.wsgi_app.answer(dict(env), route) is not None) is fast
    counted = counters()
    fast_answer = answer(app.wsgi_app, env)
    fast_counted = counters()
    flask_answer = answer(app.wsgi_app.inner, env)
    assert _steady(fast_answer) == _steady(flask_answer)
    assert changes(counted, fast_counted) == changes(fast_counted, counters())
    assert changes(counted, fast_counted)  # each answer is counted


def counters() -> dict:
    """The counts of /metrics (requests by group and outcome, 429s, latency observations)."""
    registry = metrics._get()["registry"]
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in registry.collect()
        for s in family.samples
        if s.name.endswith(("_total", "_count"))
    }


def changes(before: dict, after: dict) -> dict:
    return {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key)}


def _steady(answer):
    # A rate-limited credential counts down between the two requests.
    status, headers, body = answer
    return status, [h for h in headers if h[0] != "RateLimit-Remaining"], body


@pytest.mark.parametrize("app_overrides", [{"FAST_PATH": False}])
def test_the_fast_path_can_be_switched_off(app):
    assert not isinstance(app.wsgi_app, FastPath)


@pytest.mark.parametrize("app_overrides", [{}])
def test_the_fast_path_is_on_by_default(app):
    assert isinstance(app.wsgi_app, FastPath)


def test_a_pat_s_membership_comes_with_its_lookup_and_its_removal_counts_at_once(
    app, make_user, make_project, make_token
):
    owner, viewer = make_user("owner"), make_user("viewer")
    project = make_project("alpha", owner=owner, members=[(viewer, "viewer")])
    doc = documents.create(project, "dashboards", {"a": 1}, user_id=owner.id, creator="owner")
    secret = make_token(["dashboard"], user=viewer)[1]
    principal = auth.principal_for(secret, "alpha")
    assert principal.member_of == ("alpha", project.id, "viewer")
    assert auth.principal_for(secret, "beta").member_of is None
    assert auth.principal_for(secret).member_of is None
    read = environ(f"{DOCS}/{doc.id}", secret)
    check = environ(CHECK, secret, query="project=alpha&scope=dashboard:view")
    assert app.wsgi_app.answer(dict(read), app.wsgi_app.route(read["PATH_INFO"]))[0] == "200 OK"
    assert answer(app.wsgi_app, check)[0].startswith("204")
    Membership.delete().where(Membership.user == viewer.id).execute()
    assert answer(app.wsgi_app, read)[0].startswith("404")
    assert answer(app.wsgi_app, check)[0].startswith("403")
