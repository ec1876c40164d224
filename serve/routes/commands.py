"""/api/devices/{id}/commands: downlink commands to a device, and their replies."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from serve.endpoints import ApiError, Call, Endpoint, Param
from serve.services import Services
from serve.tokens import Role


class Command(msgspec.Struct, frozen=True):
    type: Annotated[str, msgspec.Meta(min_length=1, description="what the device is to do")]
    args: dict[str, Any] = {}


def endpoints(s: Services) -> list[Endpoint]:
    async def device(call: Call) -> tuple[str, int]:
        device_id = call.path("device_id")
        owner = await s.owner("devices", device_id)
        if owner is None or not call.principal.sees(owner):
            raise ApiError(404, "device_id", f"no device {device_id!r}")
        return device_id, owner

    async def send(call: Call) -> Any:
        device_id, owner = await device(call)
        body = await call.body(Command)
        user = call.principal.user
        return await s.commands.send.remote(device_id, owner, body.type, body.args, user)

    async def sent(call: Call) -> Any:
        device_id, _ = await device(call)
        return await s.commands.commands.remote(device_id, call.integer("limit", 50, 1, 1000))

    path = "/api/devices/{device_id}/commands"
    return [
        Endpoint(
            "POST",
            path,
            Role.OPERATOR,
            send,
            "Send a command",
            "commands",
            body=Command,
            status=202,
        ),
        Endpoint(
            "GET",
            path,
            Role.VIEWER,
            sent,
            "A device's commands and replies",
            "commands",
            (Param("limit", "integer"),),
        ),
    ]
