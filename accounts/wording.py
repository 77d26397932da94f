"""Words allauth's own templates use that Spaces says differently.

Listed here so `makemessages` puts them in our catalogs (locale/), which win over allauth's:
in English "Sign In" reads "Sign in" like the rest of the site, and French says "Se connecter"
everywhere, not "Connexion" on some pages.
"""

from django.utils.translation import gettext_noop

ALLAUTH_WORDING = [
    gettext_noop("Sign In"),
    gettext_noop("Sign Up"),
    gettext_noop("Sign Out"),
    gettext_noop("Sign in"),
    gettext_noop("Sign up"),
    gettext_noop("Sign out"),
]
