"""Device replies to commands are converted at the boundary; bad ones say why."""

from __future__ import annotations

import pytest

from actors.edge.downlink import CommandReply, parse_reply
from core.errors import BadMessage


def test_a_reply_names_the_device_of_its_topic() -> None:
    reply = parse_reply("device/dev-1/cmd/ack", b'{"cmd_id": "c1", "status": "ok"}')
    assert reply == CommandReply(device_id="dev-1", cmd_id="c1", status="ok")


def test_a_reply_may_say_ok_true_or_false_instead_of_a_status() -> None:
    assert parse_reply("device/d/cmd/ack", b'{"cmd_id": "c", "ok": false}').status == "failed"
    assert parse_reply("device/d/cmd/ack", b'{"cmd_id": "c"}').status == "ok"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("device/d/cmd/ack", b"not json", "invalid_field"),
        (
            "device/d/cmd/ack",
            b'{"cmd_id": "c", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}",
            "too_deep",
        ),
        ("device/d/cmd/ack", b"\xff\xfe", "invalid_field"),
        ("device/d/cmd/ack", b'{"status": "ok"}', "invalid_field"),
        ("device/d/cmd", b'{"cmd_id": "c"}', "unknown_topic"),
        ("device/d/telemetry/ack", b'{"cmd_id": "c"}', "unknown_topic"),
    ],
)
def test_bad_replies_are_refused_with_a_reason(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(BadMessage) as caught:
        parse_reply(topic, payload)
    assert caught.value.reason == reason
