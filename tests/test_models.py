"""Models and what they store: bcrypt passwords, digests not secrets, uniqueness."""

import pytest
from conftest import PASSWORD

from tokenapp import accounts
from tokenapp import credentials
from tokenapp import lifecycle
from tokenapp import projects
from tokenapp.models import Credential
from tokenapp.models import Secret
from tokenapp.models import User


def test_password_is_stored_as_a_bcrypt_hash(make_user):
    user = make_user("alice")
    stored = User.get_by_id(user.id).password_hash
    assert stored.startswith(accounts.HASH_MARKER + "$2b$")
    assert PASSWORD not in stored
    assert accounts.password_matches(User.get_by_id(user.id), PASSWORD)
    assert not accounts.password_matches(User.get_by_id(user.id), PASSWORD + "x")


def test_long_passwords_keep_every_character(make_user):
    long = "p" * 100
    user = make_user("longpw", password=long)
    assert accounts.password_matches(user, long)
    assert not accounts.password_matches(user, "p" * 99 + "q")


@pytest.mark.parametrize("kind", ["pat", "full"])
def test_only_the_digest_of_a_secret_is_stored(make_user, make_project, kind):
    user = make_user()
    project = make_project(owner=user) if kind == "full" else None

    credential, secret = lifecycle.issue(
        kind, user, "n", project=project, scopes=["dashboard"] if kind == "pat" else None
    )
    row = Secret.get(Secret.credential == credential.id)
    assert row.digest == credentials.digest(secret)
    assert row.clear is None
    assert row.hint == secret[:8]


def test_export_keys_are_kept_in_the_clear_to_be_shown_again(make_user, make_project, make_key):
    user = make_user()
    credential, secret = make_key(make_project(owner=user), user, "export")

    assert lifecycle.export_secret(credential) == secret


def test_usernames_are_unique_whatever_the_case(make_user):
    make_user("Alice")
    assert User.get_by_id(User.get(User.username == "alice").id).username == "alice"
    with pytest.raises(accounts.AccountError):
        make_user("ALICE")


def test_a_user_is_a_member_of_a_project_once(make_user, make_project):
    user = make_user()
    project = make_project(owner=user)
    with pytest.raises(projects.ProjectConflict):
        projects.add_member(project, user, "viewer")


def test_credential_state_follows_revocation_and_expiry(app, clock, make_token):
    app.config["CLOCK"] = clock
    credential, _ = make_token(days=1)
    assert credential.state == "active"
    clock.advance(days=1)
    assert Credential.get_by_id(credential.id).state == "expired"

    lifecycle.revoke(credential)
    assert Credential.get_by_id(credential.id).state == "revoked"
