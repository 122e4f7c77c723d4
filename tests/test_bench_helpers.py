"""The bench seeding helper: valid filler secrets, N live tokens, working fixtures."""

from bench import seed as seeding
from tokenapp import create_app
from tokenapp import credentials


def test_filler_secrets_are_valid_pats():
    for _ in range(200):
        parsed = credentials.parse(seeding.filler_secret())
        assert parsed.kind == "pat"


def test_seed_makes_n_live_tokens_and_working_fixtures(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(tmp_path))
    fixtures = seeding.seed(tmp_path / "instance", 250)
    assert fixtures["count"] == 250
    app = create_app({"DATABASE_URL": fixtures["database_url"]})
    client = app.test_client()
    for name in ("pat", "pat_limited", "export_key", "full_key"):
        response = client.get(
            "/api/v1/auth/verify", headers={"Authorization": f"Bearer {fixtures[name]}"}
        )
        assert response.status_code == 200, (name, response.get_json())
    response = client.get(
        f"/api/v1/projects/{fixtures['project']}/dashboards/{fixtures['document']}",
        headers={"Authorization": f"Bearer {fixtures['pat']}"},
    )
    assert response.status_code == 200
    assert response.get_json()["name"] == "bench"
