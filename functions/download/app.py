"""Download links: answer a click on a notice's ``{LINK_BASE_URL}/m/{token}`` (a Lambda function URL).

The event is a function URL request (payload format 2.0), parsed with Powertools'
``LambdaFunctionUrlEvent``; the work is :func:`vaultmail.links.answer`: 302 to a presigned GET
(at most 300 s, signed by this function's role) of the version the link was made for, 404 for
an unknown token, 410 for an expired or revoked one, 405 for a method other than GET and HEAD.
Each answer is logged (the token's hash prefix, never the token) and counted: LinkDownloads
(a GET that was redirected) and LinkRefused (a 404, 405 or 410).
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import LambdaFunctionUrlEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from vaultmail import runtime
from vaultmail.errors import ConfigurationError, VaultmailError
from vaultmail.links import PAGE_HEADERS, Answer, Decision, LinkTable, answer, page
from vaultmail.settings import get_settings

logger, metrics = runtime.logger, runtime.metrics


@cache
def signer() -> Any:
    """S3 client for the presigned GETs (SigV4, this function's role)."""
    import boto3
    from botocore.config import Config

    return boto3.client("s3", config=Config(signature_version="s3v4", retries={"mode": "standard"}))


@cache
def links() -> LinkTable:
    settings = get_settings()
    settings.require("state_table")
    return LinkTable(runtime.boto3_client("dynamodb"), str(settings.state_table))


def respond(request: LambdaFunctionUrlEvent) -> Answer:
    method = request.request_context.http.method
    try:
        return answer(method, request.raw_path, links=links(), s3=signer(), now=time.time())
    except ConfigurationError:
        raise  # a setting or the role is wrong: the Errors alarm, not a page
    except VaultmailError as exc:  # the table or S3 failed for now
        logger.warning("link not looked up", extra={"error": exc.message, "reason": exc.reason})
        body = page(Decision(503, "unavailable")) if method == "GET" else ""
        return Answer(503, {**PAGE_HEADERS, "Retry-After": "30"}, body, "unavailable")


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    request = LambdaFunctionUrlEvent(event)
    out = respond(request)
    http = request.request_context.http
    logger.info(
        "link answered",
        extra={
            **out.log,
            "status": out.status,
            "reason": out.reason,
            "method": http.method,
            "sourceIp": http.source_ip,
            "userAgent": http.user_agent,
        },
    )
    if out.download:
        metrics.add_metric(name="LinkDownloads", unit=MetricUnit.Count, value=1)
    elif out.refused:  # a GET refused; a HEAD (a scanner's prefetch) or an outage is not counted
        metrics.add_metric(name="LinkRefused", unit=MetricUnit.Count, value=1)
    elif out.status == 503:
        metrics.add_metric(name="LinkUnavailable", unit=MetricUnit.Count, value=1)
    return {"statusCode": out.status, "headers": out.headers, "body": out.body, "isBase64Encoded": False}
