"""The error a moderation service raises when it refuses; nothing has changed when it is raised."""


class ModerationRefused(Exception):
    """`code` is stable for code and tests (`not_allowed`, `rate_limited`, `invalid`,
    `wrong_target`, `wrong_state`); `message` is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"ModerationRefused({self.code!r}, {self.message!r})"
