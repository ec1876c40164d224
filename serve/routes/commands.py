"""/api/devices/{id}/commands: downlink commands to a device, and their replies."""

from __future__ import annotations

from typing import Any

from serve.endpoints import ApiError, Call, Endpoint, Param
from serve.services import Services
from serve.tokens import Role

COMMAND = {
    "type": "object",
    "required": ["type"],
    "properties": {"type": {"type": "string"}, "args": {"type": "object"}},
}


def endpoints(s: Services) -> list[Endpoint]:
    async def device(call: Call) -> tuple[str, int]:
        device_id = call.path("device_id")
        owner = await s.owner("devices", device_id)
        if owner is None or not call.principal.sees(owner):
            raise ApiError(404, "device_id", f"no device {device_id!r}")
        return device_id, owner

    async def send(call: Call) -> Any:
        device_id, owner = await device(call)
        body = await call.json()
        if not isinstance(body, dict):
            raise ApiError(400, "body", "expected a JSON object")
        cmd_type, args = body.get("type"), body.get("args", {})
        if not isinstance(cmd_type, str) or not cmd_type:
            raise ApiError(400, "type", "expected the command's type (a string)")
        if not isinstance(args, dict):
            raise ApiError(400, "args", f"expected an object, got {type(args).__name__}")
        return await s.commands.send.remote(device_id, owner, cmd_type, args, call.principal.user)

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
            body=COMMAND,
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
