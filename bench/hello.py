"""The ceiling for make bench: a Flask app with one JSON route and nothing else.

Served by tokenapp's own gunicorn settings (tokenapp.serving.serve), so the
two differ only in the application.

    python -m bench.hello --bind 127.0.0.1:PORT --workers 2
"""

import argparse

from flask import Flask
from flask import jsonify

app = Flask(__name__)


@app.get("/hello")
def hello():
    return jsonify(message="hello, world")


def main() -> None:
    from tokenapp import db
    from tokenapp.serving import serve

    # serve() closes tokenapp's pooled connections before forking: give it an
    # (unused) database so it has something to close. No request touches it.
    db.database.initialize(db.connect("sqlite:///:memory:"))

    parser = argparse.ArgumentParser()
    parser.add_argument("--bind", required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    serve(app, bind=args.bind, workers=args.workers)


if __name__ == "__main__":
    main()
