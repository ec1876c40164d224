"""vigil's own exception hierarchy: every error names what was wrong.

Each class says the HTTP status the API answers it with (`http_status`), so
serve/endpoints.py maps any of them in one place; `field` names what was wrong when
the message alone does not (a parameter, a body field). Classes used in one domain
only live next to it (`LifecycleError` in core/alerts.py, `FleetEditError` in
actors/rules/fleet_edits.py, `AuthError` in serve/tokens.py), all subclassing VigilError.
"""


class VigilError(Exception):
    """Base of every error vigil raises on purpose."""

    #: What the API answers with; an instance may set its own.
    http_status: int = 500
    #: The key, parameter or body field that was wrong ("" when the message says it all).
    field: str = ""


class ConfigError(VigilError):
    """A setting or the fleet file is wrong; the message names the key."""

    http_status = 422


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

    http_status = 400

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class StartupError(VigilError):
    """A part of vigil could not be started; the message names the part."""

    http_status = 503
