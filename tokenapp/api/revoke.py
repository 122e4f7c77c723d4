"""POST /api/v1/credentials/revoke: report leaked secrets, no credential needed."""

from flask import jsonify
from flask import request

from .. import public_revoke
from ..validation import read_body
from . import bp

ANSWER = {
    "status": "accepted",
    "detail": "Any live tokenapp credential among these secrets is now revoked and its "
    "owner told. This answer is the same whatever the secrets were.",
}


def _secrets(value):
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= public_revoke.MAX_SECRETS
        or not all(isinstance(item, str) for item in value)
    ):
        raise ValueError(f"Must be a list of 1 to {public_revoke.MAX_SECRETS} strings.")
    return value


@bp.post("/credentials/revoke")
def public_revoke_report():
    """Revoke leaked secrets: 202 whatever they were (no oracle); throttled per address.

    No credential: whoever finds a tokenapp secret (in a repository, a log, a
    paste) can stop it. Each live one is revoked at once on every worker and
    node, audited with the actor "public report", and its owner is told.
    """
    public_revoke.throttle(request.remote_addr)
    body = read_body({"credentials": _secrets}, required=("credentials",))
    public_revoke.report(body["credentials"])
    return jsonify(ANSWER), 202
