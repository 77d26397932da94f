"""`make run`'s email backend: each message printed readably to the terminal, fenced by
`==== email ====` lines, so sign-up links are easy to find among the server's log lines."""

import sys

from django.core.mail.backends.console import EmailBackend as DjangoConsoleBackend

RULE = "===="  # the lines read "==== email ====", as `make run` and the README say


class EmailBackend(DjangoConsoleBackend):
    def __init__(self, *args, **kwargs):
        # The real terminal, even inside a Celery worker (which turns stdout into log lines).
        kwargs.setdefault("stream", sys.__stdout__)
        super().__init__(*args, **kwargs)

    def write_message(self, message):
        lines = [
            f"\n{RULE} email {RULE}",
            f"To: {', '.join(message.recipients())}",
            f"Subject: {message.subject}",
            "",
            message.body.rstrip(),
            f"{RULE} end of email {RULE}\n",
        ]
        self.stream.write("\n".join(lines) + "\n")
