"""bcrypt runs on one low-priority thread per process, not on the request's thread."""

import os
import threading

import pytest

from tokenapp import hashing


def where() -> tuple[str, int]:
    return threading.current_thread().name, os.getpriority(
        os.PRIO_PROCESS, threading.get_native_id()
    )


@pytest.mark.backend_independent
def test_hashing_runs_on_a_niced_thread_of_its_own():
    name, nice = hashing.run(where)
    assert name.startswith("bcrypt")
    assert name != threading.current_thread().name
    assert nice == hashing.NICE


def test_sign_in_still_checks_the_password(ctx, make_user):
    from tokenapp import accounts

    user = make_user("hasher", password="a long enough password")
    assert accounts.password_matches(user, "a long enough password")
    assert not accounts.password_matches(user, "another long password")
