"""template.yaml's queues, topics, buckets, subscriptions and tables, created in moto.

Each function takes the boto3 client, the template's resources of one type (logical id ->
resource) and, where properties hold intrinsics, the stack's :class:`~.cfn.Resolver`; it
returns what the stack's intrinsics resolve to (logical id -> ``{"Ref": ..., "Arn": ...}``).
"""

from __future__ import annotations

import json
from typing import Any

from . import bridge
from .cfn import ACCOUNT, REGION, Resolver

QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "MaximumMessageSize", "RedrivePolicy")
Physical = dict[str, dict[str, Any]]


def create_queues(sqs: Any, resolver: Resolver, queues: dict[str, Any]) -> Physical:
    """Each queue, then its attributes once every ARN is known (redrive policies name them)."""
    physical: Physical = {}
    for logical in queues:
        name = f"vaultmail-{logical}"
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        physical[logical] = resolver.physical[logical] = {
            "Ref": url,
            "Arn": arn,
            "QueueName": name,
            "QueueUrl": url,
        }
    for logical, res in queues.items():
        props = resolver.value(res.get("Properties") or {})
        attributes = {
            k: json.dumps(props[k]) if isinstance(props[k], dict) else str(props[k])
            for k in QUEUE_ATTRIBUTES
            if k in props
        }
        if attributes:
            sqs.set_queue_attributes(QueueUrl=physical[logical]["Ref"], Attributes=attributes)
    return physical


def create_topics(sns: Any, topics: dict[str, Any]) -> Physical:
    physical: Physical = {}
    for logical in topics:
        name = f"vaultmail-{logical}"
        arn = sns.create_topic(Name=name)["TopicArn"]
        physical[logical] = {"Ref": arn, "TopicArn": arn, "TopicName": name}
    return physical


def create_buckets(s3: Any, resolver: Resolver, buckets: dict[str, Any]) -> Physical:
    """Each bucket with its versioning and its notifications (queues and EventBridge)."""
    physical: Physical = {}
    for logical, res in buckets.items():
        props = res.get("Properties") or {}
        # the template's name, which the functions' policies name too
        name = resolver.value(props.get("BucketName")) or f"vaultmail-{logical.lower()}-local"
        s3.create_bucket(Bucket=name)
        if props.get("VersioningConfiguration", {}).get("Status") == "Enabled":
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        physical[logical] = resolver.physical[logical] = {"Ref": name, "Arn": f"arn:aws:s3:::{name}"}
        config = bridge.notification_configuration(resolver.value(props.get("NotificationConfiguration")))
        if config:
            s3.put_bucket_notification_configuration(Bucket=name, NotificationConfiguration=config)
    return physical


def subscribe(sns: Any, resolver: Resolver, subscriptions: dict[str, Any]) -> None:
    for res in subscriptions.values():
        props = resolver.value(res["Properties"])
        sns.subscribe(
            TopicArn=props["TopicArn"],
            Protocol=props["Protocol"],
            Endpoint=props["Endpoint"],
            Attributes={"RawMessageDelivery": str(props.get("RawMessageDelivery", False)).lower()},
        )


def create_tables(ddb: Any, tables: dict[str, Any]) -> Physical:
    """Each table with its key schema and time to live (on demand, as the template's)."""
    physical: Physical = {}
    for logical, res in tables.items():
        props = res["Properties"]
        name = f"vaultmail-{logical}"
        ddb.create_table(
            TableName=name,
            KeySchema=props["KeySchema"],
            AttributeDefinitions=props["AttributeDefinitions"],
            BillingMode="PAY_PER_REQUEST",
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl and ttl.get("Enabled"):
            ddb.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": ttl["AttributeName"]},
            )
        physical[logical] = {"Ref": name, "Arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"}
    return physical
