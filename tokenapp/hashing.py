"""bcrypt off the API's CPU: one low-priority thread per process does every hash.

A cost-12 check takes ~250 ms of CPU. Run on the request's own thread it
competes with the API at equal priority (and with sync workers holds the
worker outright): four people signing in stalled verify for half a second
(bench/signins.py). Here the hashing thread runs at nice 19, so API threads
take the CPU first, and a worker hashes one password at a time, so sign-ins
queue instead of occupying every core. The request thread waits for the result.
"""

import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
NICE = 19

_lock = threading.Lock()
_pool: dict[int, ThreadPoolExecutor] = {}  # by pid: a forked worker makes its own


def _lower_priority() -> None:
    try:
        # Linux: PRIO_PROCESS with a thread id sets that thread's nice value only.
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICE)
    except (OSError, AttributeError):  # not Linux, or not allowed: full priority then
        pass


def run(function: Callable[..., T], *args) -> T:
    pid = os.getpid()
    pool = _pool.get(pid)
    if pool is None:
        with _lock:
            pool = _pool.get(pid)
            if pool is None:
                pool = _pool[pid] = ThreadPoolExecutor(
                    max_workers=1, initializer=_lower_priority, thread_name_prefix="bcrypt"
                )
    return pool.submit(function, *args).result()
