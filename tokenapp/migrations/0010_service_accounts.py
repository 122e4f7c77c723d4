"""Service accounts (issue 15): a user row bound to the one project it belongs to."""

from peewee import AutoField
from peewee import ForeignKeyField
from peewee import Model


def up(migrator, db):
    class Project(Model):
        id = AutoField()

        class Meta:
            database = db
            legacy_table_names = False

    migrator.migrate(
        migrator.add_column(
            "user",
            "service_project_id",
            ForeignKeyField(Project, null=True, field=Project.id, on_delete="CASCADE"),
        ),
    )
