"""vigil's own exception hierarchy: every error names what was wrong."""


class VigilError(Exception):
    """Base of every error vigil raises on purpose."""


class ConfigError(VigilError):
    """A setting or the fleet file is wrong; the message names the key."""


class BadMessage(VigilError):
    """An uplink message that cannot be applied; becomes a dead letter.

    `reason` is a short stable code (counted in metrics), `detail` says what
    exactly was wrong (the field, the value).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class StartupError(VigilError):
    """A part of vigil could not be started; the message names the part."""
