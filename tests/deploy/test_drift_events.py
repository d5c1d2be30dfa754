"""deploy/drift-events: the EventBridge rule's pattern, the queue and its policies, and the
controller's IAM additions (README "Drift events").

The pattern is checked by moto's own EventBridge matcher (`moto.events.models.EventPattern`,
the code moto's PutEvents routes with) against CloudTrail records of every call the controller
acts on, with and without their API version suffix, and against records it must not deliver.
The CloudFormation template is parsed with its short tags and checked for what makes the setup
work: the same pattern, the queue as the target, a queue policy for events.amazonaws.com limited
to the rule, the controller's three SQS actions, the optional dead-letter queue.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from moto.events.models import EventPattern

from deploy_support import DRIFT_EVENT_NAMES, REPO

DIR = REPO / "deploy" / "drift-events"
NAMES = DRIFT_EVENT_NAMES
SUFFIXES = ["", "20150331", "20150331v2", "20170331", "20181031", "20191201v3"]
SQS_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
PSEUDO = {"AWS::NoValue", "AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::URLSuffix"}


def cloudtrail(event_name: str) -> dict[str, Any]:
    """A CloudTrail record of a Lambda call, as EventBridge delivers it."""
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.lambda",
        "account": "111122223333",
        "time": "2026-12-07T03:40:00Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/alice"},
            "eventTime": "2026-12-07T03:39:58Z",
            "eventSource": "lambda.amazonaws.com",
            "eventName": event_name,
            "awsRegion": "eu-west-1",
            "requestParameters": {"functionName": "trivia"},
            "responseElements": None,
            "eventID": "e0ae6f06-3f4e-4a3b-9c55-7f3b8c2d1a00",
            "readOnly": False,
            "eventType": "AwsApiCall",
            "recipientAccountId": "111122223333",
        },
    }


def pattern_text() -> str:
    return (DIR / "event-pattern.json").read_text()


@pytest.fixture(scope="module")
def pattern() -> EventPattern:
    return EventPattern.load(pattern_text())


@pytest.mark.parametrize("name", NAMES)
def test_every_call_matches_with_and_without_its_suffix(pattern: EventPattern, name: str) -> None:
    for suffix in SUFFIXES:
        assert pattern.matches_event(cloudtrail(name + suffix)), name + suffix


@pytest.mark.parametrize(
    "event_name",
    ["GetFunction20150331v2", "ListAliases20150331", "GetPolicy20150331v2", "Invoke", "GetAlias20150331", "CreateFunction20150331"],
)
def test_reads_and_other_calls_are_not_sent(pattern: EventPattern, event_name: str) -> None:
    assert not pattern.matches_event(cloudtrail(event_name))


def test_other_sources_kinds_and_services_are_not_sent(pattern: EventPattern) -> None:
    event = cloudtrail("UpdateAlias20150331")
    assert pattern.matches_event(event)
    for path, value in [
        (("source",), "aws.s3"),
        (("detail-type",), "AWS Service Event via CloudTrail"),
        (("detail", "eventSource"), "s3.amazonaws.com"),
    ]:
        other = copy.deepcopy(event)
        target = other
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
        assert not pattern.matches_event(other), path


def test_the_matcher_discriminates() -> None:
    # An empty pattern matches everything: the negatives above mean something only because ours
    # is not that.
    assert EventPattern.load("{}").matches_event(cloudtrail("GetFunction20150331v2"))
    assert json.loads(pattern_text())["detail"]["eventName"] == [{"prefix": n} for n in NAMES]


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short tags, read into their long forms."""


def _tag(name: str, split_dot: bool = False):
    def construct(loader: yaml.Loader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
            if split_dot:
                value = value.split(".", 1)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        return {name: value}

    return construct


for tag, long in [("Ref", "Ref"), ("Sub", "Fn::Sub"), ("If", "Fn::If"), ("Equals", "Fn::Equals"), ("Not", "Fn::Not"), ("Join", "Fn::Join")]:
    CfnLoader.add_constructor(f"!{tag}", _tag(long))
CfnLoader.add_constructor("!GetAtt", _tag("Fn::GetAtt", split_dot=True))


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load((DIR / "cloudformation.yaml").read_text(), Loader=CfnLoader)


def resource(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    found = [(name, r) for name, r in template["Resources"].items() if r["Type"] == kind]
    assert len(found) == 1, f"one {kind}: {found}"
    return found[0]


def test_the_rule_sends_the_pattern_to_the_queue(template: dict[str, Any]) -> None:
    _, rule = resource(template, "AWS::Events::Rule")
    assert rule["Properties"]["EventPattern"] == json.loads(pattern_text())
    queues = [n for n, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue" and "Condition" not in r]
    assert len(queues) == 1
    assert rule["Properties"]["Targets"] == [{"Id": "drift-events-queue", "Arn": {"Fn::GetAtt": [queues[0], "Arn"]}}]
    assert rule["Properties"]["State"] == "ENABLED"


def test_only_the_rule_may_send_to_the_queue(template: dict[str, Any]) -> None:
    rule_name, _ = resource(template, "AWS::Events::Rule")
    _, policy = resource(template, "AWS::SQS::QueuePolicy")
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert len(statements) == 1
    (statement,) = statements
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_name, "Arn"]}}}


def test_the_controller_gets_exactly_its_three_sqs_actions_on_the_queue(template: dict[str, Any]) -> None:
    _, policy = resource(template, "AWS::IAM::ManagedPolicy")
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]
    assert set(statement["Action"]) == SQS_ACTIONS and len(statement["Action"]) == 3
    queue = [n for n, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue" and "Condition" not in r][0]
    assert statement["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}


def test_the_dead_letter_queue_is_optional(template: dict[str, Any]) -> None:
    dlqs = [(n, r) for n, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue" and "Condition" in r]
    assert len(dlqs) == 1
    name, dlq = dlqs[0]
    condition = dlq["Condition"]
    assert condition in template["Conditions"]
    queue = [r for r in template["Resources"].values() if r["Type"] == "AWS::SQS::Queue" and "Condition" not in r][0]
    redrive = queue["Properties"]["RedrivePolicy"]["Fn::If"]
    assert redrive[0] == condition
    assert redrive[1]["deadLetterTargetArn"] == {"Fn::GetAtt": [name, "Arn"]}
    assert redrive[2] == {"Ref": "AWS::NoValue"}


def walk(node: Any):
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def test_every_reference_and_condition_is_defined(template: dict[str, Any]) -> None:
    names = set(template["Resources"]) | set(template["Parameters"]) | PSEUDO
    conditions = set(template["Conditions"])
    for node in walk(template):
        if "Ref" in node:
            assert node["Ref"] in names, node
        if "Fn::GetAtt" in node:
            assert node["Fn::GetAtt"][0] in template["Resources"], node
        if "Fn::If" in node:
            assert node["Fn::If"][0] in conditions, node
    for section in ("Resources", "Outputs"):
        for name, item in template[section].items():
            if "Condition" in item:
                assert item["Condition"] in conditions, name


def test_the_cli_policies_say_the_same() -> None:
    queue_policy = json.loads((DIR / "queue-policy.json").read_text())
    (statement,) = queue_policy["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Action"] == "sqs:SendMessage"
    assert "aws:SourceArn" in statement["Condition"]["ArnEquals"]
    controller = json.loads((DIR / "controller-policy.json").read_text())
    (statement,) = controller["Statement"]
    assert set(statement["Action"]) == SQS_ACTIONS
    assert statement["Resource"].startswith("arn:aws:sqs:")


def test_the_controllers_iam_policy_grants_the_queue() -> None:
    policy = json.loads((REPO / "deploy" / "iam-policy.json").read_text())
    statements = [s for s in policy["Statement"] if any(str(a).startswith("sqs:") for a in s["Action"])]
    assert len(statements) == 1, statements
    (statement,) = statements
    assert set(statement["Action"]) == SQS_ACTIONS and len(statement["Action"]) == 3
    assert statement["Resource"] == "arn:aws:sqs:*:*:lambda-alias-controller-drift-events"
