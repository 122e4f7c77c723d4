"""Stub: replaced by the page group's real module."""
