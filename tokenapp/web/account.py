"""Stub: replaced by the page group's real module."""

from flask import render_template
from flask_login import login_required

from . import bp


@bp.get("/account")
@login_required
def account():
    return render_template("base.html")
