"""Stub: replaced by the page group's real module."""

from flask import redirect
from flask import render_template
from flask import url_for
from flask_login import logout_user

from . import bp


@bp.get("/login")
def login():
    return render_template("base.html")


@bp.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("web.login"))
