"""vigil's own exception hierarchy: every error names what was wrong."""


class VigilError(Exception):
    """Base of every error vigil raises on purpose."""


class ConfigError(VigilError):
    """A setting or the fleet file is wrong; the message names the key."""


#: Every reason a message can be dead-lettered for (docs/spine.md explains each).
DEAD_LETTER_REASONS = (
    "oversized",
    "unknown_topic",
    "unknown_entity",
    "invalid_json",
    "invalid_field",
    "future_timestamp",
    "spoofed_id",
    "too_deep",
    "internal",
)


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
