"""What gunicorn imports: `gunicorn wsgi:app`. Applies pending migrations at start."""

from tokenapp import create_app
from tokenapp import db

app = create_app()
db.migrate()
db.database.close_all()
