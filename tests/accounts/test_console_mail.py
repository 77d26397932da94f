"""`make run` prints mail readably in its terminal, fenced so it stands out of the log."""

import io

from django.core import mail

from accounts.console_mail import EmailBackend


def test_console_mail_is_fenced_and_readable():
    out = io.StringIO()
    backend = EmailBackend(stream=out)
    message = mail.EmailMessage(
        "Confirm your address",
        "Open http://127.0.0.1:8123/accounts/confirm-email/abc/ ✓",
        to=["ada@example.org"],
    )
    assert backend.send_messages([message]) == 1
    text = out.getvalue()
    assert "==== email ====" in text and "==== end of email ====" in text
    assert "To: ada@example.org" in text
    assert "Subject: Confirm your address" in text
    # The body as written: no quoted-printable soft breaks in the middle of the link.
    assert "http://127.0.0.1:8123/accounts/confirm-email/abc/ ✓" in text
