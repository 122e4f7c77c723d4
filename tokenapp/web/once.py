"""One-use forms: a POST that reveals a secret acts once, however often it is sent.

The page that shows a new secret is the response to the POST that made it
(the secret is never stored). A reload re-sends that POST; without this it
would mint yet another secret. Each such form carries a nonce; the session
remembers the last nonces used (a nonce is not a secret, so a signed cookie
is a fine place for it). A form sent without one, or with one no page of ours
issued, acts as before, so scripted clients keep working.
"""

import re
import secrets

from flask import flash
from flask import redirect
from flask import session
from flask import url_for
from wtforms import HiddenField

SESSION_KEY = "used_forms"
REMEMBERED = 32
NONCE_BYTES = 16
# The shape OnceField issues (token_urlsafe(16)): only such nonces are remembered, so a
# client sending huge ones cannot push its own session cookie past a browser's 4 KB.
NONCE = re.compile(r"[A-Za-z0-9_-]{22}")
ALREADY_DONE = (
    "This form was already submitted; the secret was shown once and cannot be shown again."
)


class OnceField(HiddenField):
    def __init__(self, **kwargs):
        super().__init__(default=lambda: secrets.token_urlsafe(NONCE_BYTES), **kwargs)


def claim(nonce: str | None, target: str = "") -> bool:
    """True the first time (nonce, target) is seen in this session; False after."""
    if not nonce or not NONCE.fullmatch(nonce):  # none, or not one a page of ours issued
        return True
    mark = f"{target}:{nonce}"
    used = session.get(SESSION_KEY, [])
    if mark in used:
        return False
    session[SESSION_KEY] = [*used, mark][-REMEMBERED:]
    return True


def replayed(form, target: str, endpoint: str, **values):
    """None the first time this form is sent for target; after that, the redirect
    (to endpoint) that says it was already done."""
    if claim(form.once.data, target):
        return None
    flash(ALREADY_DONE, "warning")
    return redirect(url_for(endpoint, **values), 303)
