"""English and French: every French string translated, pages in the browser's language, the
switcher, the JavaScript catalog."""

import re
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings
from django.urls import reverse

from tests.factories import RoomFactory, UserFactory

pytestmark = pytest.mark.django_db

FR = {"HTTP_ACCEPT_LANGUAGE": "fr-FR,fr;q=0.9,en;q=0.5"}
IGNORE = [".venv", "bench", "tests", "var", "staticfiles", "media", "node_modules", "static/vendor"]


def untranslated(po: Path) -> list[str]:
    """msgids of a .po file that are untranslated or fuzzy (the header excepted)."""
    missing = []
    for block in po.read_text(encoding="utf-8").split("\n\n"):
        lines = [line for line in block.splitlines() if line.strip()]
        if not any(line.startswith("msgid ") for line in lines):
            continue
        body = "\n".join(line for line in lines if not line.startswith("#"))
        msgid = "".join(
            re.findall(
                r'^(?:msgid )?"(.*)"$', body.split("msgid_plural")[0].split("msgstr")[0], re.M
            )
        )
        if not msgid:
            continue  # the header
        strings = re.findall(r'^msgstr(?:\[\d\])? ((?:".*"\n?)+)', body + "\n", re.M)
        texts = ["".join(re.findall(r'"(.*)"', s)) for s in strings]
        fuzzy = any(line.startswith("#,") and "fuzzy" in line for line in lines)
        if fuzzy or not texts or not all(texts):
            missing.append(msgid)
    return missing


@pytest.mark.skipif(not shutil.which("xgettext"), reason="Debian's gettext is not installed")
def test_every_french_string_is_translated_including_new_ones(tmp_path, monkeypatch):
    """Extracts the strings from the code as it is now (so a string added without running
    makemessages counts too) into a copy of the catalogs, and finds none left untranslated."""
    # makemessages writes into ./locale: run it in a mirror of the project, never on the tree.
    for source in ("accounts", "moderation", "rooms", "spaces_project", "templates", "static"):
        (tmp_path / source).symlink_to(settings.BASE_DIR / source)
    locale = tmp_path / "locale"
    shutil.copytree(settings.BASE_DIR / "locale", locale)
    monkeypatch.chdir(tmp_path)
    with override_settings(LOCALE_PATHS=[locale]):
        for domain in ("django", "djangojs"):
            call_command(
                "makemessages",
                locale=["fr"],
                domain=domain,
                ignore_patterns=IGNORE,
                no_obsolete=True,
                symlinks=True,
                verbosity=0,
            )
    problems = {
        po.name: untranslated(po) for po in sorted((locale / "fr" / "LC_MESSAGES").glob("*.po"))
    }
    assert set(problems) == {"django.po", "djangojs.po"}
    assert problems == {"django.po": [], "djangojs.po": []}


def test_the_checker_finds_untranslated_and_fuzzy_strings(tmp_path):
    po = tmp_path / "x.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Language: fr\\n"\n\n'
        'msgid "Done"\nmsgstr "Fait"\n\n'
        'msgid "Empty"\nmsgstr ""\n\n'
        '#, fuzzy\nmsgid "Guess"\nmsgstr "Devine"\n\n'
        'msgid "One"\nmsgid_plural "Many"\nmsgstr[0] "Un"\nmsgstr[1] ""\n',
        encoding="utf-8",
    )
    assert untranslated(po) == ["Empty", "Guess", "One"]


def test_the_home_page_speaks_the_browsers_language(client):
    RoomFactory(title="Radio du matin")
    french = client.get(reverse("home"), **FR).content.decode()
    assert '<html lang="fr">' in french
    assert "Des conversations en direct, sur votre propre serveur." in french
    assert "Se connecter" in french and "S’inscrire" in french
    assert "à l’écoute" in french
    english = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Live conversations, on your own server." in english
    assert "Sign in" in english


@pytest.mark.parametrize(
    ("path", "french"),
    [
        ("/accounts/login/", "Se connecter"),
        ("/accounts/signup/", "Identifiant"),
        ("/accounts/signup/", "Nom affiché"),
        ("/accounts/password/reset/", "Mot de passe"),
        ("/s/no-such-space/", "Il n’y a rien ici"),
        ("/offline/", "Vous êtes hors ligne"),
    ],
)
def test_main_pages_in_french(client, path, french):
    response = client.get(path, **FR)
    assert french in response.content.decode()
    assert "Sign in" not in response.content.decode()


def test_allauth_pages_use_the_sites_wording(client):
    english = client.get("/accounts/login/").content.decode()
    assert "Sign In" not in english  # allauth's own capitalisation, overridden
    assert "Sign in" in english


def test_signed_in_pages_in_french(client):
    person = UserFactory()
    client.force_login(person)
    assert "Mes Spaces" in client.get(reverse("my_spaces"), **FR).content.decode()
    profile = client.get(reverse("profile_edit"), **FR).content.decode()
    assert "Votre profil" in profile and "Enregistrer le profil" in profile
    form = client.get(reverse("room_create"), **FR).content.decode()
    assert "Commencer maintenant" in form and "Programmer pour plus tard" in form


def test_a_french_sign_up_error_is_in_french(client):
    data = {"email": "a@example.org", "password1": "x-long-pass-42", "password2": "x-long-pass-42"}
    response = client.post(
        reverse("account_signup"), {**data, "username": "admin", "display_name": "A"}, **FR
    )
    assert "Cet identifiant est réservé." in response.content.decode()


def test_the_switcher_overrides_the_browser(client):
    page = client.get(reverse("home")).content.decode()
    assert 'name="language"' in page and 'value="fr"' in page
    response = client.post(reverse("set_language"), {"language": "fr", "next": "/"})
    assert response.status_code == 302
    assert "Des conversations en direct" in client.get(reverse("home")).content.decode()
    client.post(reverse("set_language"), {"language": "en", "next": "/"}, **FR)
    assert "Live conversations" in client.get(reverse("home"), **FR).content.decode()


def test_the_javascript_catalog_is_in_the_pages_language(client):
    page = client.get(reverse("home"), **FR).content.decode()
    assert f'<script src="{reverse("javascript_catalog")}"' in page
    catalog = client.get(reverse("javascript_catalog"), **FR).content.decode()
    assert "Lien copi\\u00e9." in catalog or "Lien copié." in catalog


def test_the_card_is_drawn_in_french(client):
    import io

    from PIL import Image

    room = RoomFactory()
    response = client.get(reverse("space_card", args=[room.slug]), **FR)
    image = Image.open(io.BytesIO(response.content))
    assert image.text["Description"] == "EN DIRECT"


def test_the_calendar_file_speaks_the_browsers_language(client):
    host = UserFactory(profile="Radio Lyon")
    room = RoomFactory(host=host, state="scheduled", started_at=None, with_host=False)
    from datetime import timedelta

    from django.utils import timezone

    type(room).objects.filter(pk=room.pk).update(scheduled_for=timezone.now() + timedelta(days=1))
    body = client.get(reverse("space_calendar", args=[room.slug]), **FR).content.decode()
    assert "Animé par Radio Lyon." in body
    assert "Écouter :" in body


def test_a_french_sign_up_gets_its_confirmation_email_in_french(client):
    from django.core import mail

    data = {
        "email": "lea@example.org",
        "password1": "x-long-pass-42",
        "password2": "x-long-pass-42",
    }
    client.post(
        reverse("account_signup"), {**data, "username": "lea_l", "display_name": "Léa"}, **FR
    )
    [message] = mail.outbox
    assert "/accounts/confirm-email/" in message.body
    assert message.subject.endswith("Confirmez votre adresse e-mail")  # allauth's own French


def test_the_database_outage_page_is_in_french(client, monkeypatch):
    from django.db import OperationalError

    from rooms import selectors

    def unreachable(**kwargs):
        raise OperationalError("connection to server failed: Connection refused")

    monkeypatch.setattr(selectors, "home", unreachable)
    client.raise_request_exception = False
    response = client.get(reverse("home"), **FR)
    assert response.status_code == 503
    page = response.content.decode()
    assert '<html lang="fr">' in page
    assert "De retour dans un instant" in page
    assert "Rien de ce que vous avez fait n’est perdu" in page
    english = client.get(reverse("home"), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Back in a moment" in english


def test_the_fallback_forms_flash_and_refuse_in_french(client, settings):
    from django.utils import timezone

    from tests.factories import ParticipantFactory

    room = RoomFactory()
    listener = ParticipantFactory(room=room).user
    client.force_login(room.host)
    act = reverse("room_action", args=[room.slug])
    page = client.post(
        act, {"action": "invite_speaker", "user": listener.pk}, follow=True, **FR
    ).content.decode()
    assert "Invitation envoyée." in page
    assert (
        "Action inconnue."
        in client.post(act, {"action": "nope"}, follow=True, **FR).content.decode()
    )

    settings.SPACES_MAX_SPEAKERS = 1
    ParticipantFactory(room=room, role="speaker")
    hand = ParticipantFactory(room=room, hand_raised_at=timezone.now()).user
    page = client.post(
        act, {"action": "hand_accept", "user": hand.pk}, follow=True, **FR
    ).content.decode()
    assert "Les 1 places d’intervenant sont toutes prises." in page


def test_the_report_form_and_a_block_speak_french(client):
    person = UserFactory(profile="Léa")
    client.force_login(UserFactory())
    form = client.get(reverse("report_person", args=[person.username]), **FR).content.decode()
    assert "Harcèlement ou intimidation" in form and "Harassment" not in form
    page = client.post(
        reverse("person_block", args=[person.username]), follow=True, **FR
    ).content.decode()
    assert "Vous avez bloqué Léa." in page


def test_a_suspension_is_explained_in_french_with_a_french_date():
    from datetime import UTC, datetime

    from django.utils import translation

    from moderation.selectors import explain

    until = datetime(2026, 12, 3, 14, 5, tzinfo=UTC)
    with translation.override("en"):
        english = explain(until, "spam")
    assert english == "Your account is suspended until 3 Dec 2026 14:05 UTC: spam."
    with translation.override("fr"):
        assert explain(until, "spam") == (
            "Votre compte est suspendu jusqu’au 3 déc 2026 14:05 UTC : spam."
        )
