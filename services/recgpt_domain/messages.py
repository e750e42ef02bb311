"""Conversions between the catalogue's pydantic models and the common protobuf messages."""

from __future__ import annotations

from collections.abc import Iterable

from recgpt.common.v1 import common_pb2
from recgpt_domain.catalogue import Interaction, Item


def interactions_from_pb(messages: Iterable[common_pb2.Interaction]) -> list[Interaction]:
    """Request behaviour into the catalogue's model; entries without an item id are dropped."""
    return [
        Interaction(
            item_id=message.item_id,
            timestamp=message.timestamp,
            rating=message.rating or None,
            behaviour=message.behaviour or "review",
        )
        for message in messages
        if message.item_id
    ]


def interaction_to_pb(interaction: Interaction) -> common_pb2.Interaction:
    return common_pb2.Interaction(
        item_id=interaction.item_id,
        timestamp=interaction.timestamp,
        rating=interaction.rating or 0.0,
        behaviour=interaction.behaviour,
    )


def item_to_pb(item: Item) -> common_pb2.Item:
    return common_pb2.Item(
        item_id=item.item_id,
        title=item.title,
        brand=item.brand,
        category_path=item.category_path,
        description=item.description,
    )


def item_from_pb(message: common_pb2.Item) -> Item:
    return Item(
        item_id=message.item_id,
        title=message.title,
        brand=message.brand,
        category_path=list(message.category_path),
        description=message.description,
    )
