"""A starting set of topics to tag Spaces with and filter the home page by; staff add more."""

from django.db import migrations

TOPICS = [
    ("technology", "Technology"),
    ("music", "Music"),
    ("news", "News"),
    ("sports", "Sports"),
    ("science", "Science"),
    ("culture", "Culture"),
    ("gaming", "Gaming"),
    ("business", "Business"),
]


def seed(apps, schema_editor):
    Topic = apps.get_model("rooms", "Topic")
    for slug, name in TOPICS:
        Topic.objects.get_or_create(slug=slug, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("rooms", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
