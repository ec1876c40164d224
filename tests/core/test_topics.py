"""The topic grammar: every uplink kind, the downlink pair, and what is refused."""

from __future__ import annotations

import pytest

from core.errors import BadMessage
from core.topics import (
    EntityType,
    Topic,
    TopicKind,
    downlink_topic,
    parse_topic,
    shared,
)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("guard/guard-123/gps", Topic(TopicKind.GPS, EntityType.GUARD, "guard-123")),
        ("device/dev-123/telemetry", Topic(TopicKind.TELEMETRY, EntityType.DEVICE, "dev-123")),
        ("sensor/smoke-mg-1/reading", Topic(TopicKind.READING, EntityType.SENSOR, "smoke-mg-1")),
        ("device/dev-123/alert", Topic(TopicKind.ALERT, EntityType.DEVICE, "dev-123")),
        ("device/dev-123/status", Topic(TopicKind.STATUS, EntityType.DEVICE, "dev-123")),
    ],
)
def test_each_uplink_kind_parses_to_its_kind_entity_type_and_id(name: str, expected: Topic) -> None:
    assert parse_topic(name) == expected


def test_downlink_command_and_its_ack_parse_as_cmd_and_cmd_ack() -> None:
    assert parse_topic("device/dev-123/cmd") == Topic(TopicKind.CMD, EntityType.DEVICE, "dev-123")
    assert parse_topic("device/dev-123/cmd/ack") == Topic(
        TopicKind.CMD_ACK, EntityType.DEVICE, "dev-123"
    )


def test_downlink_topic_parses_back_to_a_command_for_the_same_device() -> None:
    assert parse_topic(downlink_topic("dev-9")) == Topic(TopicKind.CMD, EntityType.DEVICE, "dev-9")


def test_shared_subscription_prefixes_the_group() -> None:
    assert shared("guard/#") == "$share/vigil/guard/#"
    assert shared("device/#", group="other") == "$share/other/device/#"


@pytest.mark.parametrize(
    "name",
    [
        "",
        "guard",
        "guard/guard-123",
        "guard/guard-123/telemetry",  # a kind that belongs to another entity type
        "device/dev-123/gps",
        "sensor/smoke-mg-1/status",
        "robot/r-1/gps",
        "guard/guard-123/gps/extra",
        "guard/guard-123/gps/",
        "device/dev-123/cmd/nack",
        "/guard/guard-123/gps",
        "GUARD/guard-123/gps",
    ],
)
def test_unknown_topics_are_refused_as_unknown_topic(name: str) -> None:
    with pytest.raises(BadMessage) as caught:
        parse_topic(name)
    assert caught.value.reason == "unknown_topic"


@pytest.mark.parametrize(
    "entity_id",
    ["", "+", "#", "-leading-dash", ".hidden", "has space", "x" * 65, "caf\u00e9", "a$b"],
)
def test_bad_entity_ids_are_refused_and_named(entity_id: str) -> None:
    with pytest.raises(BadMessage) as caught:
        parse_topic(f"guard/{entity_id}/gps")
    assert caught.value.reason == "unknown_topic"
    assert repr(entity_id) in caught.value.detail


@pytest.mark.parametrize("entity_id", ["a", "123", "guard_1.a:b-c", "x" * 64])
def test_ids_of_letters_digits_and_separators_up_to_64_characters_are_accepted(
    entity_id: str,
) -> None:
    assert parse_topic(f"guard/{entity_id}/gps").entity_id == entity_id
