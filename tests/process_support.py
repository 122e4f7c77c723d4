"""What every test server class (gunicorn, nginx, Caddy) shares as a context manager."""


class Started:
    """``with X(...) as x``: start() on entry, stop() on exit — and on a start that
    fails halfway, so that no half-started process outlives the test."""

    def start(self):
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()
