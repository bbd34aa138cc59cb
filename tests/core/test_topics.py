"""The MQTT topic tree: one subtree per buoy under one prefix, nothing a wildcard can escape."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nemopi.topics import BUOY_ID_RE, Channel, Topics, is_valid_buoy_id

TOPICS = Topics("reefs/pacific")


@pytest.mark.parametrize(
    ("channel", "topic"),
    [
        (Channel.DATA, "reefs/pacific/reef-01/data"),
        (Channel.STATUS, "reefs/pacific/reef-01/status"),
        (Channel.STORED, "reefs/pacific/reef-01/stored"),
        (Channel.COMMAND, "reefs/pacific/reef-01/cmd"),
        (Channel.REPLY, "reefs/pacific/reef-01/cmd/reply"),
    ],
)
def test_each_channel_has_its_topic_and_parses_back(channel: Channel, topic: str) -> None:
    assert TOPICS.topic("reef-01", channel) == topic
    assert TOPICS.parse(topic) == ("reef-01", channel)


def test_default_prefix_is_nemopi() -> None:
    assert Topics().topic("b1", Channel.DATA) == "nemopi/b1/data"


def test_subscription_filter_matches_one_channel_of_every_buoy() -> None:
    assert TOPICS.all_buoys(Channel.REPLY) == "reefs/pacific/+/cmd/reply"


@pytest.mark.parametrize(
    "buoy",
    ["a", "reef-01", "r_2", "0", "a" * 32],
)
def test_valid_buoy_ids_are_accepted(buoy: str) -> None:
    assert is_valid_buoy_id(buoy)


@pytest.mark.parametrize(
    "buoy",
    ["", "Reef", "-reef", "_reef", "reef/01", "reef+", "reef#", "reef 01", "a" * 33, "reef\n"],
)
def test_buoy_ids_that_could_escape_their_subtree_are_refused(buoy: str) -> None:
    assert not is_valid_buoy_id(buoy)
    with pytest.raises(ValueError, match="invalid buoy id"):
        TOPICS.topic(buoy, Channel.DATA)


@pytest.mark.parametrize("prefix", ["", "/nemopi", "nemopi/", "a//b", "nemo+", "nemo#", "x\n"])
def test_invalid_prefix_is_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="invalid topic prefix"):
        Topics(prefix)


@pytest.mark.parametrize(
    "topic",
    [
        "reefs/pacific/reef-01",
        "reefs/pacific/reef-01/",
        "reefs/pacific/reef-01/cmd/reply/extra",
        "reefs/pacific/reef-01/reply",
        "reefs/pacific/REEF/data",
        "reefs/pacific/+/data",
        "reefs/atlantic/reef-01/data",
        "reefs/pacificx/reef-01/data",
        "reefs/pacific/reef-01/data\n",
        "nemopi/reef-01/data",
    ],
)
def test_topics_outside_the_tree_parse_to_none(topic: str) -> None:
    assert TOPICS.parse(topic) is None


@settings(max_examples=200, deadline=None)
@given(st.from_regex(BUOY_ID_RE, fullmatch=True), st.sampled_from(Channel))
def test_every_valid_buoy_and_channel_round_trips(buoy: str, channel: Channel) -> None:
    assert TOPICS.parse(TOPICS.topic(buoy, channel)) == (buoy, channel)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_parse_never_raises_and_only_accepts_its_own_topics(topic: str) -> None:
    parsed = TOPICS.parse(topic)
    assert parsed is None or TOPICS.topic(*parsed) == topic
