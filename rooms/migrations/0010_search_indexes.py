"""Search on PostgreSQL: pg_trgm, a GIN full-text index on the Space's document (the very
expression rooms.search.space_vector builds) and GIN trigram indexes on titles, handles and
names. A no-op on other databases (SQLite under `make run` searches by substring)."""

from django.db import migrations

INDEXES = [
    (
        "room_search_document",
        "rooms_room",
        "USING gin (to_tsvector('english'::regconfig, "
        "COALESCE(title, '') || ' ' || COALESCE(description, '')))",
    ),
    ("room_title_trigram", "rooms_room", "USING gin (title gin_trgm_ops)"),
    ("user_handle_trigram", "accounts_user", "USING gin (username gin_trgm_ops)"),
    ("profile_name_trigram", "accounts_profile", "USING gin (display_name gin_trgm_ops)"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, table, how in INDEXES:
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {table} {how}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name, _table, _how in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [
        ("rooms", "0009_hand_questions"),
        ("accounts", "0005_follows"),
    ]

    operations = [migrations.RunPython(create, drop)]
