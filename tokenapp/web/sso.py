"""/login/sso and its callback: the OpenID Connect authorization code flow with PKCE."""

import logging

from authlib.common.errors import AuthlibBaseError
from flask import abort
from flask import current_app
from flask import redirect
from flask import render_template
from flask import request
from flask import session
from flask import url_for
from joserfc.errors import JoseError
from requests import RequestException

from .. import audit
from .. import sso
from .. import throttle
from .. import twofactor
from .. import urls
from . import bp
from . import pending
from . import policy
from .session import safe_next
from .session import sign_in
from .session import throttled

log = logging.getLogger(__name__)
NEXT_KEY = "_sso_next"


def _refused(reason: str, status: int = 400):
    page = render_template("sso_refused.html", reason=reason)
    return page, status


@bp.get("/login/sso")
def login_sso():
    client = sso.client()
    if client is None:
        abort(404)
    if urls.is_placeholder():
        return _refused("Single sign-on needs TOKENAPP_PUBLIC_URL, the address people use.", 503)
    session[NEXT_KEY] = safe_next(request.args.get("next"))
    try:
        sso.check_issuer(client.load_server_metadata())
        return client.authorize_redirect(urls.absolute(url_for("web.login_sso_callback")))
    except (AuthlibBaseError, JoseError, RequestException, ValueError, sso.SignInRefused) as exc:
        log.warning("single sign-on: the provider cannot be used: %s", type(exc).__name__)
        return _refused("The sign-in provider cannot be reached or is misconfigured.", 502)


@bp.get("/login/sso/callback")
def login_sso_callback():
    client = sso.client()
    if client is None:
        abort(404)
    attempt = throttle.attempt("(sso)", request.remote_addr)
    if wait := throttle.retry_after(attempt):
        return throttled(wait)
    if request.args.get("error"):
        audit.record("login.sso.failure", detail={"reason": "provider"}, actor_name="sso")
        return _refused("The provider did not sign you in.")
    try:
        token = client.authorize_access_token()
        claims = dict(token["userinfo"])  # the verified ID token's claims
        extra = (
            client.userinfo(token=token)
            if client.load_server_metadata().get("userinfo_endpoint")
            else {}
        )
        if extra.get("sub") == claims["sub"]:  # OIDC Core 5.3.2: otherwise not to be used
            claims = {**extra, **claims}
        user = sso.user_for(claims)
    except sso.SignInRefused as exc:
        throttle.record_failure(attempt)
        audit.record("login.sso.failure", detail={"reason": "refused"}, actor_name="sso")
        return _refused(str(exc), 403)
    except (AuthlibBaseError, JoseError, RequestException, ValueError, KeyError) as exc:
        # The exception's class only: its text may quote a code or a token.
        reason = type(exc).__name__
        log.warning("single sign-on refused: %s", reason)
        throttle.record_failure(attempt)
        audit.record("login.sso.failure", detail={"reason": reason[:60]}, actor_name="sso")
        return _refused("The sign-in could not be verified. Start again.")
    next_url = session.pop(NEXT_KEY, None)
    if not policy.provider_did_mfa(claims) and twofactor.enabled(user):
        return pending.begin(user, next_url)  # our own second factor, as after a password
    sign_in(user)
    session[policy.SSO_MFA] = policy.provider_did_mfa(claims)
    audit.record("login.success", user, detail={"via": "sso"})
    return redirect(next_url or url_for("web.index"))


@bp.app_context_processor
def _sign_in_choices() -> dict:
    return {
        "sso_label": sso.button_label() if sso.enabled() else None,
        "password_login": password_login(),
    }


def password_login() -> bool:
    value = current_app.config.get("PASSWORD_LOGIN", True)
    return value not in (False, "false", "False", "0", 0)


@bp.before_app_request
def _refuse_password_sign_in():
    # TOKENAPP_PASSWORD_LOGIN=false: the password form is gone and its POST refused.
    if request.endpoint == "web.login" and request.method == "POST" and not password_login():
        abort(403)
