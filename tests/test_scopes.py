"""The scope catalogue as plain functions, and a broken catalogue failing at start."""

import textwrap

import pytest

from tokenapp import create_app
from tokenapp import scopes
from tokenapp.config import ImproperlyConfigured

# The catalogue as plain functions and apps that stop at start: no test reaches the database.
pytestmark = pytest.mark.backend_independent


@pytest.fixture(scope="module")
def catalogue():
    return scopes.load()


def test_default_catalogue_lists_every_scope_of_the_design(catalogue):
    assert set(catalogue.scopes) == {
        "automation",
        "company",
        "connector_auth",
        "connectors",
        "dashboard",
        "embed",
    }
    assert "automation:webhook_run" in catalogue.scope_strings
    assert "dashboard:webhook_run" not in catalogue.scope_strings
    assert set(catalogue.entities) >= {"flows", "users", "teams", "embeds", "transforms"}


@pytest.mark.parametrize(
    ("scope", "entity", "op", "allowed"),
    [
        ("dashboard", "dashboards", "delete", True),
        ("dashboard:manage", "dashboards", "update", True),
        ("dashboard:manage", "dashboards", "delete", False),
        ("dashboard:view", "dashboards", "read", True),
        ("dashboard:view", "dashboards", "create", False),
        ("dashboard", "flows", "read", False),
        ("automation", "flows", "run", True),
        ("automation", "connector-auths", "read", True),
        ("automation", "connector-auths", "update", False),
        ("automation:manage", "flows", "delete", False),
        ("automation:view", "flows", "run", False),
        ("automation:webhook_run", "flows", "webhook", True),
        ("automation:webhook_run", "flows", "run", False),
        ("automation:webhook_run", "flows", "read", False),
        ("company", "users", "create", True),
        ("embed:view", "embeds", "read", True),
    ],
)
def test_extension_narrows_what_a_scope_allows(catalogue, scope, entity, op, allowed):
    assert catalogue.allows([scope], entity, op) is allowed


def test_project_keys_every_scope_allows_everything(catalogue):
    assert catalogue.allows(None, "users", "delete")
    assert catalogue.allows(None, "flows", "webhook")


@pytest.mark.parametrize(
    ("have", "want", "covered"),
    [
        (["dashboard"], ["dashboard:view"], True),
        (["dashboard:view"], ["dashboard"], False),
        (["dashboard:manage"], ["dashboard:view"], True),
        (["automation"], ["automation:webhook_run"], True),
        (["automation:webhook_run"], ["automation:view"], False),
        (["automation"], ["company:view"], False),
        (["dashboard", "embed"], ["embed:view", "dashboard:manage"], True),
        (None, ["company"], True),
    ],
)
def test_covers_compares_what_scopes_allow(catalogue, have, want, covered):
    assert catalogue.covers(have, want) is covered


@pytest.mark.parametrize(
    "bad",
    ["nope", "dashboard:nope", "embed:webhook_run", "", ":view", "dashboard:", 7, None],
)
def test_validate_refuses_unknown_scopes_naming_the_value(catalogue, bad):
    with pytest.raises(scopes.InvalidScope) as info:
        catalogue.validate(bad)
    assert repr(bad) in str(info.value) or str(bad) in str(info.value)


def test_needed_names_the_narrowest_scope(catalogue):
    assert catalogue.needed("dashboards", "read") == "dashboard:view"
    assert catalogue.needed("flows", "webhook") == "automation:webhook_run"
    assert catalogue.needed("nowhere", "read") is None


GOOD_EXTENSIONS = '[extensions]\n"" = ["read", "create"]\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("this is = not [toml", "scope catalogue"),
        ('[scopes.a]\nextensions = [""]\n[scopes.a.entities]\nx = ["read"]\n', "extensions"),
        (GOOD_EXTENSIONS, "scopes"),
        (GOOD_EXTENSIONS + "[scopes]\n", "no scopes"),
        (
            GOOD_EXTENSIONS + '[scopes.a]\nextensions = [""]\n[scopes.a.entities]\nx = ["fly"]\n',
            "unknown operations ['fly']",
        ),
        (
            GOOD_EXTENSIONS + '[scopes.a]\nextensions = ["x"]\n[scopes.a.entities]\nx = ["read"]\n',
            "unknown extension 'x'",
        ),
        (GOOD_EXTENSIONS + '[scopes.a]\nextensions = [""]\n[scopes.a.entities]\n', "no entities"),
        (GOOD_EXTENSIONS + '[scopes."a:b"]\nextensions = [""]\nentities = {x = ["read"]}\n', "a:b"),
        (GOOD_EXTENSIONS + "[scopes.a]\nextensions = 3\n", "scope catalogue"),
    ],
    ids=[
        "not-toml",
        "no-extensions",
        "no-scopes-table",
        "empty-scopes",
        "unknown-operation",
        "unknown-extension",
        "no-entities",
        "colon-in-name",
        "wrong-type",
    ],
)
def test_invalid_catalogue_fails_with_a_clear_message(tmp_path, text, message):
    path = tmp_path / "scopes.toml"
    path.write_text(textwrap.dedent(text))
    with pytest.raises(scopes.CatalogueError) as info:
        scopes.load(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_missing_catalogue_file_names_the_path(tmp_path):
    with pytest.raises(scopes.CatalogueError, match="nowhere.toml"):
        scopes.load(tmp_path / "nowhere.toml")


def test_replacement_catalogue_is_used(tmp_path):
    path = tmp_path / "scopes.toml"
    path.write_text(
        GOOD_EXTENSIONS + '[scopes.notes]\nextensions = [""]\n[scopes.notes.entities]\n'
        'notes = ["read"]\n'
    )
    catalogue = scopes.load(path)
    assert catalogue.scope_strings == ["notes"]
    assert catalogue.allows(["notes"], "notes", "read")


def test_app_refuses_to_start_with_a_broken_catalogue(tmp_path, monkeypatch):
    path = tmp_path / "broken.toml"
    path.write_text("[extensions\n")
    monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.setenv("TOKENAPP_SCOPES_FILE", str(path))
    with pytest.raises(ImproperlyConfigured) as info:
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert str(path) in str(info.value)
    assert "TOKENAPP_SCOPES_FILE" in str(info.value)


@pytest.mark.parametrize("held", ["gone", "dashboard:gone", "dashboard:", 3, ""])
def test_a_held_scope_the_catalogue_does_not_know_grants_nothing(catalogue, held):
    # Held scopes (a token made under an earlier catalogue) are read, never refused.
    assert catalogue.grants([held]) == frozenset()
    assert catalogue.grants([held, "embed:view"]) == catalogue.grants(["embed:view"])
    assert not catalogue.allows([held], "embeds", "read")
    assert catalogue.covers(["embed:view"], [held])
    assert not catalogue.known(held)
    # Asked for, it is still refused by name.
    with pytest.raises(scopes.InvalidScope):
        catalogue.validate(held)
