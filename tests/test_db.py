"""db.Prepared: Python values in, as peewee takes them; converted values out."""

import datetime
import uuid

from tokenapp.db import Prepared
from tokenapp.models import Credential
from tokenapp.models import User

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
