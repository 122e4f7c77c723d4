"""Placeholder landing page until the page groups land."""

from flask import render_template

from . import bp


@bp.get("/")
def index():
    return render_template("base.html")
