"""Absolute URLs on the pages come from TOKENAPP_PUBLIC_URL, never from the Host header."""

from urllib.parse import urlsplit

import pytest
from markupsafe import escape
from test_web_keys import CSRF
from test_web_keys import SECRET
from test_web_keys import create_key
from test_web_keys import html
from test_web_keys import keys_url
from test_web_tokens import NEW
from test_web_tokens import form

from tokenapp import create_app
from tokenapp.config import ImproperlyConfigured

PUBLIC = "https://tokens.intranet.example/tokenapp"


@pytest.fixture
def member(make_user, make_project, auth):
    user = make_user()
    project = make_project(owner=user)
    assert auth.login(user.username).status_code in (302, 303)
    return user, project


def as_host(client, host: str) -> dict:
    """The signed-in browser sending another Host (the client's jar keys cookies by host)."""
    cookie = client.get_cookie("tokenapp_session")
    client.set_cookie(cookie.key, cookie.value, domain=urlsplit(f"//{host}").hostname)
    return {"HTTP_HOST": host}


def _post_token(client, host):
    page = html(client.get(NEW))
    token = CSRF.search(page).group(1)
    data = dict(form(note="deploy", dashboard="view"), csrf_token=token)
    return client.post(NEW, data=data, environ_overrides=as_host(client, host))


@pytest.mark.parametrize(
    "host",
    [
        "evil.example",
        "evil.example:80",
        "localhost.evil.example",
        "127.0.0.1.evil.example",
        "evil.example@localhost",
        "10.0.0.1",
    ],
)
def test_key_page_never_puts_the_host_header_in_front_of_the_export_key(client, member, host):
    _, project = member
    assert create_key(client, project, "export").status_code == 303
    page = html(client.get(keys_url(project), environ_overrides=as_host(client, host)))
    secret = SECRET.search(page).group(0)
    assert host not in page and "evil" not in page
    url = f"$TOKENAPP_URL/api/v1/projects/{project.slug}/dashboards"
    assert str(escape(f'curl -H "Authorization: Bearer {secret}" {url}')) in page
    assert "export TOKENAPP_URL=" in page  # how to fill it in


def test_token_created_page_never_shows_the_host_header(client, member):
    response = _post_token(client, "evil.example")
    assert response.status_code == 201, html(response)
    page = html(response)
    assert "evil.example" not in page
    assert "$TOKENAPP_URL/api/v1/auth/verify" in page


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:8000", "[::1]:8000", "127.0.0.2"])
def test_a_loopback_host_is_shown_as_it_is(client, member, host):
    _, project = member
    create_key(client, project, "export")
    page = html(client.get(keys_url(project), environ_overrides=as_host(client, host)))
    assert f"http://{host}/api/v1/projects/{project.slug}/dashboards" in page
    assert "export TOKENAPP_URL=" not in page


@pytest.mark.parametrize("app_overrides", [{"PUBLIC_URL": PUBLIC + "/"}])
def test_public_url_is_used_whatever_the_host(client, member):
    _, project = member
    create_key(client, project, "export")
    for host in ("evil.example", "localhost"):
        page = html(client.get(keys_url(project), environ_overrides=as_host(client, host)))
        assert "evil.example" not in page and "http://localhost" not in page
        assert f"{PUBLIC}/api/v1/projects/{project.slug}/dashboards" in page
        assert f"{PUBLIC}/api/v1/auth/verify" in page
        assert "export TOKENAPP_URL=" not in page
    page = html(_post_token(client, "evil.example"))
    assert f"{PUBLIC}/api/v1/auth/verify" in page and "evil.example" not in page


@pytest.mark.backend_independent
def test_public_url_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("TOKENAPP_PUBLIC_URL", "https://tokens.example:8443")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert app.config["PUBLIC_URL"] == "https://tokens.example:8443"


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    "value",
    [
        "tokens.example",
        "ftp://tokens.example",
        "https://",
        "https:///path",
        "https://tokens.example/?next=x",
        "https://tokens.example/#top",
        "https://user:pw@tokens.example",
        "https://tokens.example:port",
        "https://tokens.example/a b",
        "https://tokens.example/$(id)",
        "https://tokens.example/;rm",
        "javascript:alert(1)",
        42,
    ],
)
def test_a_bad_public_url_stops_the_start(tmp_path, monkeypatch, value):
    monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    with pytest.raises(ImproperlyConfigured, match="TOKENAPP_PUBLIC_URL"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "PUBLIC_URL": value})
