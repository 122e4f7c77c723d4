"""Service accounts (issue 15): a user row bound to the one project it belongs to."""

from peewee import AutoField
from peewee import ForeignKeyField

from tokenapp.migrations._frozen import base


def up(migrator, db):
    class Project(base(db)):
        id = AutoField()

    migrator.migrate(
        migrator.add_column(
            "user",
            "service_project_id",
            ForeignKeyField(Project, null=True, field=Project.id, on_delete="CASCADE"),
        ),
    )
