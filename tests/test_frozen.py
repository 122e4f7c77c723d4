"""frozen.frozen: the hot path's Principal built without frozen's __init__, the same object."""

import dataclasses
import uuid

import pytest

from tokenapp.auth import Principal
from tokenapp.frozen import frozen

VALUES = {
    "user_id": 1,
    "username": "alice",
    "credential_id": uuid.uuid4(),
    "kind": "pat",
    "scopes": ("dashboard",),
    "project_id": None,
    "project_slug": None,
    "role": None,
    "expires_at": None,
    "secret_expires_at": None,
    "rate_limit": None,
    "ip_allowlist": None,
    "member_of": None,
    "service_account": False,
    "row": {"kept": True},
}


@pytest.mark.backend_independent
def test_it_is_the_object_the_constructor_makes_and_stays_frozen():
    built, made = frozen(Principal, **VALUES), Principal(**VALUES)
    assert built == made and hash(built) == hash(made) and repr(built) == repr(made)
    assert type(built) is Principal and built.read_only is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.scopes = None
    assert dataclasses.replace(built, kind="export").read_only is True


@pytest.mark.backend_independent
def test_every_field_and_no_other():
    missing = {name: value for name, value in VALUES.items() if name != "row"}
    with pytest.raises(TypeError):
        frozen(Principal, **missing)
    with pytest.raises(TypeError):
        frozen(Principal, **VALUES, extra=1)
