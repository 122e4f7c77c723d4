"""Found by attacking forward auth's rules (attack15): host names as a proxy passes them."""

import pytest
from conftest import bearer

CHECK = "/api/v1/auth/check"
# A host's own rule first, then one for everything else (any member of acme passes).
RULES = """
[[rule]]
host = "admin.intranet"
project = "acme"
scope = "company"

[[rule]]
host = "[fd00::1]"
project = "acme"
scope = "company"

[[rule]]
project = "acme"
"""


@pytest.fixture
def app_overrides(tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    return {"FORWARD_RULES": str(rules)}


@pytest.mark.parametrize(
    "host",
    [
        "admin.intranet",
        "admin.intranet.",  # Caddy serves the site "admin.intranet" for it, and says it so
        "ADMIN.intranet.:8443",
        "[fd00::1]",
        "[fd00::1]:8443",
        "[FD00::1]",
    ],
)
def test_a_host_is_its_own_rule_however_written(client, make_user, make_project, make_token, host):
    alice = make_user("alice")
    make_project("acme", owner=alice)
    _, view = make_token(["dashboard:view"], user=alice)
    _, company = make_token(["company"], user=alice)
    original = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/users", "X-Forwarded-Host": host}
    refused = client.get(CHECK, headers={**bearer(view), **original})
    assert refused.status_code == 403, host  # not the laxer rule for every other host
    assert client.get(CHECK, headers={**bearer(company), **original}).status_code == 204
