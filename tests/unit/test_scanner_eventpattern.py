"""The EventBridge content-filtering evaluator, and the scanner's arrival rule as the template
deploys it (its intrinsics resolved for the parameters) against S3 Object Created events."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from samcli.yamlhelper import yaml_parse

from vaultmail_dev.eventpattern import PatternError, matches
from vaultmail_dev.stack import Resolver

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = yaml_parse((ROOT / "template.yaml").read_text())
CREATED = json.loads(
    (ROOT / "tests/functional/fixtures/events/s3-eventbridge-object-created.json").read_text()
)
MIB = 1 << 20


def test_exact_values_by_type_and_arrays_of_alternatives() -> None:
    assert matches({"a": ["x", "y"]}, {"a": "y"})
    assert not matches({"a": ["x"]}, {"a": "X"})
    assert matches({"a": [5]}, {"a": 5.0}) and not matches({"a": ["5"]}, {"a": 5})
    assert matches({"a": [True]}, {"a": True}) and not matches({"a": [1]}, {"a": True})
    assert matches({"a": ["x"]}, {"a": ["q", "x"]})  # an event array matches if any element does
    assert not matches({"a": ["x"]}, {})
    assert matches({"a": {"b": [1]}}, {"a": {"b": 1, "c": 2}}) and not matches({"a": {"b": [1]}}, {"a": 1})


def test_prefix_suffix_ignore_case_and_wildcard() -> None:
    assert matches({"k": [{"prefix": "mail/"}]}, {"k": "mail/a.eml"})
    assert not matches({"k": [{"prefix": "mail/"}]}, {"k": "Mail/a.eml"})
    assert matches({"k": [{"prefix": {"equals-ignore-case": "MAIL/"}}]}, {"k": "mail/a"})
    assert matches({"k": [{"suffix": {"equals-ignore-case": ".eml"}}]}, {"k": "A.EML"})
    assert not matches({"k": [{"suffix": ".eml"}]}, {"k": "a.EML"})
    assert matches({"k": [{"equals-ignore-case": "abc"}]}, {"k": "ABC"})
    assert matches({"k": [{"wildcard": "mail/*.eml"}]}, {"k": "mail/2025/x.eml"})
    assert not matches({"k": [{"wildcard": "mail/*.eml"}]}, {"k": "other/x.eml"})
    assert matches({"k": [{"wildcard": "a\\*b"}]}, {"k": "a*b"}) and not matches(
        {"k": [{"wildcard": "a\\*b"}]}, {"k": "axb"}
    )
    assert not matches({"k": [{"prefix": "1"}]}, {"k": 12})  # string matchers: strings only
    with pytest.raises(PatternError):
        matches({"k": [{"wildcard": "a**b"}]}, {"k": "ab"})


def test_numeric_exists_and_anything_but() -> None:
    at_least = {"n": [{"numeric": [">=", 10]}]}
    assert matches(at_least, {"n": 10}) and matches(at_least, {"n": 11.5}) and not matches(at_least, {"n": 9})
    assert not matches(at_least, {"n": "10"})  # a string is never a number
    assert matches({"n": [{"numeric": [">", 0, "<=", 5]}]}, {"n": 5})
    with pytest.raises(PatternError):
        matches({"n": [{"numeric": [">=", "10"]}]}, {"n": 10})  # what a !Ref of a Number gives
    assert matches({"a": [{"exists": True}]}, {"a": "x"}) and not matches({"a": [{"exists": True}]}, {})
    assert matches({"a": [{"exists": False}]}, {}) and not matches({"a": [{"exists": False}]}, {"a": 1})
    assert matches({"a": [{"anything-but": ["x", "y"]}]}, {"a": "z"}) and not matches(
        {"a": [{"anything-but": "x"}]}, {"a": "x"}
    )
    assert not matches({"a": [{"anything-but": "x"}]}, {})
    assert matches({"a": [{"anything-but": {"prefix": "tmp/"}}]}, {"a": "mail/x"})
    assert not matches({"a": [{"anything-but": {"suffix": ".tmp"}}]}, {"a": "x.tmp"})
    assert matches({"$or": [{"a": [1]}, {"b": [2]}]}, {"b": 2}) and not matches(
        {"$or": [{"a": [1]}, {"b": [2]}]}, {"b": 3}
    )


def deployed_pattern(**parameters: str) -> dict[str, Any]:
    """The arrival rule's EventPattern as CloudFormation would deploy it, as JSON."""
    resolver = Resolver(TEMPLATE, parameters, {"MailBucket": {"Ref": "vaultmail-mail"}})
    text = resolver.value(TEMPLATE["Resources"]["OversizeMailRule"]["Properties"]["EventPattern"])
    assert isinstance(text, str)
    pattern: dict[str, Any] = json.loads(text)  # valid JSON text, the threshold a JSON number
    return pattern


def event(key: str = "mail/a.eml", size: int = 40_000_000, bucket: str = "vaultmail-mail") -> dict[str, Any]:
    out = copy.deepcopy(CREATED)
    out["detail"]["bucket"]["name"] = bucket
    out["detail"]["object"].update(key=key, size=size)
    return out


def test_the_deployed_rule_matches_at_and_over_the_threshold_only() -> None:
    pattern = deployed_pattern()  # the defaults: whole bucket, .eml, 40 MB (SES over SMTP and v2)
    assert pattern["detail"]["object"]["size"] == [{"numeric": [">=", 40_000_000]}]
    assert matches(pattern, event(size=40_000_000)) and matches(pattern, event(size=40_000_001))
    assert not matches(pattern, event(size=40_000_000 - 1)) and not matches(pattern, event(size=10 * MIB))
    assert matches(pattern, event(key="x/Y.EML"))  # the scanner's suffixes are case-insensitive too
    assert not matches(pattern, event(key="mail/a.txt")) and not matches(pattern, event(key="mail/a.eml.tmp"))
    # SesKeyPrefixes defaults to ses/, where an SES S3 action writes <prefix><message id>: no
    # suffix, so mail SES received (so delivered) never wakes the scanner
    assert not matches(pattern, event(key="ses/0o3vrnil0e2ic28trm7dfhrc2v0cnbp0g1"))
    assert not matches(pattern, event(bucket="another-bucket"))
    other = copy.deepcopy(event())
    other["detail-type"] = "Object Deleted"
    assert not matches(pattern, other)


def test_one_prefix_and_one_suffix_make_a_wildcard() -> None:
    pattern = deployed_pattern(ScanPrefixes="mail/", ScanSuffixes=".eml", SizeThresholdBytes="1000")
    assert pattern["detail"]["object"]["key"] == [{"wildcard": "mail/*.eml"}]
    assert matches(pattern, event(key="mail/2025/a.eml", size=1000))
    assert not matches(pattern, event(key="other/a.eml", size=1000))
    assert not matches(pattern, event(key="mail/a.msg", size=1000)) and not matches(pattern, event(size=999))


def test_several_prefixes_filter_by_prefix_and_other_bucket_names() -> None:
    pattern = deployed_pattern(ScanPrefixes="a/,b/", ScanSuffixes=".eml,.msg", ScanBucketName="ext-bucket")
    assert pattern["detail"]["object"]["key"] == [{"prefix": "a/"}, {"prefix": "b/"}]
    assert matches(pattern, event(key="b/x.msg", bucket="ext-bucket"))
    assert not matches(pattern, event(key="c/x.eml", bucket="ext-bucket"))
    everything = deployed_pattern(ScanSuffixes="", SesKeyPrefixes="")
    assert everything["detail"]["object"]["key"] == [{"exists": True}] and matches(
        everything, event(key="x.bin")
    )


def test_anything_but_a_prefix_or_any_of_a_list_of_prefixes() -> None:
    # EventBridge's documented form takes one string; its matcher (aws/event-ruler) also a set
    assert not matches({"k": [{"anything-but": {"prefix": "ses/"}}]}, {"k": "ses/a.eml"})
    several = {"k": [{"anything-but": {"prefix": ["ses/", "in/"]}}]}
    assert not matches(several, {"k": "in/a.eml"}) and matches(several, {"k": "out/a.eml"})
    assert not matches(several, {"k": 5})  # a string matcher: strings only


def test_mail_ses_received_never_reaches_the_scanner_when_the_whole_bucket_is_scanned() -> None:
    one = deployed_pattern(SesKeyPrefixes="inbound/", ScanSuffixes="", SizeThresholdBytes="1000")
    assert one["detail"]["object"]["key"] == [{"anything-but": {"prefix": "inbound/"}}]
    assert not matches(one, event(key="inbound/a.eml", size=1000))
    assert matches(one, event(key="outbound/a.eml", size=1000))
    # with suffixes, the suffix leaves SES's objects (<prefix><message id>) out
    suffixed = deployed_pattern(SesKeyPrefixes="inbound/", SizeThresholdBytes="1000")
    assert not matches(suffixed, event(key="inbound/0o3vrnil0e2ic28trm7dfhrc2v0c", size=1000))
    several = deployed_pattern(SesKeyPrefixes="inbound/,ses/", ScanSuffixes="", SizeThresholdBytes="1000")
    assert several["detail"]["object"]["key"] == [{"anything-but": {"prefix": ["inbound/", "ses/"]}}]
    assert not matches(several, event(key="ses/x.eml", size=1000))
    # with ScanPrefixes the rule lists them; the scanner leaves SES's keys out itself
    scoped = deployed_pattern(ScanPrefixes="mail/", ScanSuffixes="", SesKeyPrefixes="mail/in/")
    assert scoped["detail"]["object"]["key"] == [{"prefix": "mail/"}]
