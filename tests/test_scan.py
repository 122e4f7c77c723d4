"""`tokenapp scan`: leaked secrets by prefix and checksum, their state, --revoke."""

import pytest
from conftest import bearer

from tokenapp import credentials
from tokenapp import lifecycle
from tokenapp.models import AuditEvent

VERIFY = "/api/v1/auth/verify"


def _bad_checksum(secret: str) -> str:
    last = secret[-1]
    return secret[:-1] + ("A" if last != "A" else "B")


def _tree(tmp_path, make_token, make_project, make_key):
    user_token, live_pat = make_token(["dashboard"])
    revoked_token, revoked_pat = make_token(["dashboard"])
    lifecycle.revoke(revoked_token)
    project = make_project()
    owner = project.memberships.get().user
    export_key, export_secret = make_key(project, owner, kind="export")

    root = tmp_path / "repo"
    (root / "config").mkdir(parents=True)
    (root / "src").mkdir()
    (root / ".git").mkdir()
    (root / "config" / "settings.env").write_text(f"# ci\nAPI_TOKEN={live_pat}\n")
    (root / "notes.md").write_text(
        f"old token, revoked:\n\n`{revoked_pat}`\nlook-alike: {_bad_checksum(live_pat)}\n"
    )
    (root / "src" / "client.py").write_text(
        "import os\n"
        f'KEY = "{export_secret}"  # pasted by mistake\n'
        f'EXAMPLE = "tkp_{"x" * 36}"\n'
        f'ALSO_NOT = "{_bad_checksum(export_secret)}"\n'
    )
    (root / ".git" / "config").write_text(f"token = {live_pat}\n")  # .git is skipped
    (root / "blob.bin").write_bytes(b"\0\1\2" + live_pat.encode())  # binary: skipped
    expected = {
        (f"{root}/config/settings.env:2", "pat", str(user_token.id), "live"),
        (f"{root}/notes.md:3", "pat", str(revoked_token.id), "revoked"),
        (f"{root}/src/client.py:2", "export", str(export_key.id), "live"),
    }
    return root, expected, (live_pat, revoked_pat, export_secret)


def _parse(output: str) -> list[tuple[str, str, str, str]]:
    found = []
    for line in output.splitlines():
        where, _, rest = line.rpartition(": ")
        kind, ident, state, _hint = rest.split(" ", 3)
        found.append((where, kind, ident, state.rstrip(",")))
    return found


def test_scan_reports_exactly_the_live_and_revoked_secrets(
    runner, tmp_path, make_token, make_project, make_key
):
    root, expected, secrets = _tree(tmp_path, make_token, make_project, make_key)
    result = runner.invoke(args=["scan", str(root)])
    assert result.exit_code == 1, result.output
    assert sorted(_parse(result.stdout)) == sorted(expected)
    for secret in secrets:  # never the whole secret, only the hint
        assert secret not in result.output
        assert credentials.hint(secret) in result.stdout


def test_scan_revoke_stops_the_live_ones(
    runner, client, tmp_path, make_token, make_project, make_key
):
    root, _, (live_pat, revoked_pat, export_secret) = _tree(
        tmp_path, make_token, make_project, make_key
    )
    assert client.get(VERIFY, headers=bearer(live_pat)).status_code == 200
    assert client.get(VERIFY, headers=bearer(export_secret)).status_code == 200

    result = runner.invoke(args=["scan", "--revoke", str(root)])
    assert result.exit_code == 1, result.output  # live secrets were found
    assert result.stdout.count("live, revoked now") == 2
    for secret in (live_pat, export_secret, revoked_pat):
        assert client.get(VERIFY, headers=bearer(secret)).status_code == 401

    events = AuditEvent.select().where(
        (AuditEvent.action == "credential.revoke") & (AuditEvent.actor_name == "tokenapp scan")
    )
    assert events.count() == 2
    assert all(event.actor_id is None for event in events)

    again = runner.invoke(args=["scan", str(root)])
    assert again.exit_code == 0, again.output
    assert {state for *_, state in _parse(again.stdout)} == {"revoked"}


def test_scan_says_expired_and_unknown(runner, ctx, clock, tmp_path, make_token):
    ctx.config["CLOCK"] = clock
    _, expiring = make_token(["dashboard"], days=1)
    clock.advance(days=2)
    stranger = credentials.mint("full")  # well-formed, not in this database
    leak = tmp_path / "leak.txt"
    leak.write_text(f"{expiring}\n{stranger} {stranger}\n")
    result = runner.invoke(args=["scan", str(leak)])
    assert result.exit_code == 0, result.output
    states = sorted((where, kind, state) for where, kind, _, state in _parse(result.stdout))
    assert states == [
        (f"{leak}:1", "pat", "expired"),
        (f"{leak}:2", "full", "unknown"),
        (f"{leak}:2", "full", "unknown"),
    ]


def test_scan_of_a_clean_tree_exits_zero(runner, tmp_path):
    (tmp_path / "a.txt").write_text("nothing to see: tkp_short and tke_\n")
    result = runner.invoke(args=["scan", str(tmp_path)])
    assert result.exit_code == 0 and result.stdout == ""


@pytest.mark.backend_independent
def test_scan_without_tokenapp_tables_says_unknown(tmp_path, monkeypatch):
    from tokenapp import create_app
    from tokenapp import db

    monkeypatch.setenv("TOKENAPP_INSTANCE_PATH", str(tmp_path / "instance"))
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"})
    leak = tmp_path / "leak.txt"
    leak.write_text(credentials.mint("pat") + "\n")
    try:
        result = app.test_cli_runner().invoke(args=["scan", str(leak)])
    finally:
        db.database.close_all()
    assert result.exit_code == 0, result.output
    assert "no tokenapp tables" in result.output
    assert result.stdout.strip().endswith(")") and " unknown (" in result.stdout


def _glued_lines(secret: str) -> list[str]:
    return [
        f"MY_TOKEN_{secret}",
        f"{secret}_prod",
        f"export DEPLOY_{secret}_OLD=1",
        f"prefix{secret}suffix",
        f"url=https://x.example/?key={secret}&v=2",
    ]


def test_scan_finds_secrets_glued_to_words(runner, tmp_path, make_token):
    _, secret = make_token(["dashboard"])
    leak = tmp_path / "glued.env"
    lines = _glued_lines(secret)
    leak.write_text("\n".join(lines) + "\n")
    result = runner.invoke(args=["scan", str(leak)])
    assert result.exit_code == 1, result.output
    found = [(where, state) for where, _, _, state in _parse(result.stdout)]
    assert found == [(f"{leak}:{n}", "live") for n in range(1, len(lines) + 1)]
    assert secret not in result.output


def test_scan_ignores_glued_look_alikes(runner, tmp_path, make_token):
    _, secret = make_token(["dashboard"])
    bad = _bad_checksum(secret)
    leak = tmp_path / "near.env"
    leak.write_text("\n".join(_glued_lines(bad)) + f"\nTOKEN_{secret[:-1]}\n")
    result = runner.invoke(args=["scan", str(leak)])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


ENCODINGS = {
    "utf-16-le-bom": lambda text: b"\xff\xfe" + text.encode("utf-16-le"),
    "utf-16-be-bom": lambda text: b"\xfe\xff" + text.encode("utf-16-be"),
    "utf-16-le": lambda text: text.encode("utf-16-le"),
    "utf-16-be": lambda text: text.encode("utf-16-be"),
    "utf-8-bom": lambda text: text.encode("utf-8-sig"),
    "utf-32-bom": lambda text: text.encode("utf-32"),
    "latin-1": lambda text: text.encode("latin-1"),
    "cp1252": lambda text: text.encode("cp1252"),
}


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_scan_reads_files_in_other_encodings(runner, tmp_path, make_token, encoding):
    _, secret = make_token(["dashboard"])
    text = f'# Zugangsdaten für café – € …\r\nNAME=x\r\nAPI_TOKEN = "{secret}"\r\n'
    if encoding == "latin-1":
        text = text.replace("– € …", "ÿ")
    leak = tmp_path / f"settings.{encoding}.ps1"
    leak.write_bytes(ENCODINGS[encoding](text))
    result = runner.invoke(args=["scan", str(leak)])
    assert result.exit_code == 1, result.output
    assert [(w, s) for w, _, _, s in _parse(result.stdout)] == [(f"{leak}:3", "live")]


def test_scan_near_miss_in_utf16_is_not_reported(runner, tmp_path, make_token):
    _, secret = make_token(["dashboard"])
    leak = tmp_path / "near.txt"
    leak.write_bytes(f"TOKEN={_bad_checksum(secret)}\n".encode("utf-16"))
    result = runner.invoke(args=["scan", str(leak)])
    assert result.exit_code == 0 and result.stdout == "", result.output


def test_scan_still_skips_binary_files_with_nul_bytes(runner, tmp_path, make_token):
    _, secret = make_token(["dashboard"])
    blob = tmp_path / "image.bin"
    blob.write_bytes(bytes(range(256)) * 8 + secret.encode() + b"\0" * 64)
    result = runner.invoke(args=["scan", str(blob)])
    assert result.exit_code == 0 and result.stdout == "", result.output
