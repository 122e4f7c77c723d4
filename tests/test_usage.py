"""Usage per credential: counted in memory, flushed in batches, reported per hour, charted."""

import datetime
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import assert_problem
from conftest import bearer
from flask import render_template_string

from tokenapp import charts
from tokenapp import usage
from tokenapp.models import Credential
from tokenapp.models import Usage

VERIFY = "/api/v1/auth/verify"


@pytest.fixture
def timed(ctx, clock):
    ctx.config["CLOCK"] = clock
    ctx.config["USAGE_FLUSH_SECONDS"] = 3600  # only the explicit flushes below
    usage.flush()
    return clock


def _rows(credential):
    return {row.hour: row.count for row in Usage.select().where(Usage.credential == credential.id)}


def _usage(client, credential, secret):
    return client.get(
        f"/api/v1/personal-access-tokens/{credential.id}/usage", headers=bearer(secret)
    )


def test_requests_are_counted_in_memory_not_written_per_request(client, timed, make_token):
    credential, secret = make_token()
    for _ in range(3):
        client.get(VERIFY, headers=bearer(secret))
    assert _rows(credential) == {}
    usage.flush()
    assert _rows(credential) == {datetime.datetime(2030, 1, 1, 12): 3}


def test_usage_counts_can_be_switched_off_and_last_used_is_still_kept(client, timed, make_token):
    client.application.config["USAGE_COUNTS"] = False
    credential, secret = make_token()
    assert client.get(VERIFY, headers=bearer(secret)).status_code == 200
    usage.flush()
    assert _rows(credential) == {}
    assert Credential.get_by_id(credential.id).last_used == datetime.datetime(2030, 1, 1, 12)


def test_flushes_add_to_the_hour_already_stored(client, timed, make_token):
    credential, secret = make_token()
    client.get(VERIFY, headers=bearer(secret))
    usage.flush()
    client.get(VERIFY, headers=bearer(secret))
    client.get(VERIFY, headers=bearer(secret))
    usage.flush()
    assert _rows(credential) == {datetime.datetime(2030, 1, 1, 12): 3}


def test_flush_after_the_interval_in_the_request_hook(client, timed, make_token):
    credential, secret = make_token()
    client.get(VERIFY, headers=bearer(secret))
    assert _rows(credential) == {}
    timed_app = client.application
    timed_app.config["USAGE_FLUSH_SECONDS"] = 0
    client.get(VERIFY, headers=bearer(secret))
    assert _rows(credential) == {datetime.datetime(2030, 1, 1, 12): 2}


def test_flush_when_the_batch_grows_past_its_size(client, timed, make_token, monkeypatch):
    monkeypatch.setattr(usage, "FLUSH_SIZE", 2)
    first, first_secret = make_token()
    second, second_secret = make_token()
    client.get(VERIFY, headers=bearer(first_secret))
    assert _rows(first) == {}
    client.get(VERIFY, headers=bearer(second_secret))  # second key: the batch is full
    assert _rows(first) and _rows(second)


def test_counts_of_a_deleted_credential_do_not_sink_the_batch(client, timed, make_token):
    kept, kept_secret = make_token()
    gone, gone_secret = make_token()
    client.get(VERIFY, headers=bearer(kept_secret))
    client.get(VERIFY, headers=bearer(gone_secret))
    Credential.delete().where(Credential.id == gone.id).execute()
    assert usage.flush() == 1
    assert sum(_rows(kept).values()) == 1


def test_usage_endpoint_gives_hourly_buckets_for_seven_days(client, timed, make_token):
    credential, secret = make_token()
    client.get(VERIFY, headers=bearer(secret))  # 2030-01-01 12:00
    timed.advance(hours=2)
    for _ in range(4):
        client.get(VERIFY, headers=bearer(secret))  # 14:00
    response = _usage(client, credential, secret)  # the 5th request of 14:00
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["hours"]) == 7 * 24
    assert body["hours"][-1] == {"hour": "2030-01-01T14:00:00Z", "count": 5}
    assert body["hours"][-3] == {"hour": "2030-01-01T12:00:00Z", "count": 1}
    assert body["total"] == 6
    assert body["from"] == "2029-12-25T15:00:00Z" and body["to"] == "2030-01-01T15:00:00Z"
    assert body["days"][-1] == {"day": "2030-01-01", "count": 6}
    assert sum(day["count"] for day in body["days"]) == 6


def test_hours_older_than_seven_days_drop_out(client, timed, make_token):
    credential, secret = make_token(days=30)
    client.get(VERIFY, headers=bearer(secret))
    timed.advance(days=7)
    body = _usage(client, credential, secret).get_json()
    assert body["total"] == 1  # only this request; the first is 7 days old
    assert body["hours"][0]["hour"] == "2030-01-01T13:00:00Z"


def test_usage_of_another_users_token_is_404(client, timed, make_token):
    mine, secret = make_token()
    theirs, _ = make_token()
    assert_problem(_usage(client, theirs, secret), 404)


def test_project_keys_cannot_read_token_usage(client, timed, make_user, make_project, make_key):
    owner = make_user()
    key, secret = make_key(make_project(owner=owner), owner, "full")
    assert_problem(_usage(client, key, secret), 403)


@pytest.mark.backend_independent
def test_counts_pending_at_exit_are_written(tmp_path):
    url = f"sqlite:///{tmp_path / 'exit.db'}"
    script = textwrap.dedent(
        f"""
        from tokenapp import create_app, db, lifecycle, accounts, usage
        from tokenapp.models import User
        app = create_app({{"DATABASE_URL": {url!r}, "BCRYPT_ROUNDS": 4}})
        with app.app_context():
            db.migrate()
            with db.database.connection_context():
                user = accounts.create_user("alice", "correct horse battery")
                _, secret = lifecycle.issue("pat", user, "t", scopes=["dashboard"])
        client = app.test_client()
        for _ in range(3):
            assert client.get("/api/v1/auth/verify",
                              headers={{"Authorization": "Bearer " + secret}}).status_code == 200
        """
    )
    env = dict(os.environ, TOKENAPP_INSTANCE_PATH=str(tmp_path / "instance"))
    subprocess.run([sys.executable, "-c", script], check=True, env=env, timeout=60)
    import sqlite3

    with sqlite3.connect(tmp_path / "exit.db") as conn:
        assert conn.execute("SELECT SUM(count) FROM usage").fetchone() == (3,)


@pytest.mark.backend_independent
def test_chart_is_svg_without_style_attributes_or_script():
    start = datetime.datetime(2030, 1, 1, 0)
    hours = [(start + datetime.timedelta(hours=n), n % 5) for n in range(48)]
    svg = str(charts.hourly_chart(hours, 'Requests <"quoted">'))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "style=" not in svg and "<script" not in svg.lower()
    assert svg.count("<rect") == sum(1 for _, count in hours if count)
    assert "&lt;&quot;quoted&quot;&gt;" in svg and '<"quoted">' not in svg
    assert "Jan 01" in svg and "Jan 02" in svg  # one tick per day
    assert 'role="img"' in svg


@pytest.mark.backend_independent
def test_a_day_starting_near_the_right_edge_keeps_its_label_inside_the_chart():
    # 7 days ending two hours after a midnight, as on a token page at 02:00.
    start = datetime.datetime(2030, 1, 1, 3)
    hours = [(start + datetime.timedelta(hours=n), 1) for n in range(7 * 24)]
    svg = str(charts.hourly_chart(hours, "Requests"))
    last = svg.rindex("<text")
    assert "Jan 08" in svg[last:]
    assert f'x="{charts.WIDTH:.1f}"' in svg[last:] and 'text-anchor="end"' in svg[last:]


@pytest.mark.backend_independent
def test_chart_of_no_requests_says_so():
    start = datetime.datetime(2030, 1, 1, 0)
    svg = str(charts.hourly_chart([(start, 0)], "Requests"))
    assert "<rect" not in svg
    assert "0 requests" in svg


def test_usage_partial_renders_for_any_credential(
    app, ctx, timed, make_user, make_project, make_key
):
    owner = make_user()
    key, _ = make_key(make_project(owner=owner), owner, "export")
    with app.test_request_context():
        page = render_template_string('{% include "partials/usage_chart.html" %}', credential=key)
    assert "<svg" in page and "0 requests in the last 7 days" in page


def test_token_page_shows_the_usage_chart(client, auth, timed, make_user, make_token):
    user = make_user("alice")
    credential, secret = make_token(user=user)
    client.get(VERIFY, headers=bearer(secret))
    auth.login("alice")
    page = client.get(f"/tokens/{credential.id}").get_data(as_text=True)
    assert "<svg" in page and "1 request in the last 7 days" in page
    assert "<rect" in page and "style=" not in page.split("<svg")[1].split("</svg>")[0]
