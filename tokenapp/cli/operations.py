"""Operating commands: backup, leaked-secret scan, audit export, expiry notices."""

import json
import os
import sys

import click
from flask import current_app
from flask.cli import AppGroup
from flask.cli import with_appcontext

from .. import audit
from .. import notices
from .. import public_revoke
from ..models import AuditEvent
from . import database
from . import say

audit_group = AppGroup("audit", help="The audit log.")


@audit_group.command("export")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="From this UTC day on.")
@click.option("--project", "slug", help="Only this project's events.")
def audit_export(since, slug):
    """Print audit events as JSON lines, oldest first, on stdout.

    Example: tokenapp audit export --since 2030-01-01 --project billing > audit.jsonl
    """
    with database():
        query = audit.search(project=slug, since=since).order_by(AuditEvent.at, AuditEvent.id)
        for event in query.iterator():
            click.echo(json.dumps(audit.as_dict(event), separators=(",", ":")))


@click.command("notify-expiring")
@with_appcontext
def notify_expiring_command():
    """Send webhook notices for tokens expiring within 7 days and 1 day (once each),
    and for credentials a public report revoked.

    Run it from cron or a systemd timer, e.g. hourly; several nodes may run it at once.

    A failed delivery is logged, does not stop the others and is retried on the next
    run; the exit status is the number that failed (at most 100), 0 when none did.

    Example: tokenapp notify-expiring
    """
    with database():
        expiring = notices.notify_expiring()
        reported = public_revoke.notify_revoked()  # credentials a public report revoked
    outcome = notices.Outcome(*(a + b for a, b in zip(expiring, reported, strict=True)))
    if outcome.failed:
        say(
            f"Sent {outcome.delivered} expiry notice(s); {outcome.failed} failed "
            "(logged above, retried on the next run)."
        )
        sys.exit(min(outcome.failed, 100))
    say(f"Sent {outcome.delivered} expiry notice(s).")


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Replace PATH if it exists.")
@with_appcontext
def backup_command(path, force):
    """Copy the SQLite database to PATH, consistently, while the app runs.

    Uses SQLite's online backup API, then checks the copy (integrity_check).
    For PostgreSQL it explains pg_dump and exits non-zero.

    Example: tokenapp backup /var/backups/tokenapp-$(date +%F).db
    """
    from .. import backup

    url = current_app.config["DATABASE_URL"]
    source = backup.sqlite_path(url)
    if source is None:
        say(backup.pg_dump_advice(url))
        sys.exit(2)
    if not force and os.path.lexists(path) and os.path.realpath(path) != os.path.realpath(source):
        raise click.ClickException(f"{path} exists; add --force to replace it.")
    try:
        facts = backup.backup_sqlite(source, path)
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from None
    say(f"Backed up {source} to {facts['path']} ({facts['bytes']} bytes); integrity_check ok.")


@click.command("scan")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True))
@click.option("--revoke", is_flag=True, help="Revoke every live credential found.")
@with_appcontext
def scan_command(paths, revoke):
    """Find tokenapp secrets in files (prefix and checksum) and say which are live.

    Prints FILE:LINE: KIND ID STATE (HINT) for each, never a whole secret;
    STATE is live, revoked, expired, replaced or unknown. Exits 1 when a live secret was
    found (even if --revoke revoked it), 0 otherwise. Skips .git and binary files.

    Example: tokenapp scan . --revoke
    """
    from .. import scan

    with database(needs_schema=False):  # a scan works, less precisely, without tables
        if not scan.has_schema():
            say("This database has no tokenapp tables (tokenapp init?): states are unknown.")
        findings = scan.scan(paths, revoke=revoke)
    for finding in findings:
        click.echo(str(finding))
    live = {f.credential_id for f in findings if f.state == "live"}
    revoked = {f.credential_id for f in findings if f.revoked_now}
    say(
        f"{len(findings)} secret(s) found, {len(live)} live credential(s)"
        + (f", {len(revoked)} revoked now." if revoke else ".")
    )
    if live:
        sys.exit(1)
