"""Production settings pass Django's deployment checklist."""

import os
import subprocess
import sys

from django.conf import settings


def test_check_deploy_is_clean_with_production_settings():
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_SETTINGS_MODULE": "spaces_project.settings.production",
        "SECRET_KEY": "x" * 20 + "a-production-secret-with-enough-entropy-1234567890",
        "ALLOWED_HOSTS": "spaces.example.org",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
