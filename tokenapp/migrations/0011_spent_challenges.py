"""Spent WebAuthn challenges (tokenapp/ceremonies.py): an answer is good once on every worker,
whatever copy of the session cookie comes with it."""

from peewee import CharField
from peewee import DateTimeField

from tokenapp.migrations._frozen import base


def up(migrator, db):
    class SpentChallenge(base(db)):
        digest = CharField(max_length=64, primary_key=True)
        spent_at = DateTimeField(index=True)

    db.create_tables([SpentChallenge])
