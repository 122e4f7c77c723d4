"""prepared.Prepared: Python values in, as peewee takes them; converted values out."""

import datetime
import uuid

import peewee
import pytest
from peewee import CharField

from tokenapp import db
from tokenapp.models import Credential
from tokenapp.models import User
from tokenapp.prepared import Prepared
from tokenapp.prepared import memo

_since = Prepared(
    lambda credential, since, user: (
        Credential.select(Credential.id, Credential.created_at, Credential.scopes, User.is_active)
        .join(User)
        .where((Credential.id == credential) & (Credential.created_at >= since) & (User.id == user))
    ),
    credential=Credential.id,
    since=Credential.created_at,
    user=Credential.user,
)


def test_a_prepared_query_takes_python_values_and_gives_them_back(make_user, make_token):
    alice = make_user("alice")
    token, _ = make_token(["dashboard"], user=alice)
    minute = datetime.timedelta(minutes=1)
    row = _since.first(credential=token.id, since=token.created_at - minute, user=alice)
    assert row == {
        "id": token.id,
        "created_at": token.created_at,
        "scopes": ["dashboard"],
        "is_active": True,
    }
    assert _since.first(credential=token.id, since=token.created_at + minute, user=alice) is None
    assert _since.first(credential=uuid.uuid4(), since=token.created_at, user=alice.id) is None


def test_on_postgresql_it_runs_as_a_server_side_prepared_statement(make_user, make_token):
    if db.is_sqlite():
        pytest.skip("PREPARE is PostgreSQL's (SQLite keeps compiled statements itself)")
    alice = make_user("alice")
    token, _ = make_token(["dashboard"], user=alice)
    assert _since.first(credential=token.id, since=token.created_at, user=alice) is not None
    prepared = db.database.execute_sql("SELECT name, statement FROM pg_prepared_statements")
    statements = dict(prepared.fetchall())
    assert 'FROM "credential"' in statements[_since.name]
    # Asked again on the same connection: executed, not prepared a second time.
    assert _since.first(credential=token.id, since=token.created_at, user=alice) is not None


_kept = Prepared(
    lambda credential: Credential.select(
        Credential.id, Credential.scopes, Credential.revoked_at
    ).where(Credential.id == credential),
    convert={"scopes": memo(tuple), "revoked_at": memo(str)},
    credential=Credential.id,
)


def test_convert_replaces_a_column_s_conversion_and_memo_converts_each_value_once(make_token):
    token, _ = make_token(["dashboard", "documents:read"])
    first = _kept.first(credential=token.id)
    # convert's function gets the driver's value (the JSON text), not peewee's list;
    # NULL is NULL, not converted.
    assert first == {
        "id": token.id,
        "scopes": tuple('["dashboard","documents:read"]'),
        "revoked_at": None,
    }
    assert _kept.first(credential=token.id)["scopes"] is first["scopes"]
    calls = []
    double = memo(lambda value: calls.append(value) or value * 2, size=2)
    assert [double(1), double(1), double(2), double(3), double(1)] == [2, 2, 4, 6, 2]
    assert calls == [1, 2, 3, 1]  # kept per value, forgotten when full


class _Missing(db.BaseModel):
    """A table no migration makes."""

    name = CharField()


_missing = Prepared(lambda name: _Missing.select().where(_Missing.name == name), name=None)


def test_a_driver_error_comes_as_peewee_maps_it(ctx):
    # Prepared runs the driver's cursor itself when no query hook listens: peewee's error
    # classes (what callers catch) and the driver's error as `orig` must stay.
    assert not db.database.obj.query_hooks
    with pytest.raises(peewee.DatabaseError) as raised:
        _missing.first(name="x")
    assert isinstance(raised.value, peewee.OperationalError | peewee.ProgrammingError)
    assert "_missing" in str(raised.value.orig)
    if not db.is_sqlite():
        db.database.rollback()
