"""The language a room socket answers in: the page's own choice, carried by the handshake.

The same order as the pages' LocaleMiddleware: the language cookie the switcher sets, then (for
a signed-in person) the language they last used the site in, then the browser's
Accept-Language, then the site's default. Error and closing messages on the socket are written
in it.
"""

from http.cookies import SimpleCookie

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import translation
from django.utils.translation.trans_real import parse_accept_lang_header


def _supported(code: str) -> str | None:
    try:
        return translation.get_supported_language_variant(code)
    except LookupError:
        return None


def _header(scope: dict, name: bytes) -> str:
    for key, value in scope.get("headers") or []:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _stored_language(user_id: int) -> str:
    from accounts.models import Profile  # rooms builds on accounts

    return Profile.objects.filter(user_id=user_id).values_list("language", flat=True).first() or ""


async def socket_language(scope: dict) -> str:
    """Reads the database only for a signed-in person without the language cookie."""
    cookies = scope.get("cookies")
    if cookies is None:
        cookies = {k: m.value for k, m in SimpleCookie(_header(scope, b"cookie")).items()}
    chosen = cookies.get(settings.LANGUAGE_COOKIE_NAME)
    if chosen and (language := _supported(chosen)):
        return language
    user = scope.get("user")
    if user is not None and user.is_authenticated:
        stored = await database_sync_to_async(_stored_language)(user.pk)
        if stored and (language := _supported(stored)):
            return language
    for code, _quality in parse_accept_lang_header(_header(scope, b"accept-language")):
        if code != "*" and (language := _supported(code)):
            return language
    return settings.LANGUAGE_CODE
