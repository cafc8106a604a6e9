"""DynamoDB adapter for link items. Takes its client as argument.

Every call names one ``link#`` item by its key (the download function's role may touch no
other), except :meth:`LinkTable.for_key`, the CLI's Scan (see docs/cli.md for its cost).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..state import converted
from .item import Link, from_item, to_item
from .token import ID_PREFIX, link_id


class LinkTable:
    def __init__(self, client: Any, table: str) -> None:
        self.client = client
        self.table = table

    def put(self, link: Link) -> None:
        """Store a new link (a fresh token's hash: never an existing item)."""
        with converted(f"put {link.id[:17]}"):
            self.client.put_item(
                TableName=self.table, Item=to_item(link), ConditionExpression="attribute_not_exists(id)"
            )

    def get(self, digest: str) -> Link | None:
        with converted("get a link"):
            item = self.client.get_item(TableName=self.table, Key={"id": {"S": link_id(digest)}}).get("Item")
        if not item:
            return None
        try:
            return from_item(item)
        except ValueError:
            return None

    def count_download(self, digest: str, now: float) -> None:
        """One more download (an atomic ADD); nothing is created for an item that is gone."""
        with converted("count a download"):
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key={"id": {"S": link_id(digest)}},
                    UpdateExpression="ADD downloads :one SET lastDownloadAt = :now",
                    ConditionExpression="attribute_exists(id)",
                    ExpressionAttributeValues={":one": {"N": "1"}, ":now": {"N": str(int(now))}},
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                return

    def revoke(self, digest: str, now: float) -> bool:
        """Withdraw a link; False if there is no such link."""
        with converted("revoke a link"):
            try:
                self.client.update_item(
                    TableName=self.table,
                    Key={"id": {"S": link_id(digest)}},
                    UpdateExpression="SET revoked = :t, revokedAt = :now",
                    ConditionExpression="attribute_exists(id)",
                    ExpressionAttributeValues={":t": {"BOOL": True}, ":now": {"N": str(int(now))}},
                )
            except self.client.exceptions.ConditionalCheckFailedException:
                return False
        return True

    def for_key(self, key: str, bucket: str | None = None) -> Iterator[Link]:
        """Every link made for ``key`` (in ``bucket`` if given): a Scan of the whole table with a
        filter, for the CLI only (a read of every item; see docs/cli.md)."""
        names = {"#k": "key"}
        values: dict[str, Any] = {":p": {"S": ID_PREFIX}, ":k": {"S": key}}
        expression = "begins_with(id, :p) AND #k = :k"
        if bucket:
            names["#b"] = "bucket"
            values[":b"] = {"S": bucket}
            expression += " AND #b = :b"
        args = dict(
            TableName=self.table,
            FilterExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
        with converted("list links"):
            for page in self.client.get_paginator("scan").paginate(**args):
                for item in page.get("Items", []):
                    yield from_item(item)
