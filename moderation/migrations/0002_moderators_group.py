"""The "Moderators" group, with exactly the permissions the moderation actions need
(see moderation/permissions.py)."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

GROUP = "Moderators"
PERMISSIONS = [
    ("moderation", "view_report"),
    ("moderation", "change_report"),
    ("moderation", "view_moderationaction"),
    ("moderation", "add_suspension"),
    ("moderation", "change_suspension"),
    ("rooms", "moderate_room"),
    ("rooms", "view_room"),
    ("rooms", "view_participant"),
    ("rooms", "view_post"),
]


def create_group(apps, schema_editor):
    # Permissions are normally created after all migrations ran; make sure they exist now.
    for label in ("moderation", "rooms"):
        config = apps.get_app_config(label)
        config.models_module = True
        create_permissions(config, apps=apps, verbosity=0)
        config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=GROUP)
    wanted = [
        Permission.objects.get(content_type__app_label=app, codename=codename)
        for app, codename in PERMISSIONS
    ]
    group.permissions.set(wanted)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=GROUP).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("rooms", "0003_live_room"),
        ("moderation", "0001_reports_suspensions_blocks_audit"),
    ]

    operations = [migrations.RunPython(create_group, remove_group)]
