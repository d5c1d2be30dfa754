"""deploy/drift-events, beyond test_drift_events.py: what moto's matcher would let slip, and the
details of the template and the CLI files that make the setup deployable.

moto's EventBridge matcher (moto.events.models.EventPattern) has two limits guarded here rather
than relied on: an empty pattern matches every event, and a filter name it does not know (a typo
such as "prefx", which AWS refuses) matches every value. The template is read with all of
CloudFormation's short tags, and every reference is checked to name something that exists where
it is used (a conditional resource only under its condition).
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any, Iterator

import pytest
import yaml
from moto.events.models import EventPattern

from deploy_support import DRIFT_EVENT_NAMES, DEPLOY

DRIFT = DEPLOY / "drift-events"
PATTERN_FILE = DRIFT / "event-pattern.json"
TEMPLATE_FILE = DRIFT / "cloudformation.yaml"
QUEUE_POLICY_FILE = DRIFT / "queue-policy.json"
CONTROLLER_POLICY_FILE = DRIFT / "controller-policy.json"
IAM_POLICY_FILE = DEPLOY / "iam-policy.json"

EVENT_NAMES = DRIFT_EVENT_NAMES

CONTROLLER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}
PSEUDO_PARAMETERS = {
    "AWS::AccountId",
    "AWS::NotificationARNs",
    "AWS::NoValue",
    "AWS::Partition",
    "AWS::Region",
    "AWS::StackId",
    "AWS::StackName",
    "AWS::URLSuffix",
}
NO_VALUE = {"Ref": "AWS::NoValue"}


# --- the event pattern -------------------------------------------------------------------------


def pattern_text() -> str:
    return PATTERN_FILE.read_text()


def pattern() -> dict[str, Any]:
    return json.loads(pattern_text())


def matcher() -> EventPattern:
    return EventPattern.load(pattern_text())


def cloudtrail_event(
    event_name: str,
    *,
    source: str = "aws.lambda",
    detail_type: str = "AWS API Call via CloudTrail",
    event_source: str = "lambda.amazonaws.com",
    event_type: str = "AwsApiCall",
    read_only: bool = False,
) -> dict[str, Any]:
    """A CloudTrail record of a Lambda call as EventBridge delivers it (the whole envelope)."""
    return {
        "version": "0",
        "id": "7bf73129-1428-4cd3-a780-95db273d1602",
        "detail-type": detail_type,
        "source": source,
        "account": "111122223333",
        "time": "2026-12-07T03:39:58Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": {
            "eventVersion": "1.09",
            "userIdentity": {
                "type": "IAMUser",
                "principalId": "AIDAEXAMPLE",
                "arn": "arn:aws:iam::111122223333:user/alice",
                "accountId": "111122223333",
                "userName": "alice",
            },
            "eventTime": "2026-12-07T03:39:58Z",
            "eventSource": event_source,
            "eventName": event_name,
            "awsRegion": "eu-west-1",
            "sourceIPAddress": "203.0.113.10",
            "userAgent": "aws-cli/2.17.0",
            "requestParameters": {"functionName": "trivia", "name": "PROD1", "functionVersion": "7"},
            "responseElements": {
                "aliasArn": "arn:aws:lambda:eu-west-1:111122223333:function:trivia:PROD1",
                "name": "PROD1",
                "functionVersion": "7",
            },
            "requestID": "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111",
            "eventID": "d4f3a1c2-0000-4000-8000-EXAMPLE22222",
            "readOnly": read_only,
            "eventType": event_type,
            "managementEvent": True,
            "recipientAccountId": "111122223333",
            "eventCategory": "Management",
        },
    }


# Events the rule must not send: reads, a data event, and right names from elsewhere.
NOT_MATCHING: list[tuple[str, dict[str, Any]]] = [
    ("GetFunction", cloudtrail_event("GetFunction20150331v2", read_only=True)),
    ("ListAliases", cloudtrail_event("ListAliases20150331", read_only=True)),
    ("GetPolicy", cloudtrail_event("GetPolicy20150331v2", read_only=True)),
    ("ListVersionsByFunction", cloudtrail_event("ListVersionsByFunction20150331", read_only=True)),
    ("Invoke-data-event", cloudtrail_event("Invoke", event_type="AwsApiCall")),
    ("lowercase-name", cloudtrail_event("updatealias20150331")),
    ("name-in-the-middle", cloudtrail_event("XUpdateAlias20150331")),
    ("source-s3", cloudtrail_event("UpdateAlias20150331", source="aws.s3")),
    (
        "service-event",
        cloudtrail_event("UpdateAlias20150331", detail_type="AWS Service Event via CloudTrail"),
    ),
    ("event-source-s3", cloudtrail_event("UpdateAlias20150331", event_source="s3.amazonaws.com")),
]


def test_the_pattern_file_is_the_documented_pattern_pretty_printed():
    expected = {
        "source": ["aws.lambda"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["lambda.amazonaws.com"],
            "eventName": [{"prefix": name} for name in EVENT_NAMES],
        },
    }
    assert pattern() == expected
    assert pattern_text() == json.dumps(expected, indent=2) + "\n", "2-space indent, one trailing newline"


def test_every_name_filter_is_a_plain_prefix():
    """moto matches any value for a filter name it does not know, so a misspelt operator would
    pass the matcher tests below and be refused by AWS: every entry is {"prefix": NAME}."""
    for entry in pattern()["detail"]["eventName"]:
        assert isinstance(entry, dict) and list(entry) == ["prefix"], entry
        assert isinstance(entry["prefix"], str) and re.fullmatch(r"[A-Z][A-Za-z]+", entry["prefix"]), entry
    for key in ("source", "detail-type"):
        assert all(isinstance(v, str) for v in pattern()[key]), f"{key}: exact strings only"
    assert all(isinstance(v, str) for v in pattern()["detail"]["eventSource"])


@pytest.mark.parametrize(("case", "event"), NOT_MATCHING, ids=[case for case, _ in NOT_MATCHING])
def test_other_calls_and_other_sources_do_not_match(case, event):
    assert not matcher().matches_event(event), case


def test_the_matcher_discriminates():
    """The tests above would mean nothing if moto's matcher said yes to everything: an empty
    pattern (which moto matches with every event) and a pattern without the name filter accept
    what the real one refuses."""
    refused = [event for _, event in NOT_MATCHING]
    everything = EventPattern.load("{}")
    assert all(everything.matches_event(event) for event in refused)
    assert not any(matcher().matches_event(event) for event in refused)

    without_names = copy.deepcopy(pattern())
    del without_names["detail"]["eventName"]
    loose = EventPattern.load(json.dumps(without_names))
    assert loose.matches_event(cloudtrail_event("GetFunction20150331v2"))
    assert not matcher().matches_event(cloudtrail_event("GetFunction20150331v2"))

    exact = copy.deepcopy(pattern())
    exact["detail"]["eventName"] = list(EVENT_NAMES)
    exact_names = EventPattern.load(json.dumps(exact))
    assert exact_names.matches_event(cloudtrail_event("UpdateAlias"))
    assert not exact_names.matches_event(cloudtrail_event("UpdateAlias20150331")), (
        "exact names miss CloudTrail's suffixed names: the reason the pattern uses prefixes"
    )


def test_an_event_missing_the_fields_does_not_match():
    event = cloudtrail_event("UpdateAlias20150331")
    del event["detail"]["eventName"]
    assert not matcher().matches_event(event)
    event = cloudtrail_event("UpdateAlias20150331")
    del event["source"]
    assert not matcher().matches_event(event)


def test_prefixes_also_match_longer_names_which_the_controller_drops():
    """Documented in README.md: a prefix cannot tell `DeleteFunction20150331` from
    `DeleteFunctionConcurrency20171031`. The rule sends both; the controller's known_name()
    accepts only a known name followed by an API version (src/controller/drift_events/event.rs)."""
    for longer in ("DeleteFunctionConcurrency20171031", "DeleteFunctionUrlConfig20211031", "UpdateAliasX"):
        assert matcher().matches_event(cloudtrail_event(longer)), longer


# --- the CloudFormation template ---------------------------------------------------------------


class CloudFormationLoader(yaml.SafeLoader):
    """PyYAML's safe loader plus CloudFormation's short-form intrinsic functions: `!Ref X` is
    {"Ref": X}, `!GetAtt A.B` is {"Fn::GetAtt": ["A", "B"]}, `!Condition C` is {"Condition": C},
    and every other `!Name ARG` is {"Fn::Name": ARG}."""


def _intrinsic(name: str):
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)
        if name == "Ref":
            return {"Ref": value}
        if name == "Condition":
            return {"Condition": value}
        if name == "GetAtt" and isinstance(value, str):
            resource, _, attribute = value.partition(".")
            value = [resource, attribute]
        return {f"Fn::{name}": value}

    return construct


for _name in (
    "Ref", "Condition", "GetAtt", "Sub", "If", "Equals", "Not", "And", "Or", "Join", "Select",
    "Split", "FindInMap", "Base64", "Cidr", "GetAZs", "ImportValue", "Transform", "Length",
    "ToJsonString",
):  # fmt: skip
    CloudFormationLoader.add_constructor(f"!{_name}", _intrinsic(_name))


def load_template(text: str | None = None) -> dict[str, Any]:
    return yaml.load(TEMPLATE_FILE.read_text() if text is None else text, Loader=CloudFormationLoader)  # noqa: S506 - a SafeLoader


def test_the_loader_reads_short_and_long_forms_alike():
    short = load_template("a: !Ref X\nb: !GetAtt Q.Arn\nc: !If [C, !Sub 'x-${X}', !Ref AWS::NoValue]\nd: !Not [!Equals [!Ref X, '']]\n")
    long = load_template(
        "a: {Ref: X}\nb: {'Fn::GetAtt': [Q, Arn]}\n"
        "c: {'Fn::If': [C, {'Fn::Sub': 'x-${X}'}, {Ref: 'AWS::NoValue'}]}\n"
        "d: {'Fn::Not': [{'Fn::Equals': [{Ref: X}, '']}]}\n"
    )
    assert short == long


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


def resources_of_type(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def only(template: dict[str, Any], kind: str) -> tuple[str, dict[str, Any]]:
    found = resources_of_type(template, kind)
    assert len(found) == 1, f"expected one {kind}, found {sorted(found)}"
    return next(iter(found.items()))


def the_queue(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The queue the controller reads: the SQS queue without a Condition."""
    queues = {n: r for n, r in resources_of_type(template, "AWS::SQS::Queue").items() if "Condition" not in r}
    assert len(queues) == 1, sorted(queues)
    return next(iter(queues.items()))


def the_dead_letter_queue(template: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    queues = {n: r for n, r in resources_of_type(template, "AWS::SQS::Queue").items() if "Condition" in r}
    assert len(queues) == 1, sorted(queues)
    return next(iter(queues.items()))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_template_has_exactly_the_expected_resources(template):
    assert template["AWSTemplateFormatVersion"] == "2010-09-09"
    kinds = sorted(r["Type"] for r in template["Resources"].values())
    assert kinds == [
        "AWS::Events::Rule",
        "AWS::IAM::ManagedPolicy",
        "AWS::SQS::Queue",
        "AWS::SQS::Queue",
        "AWS::SQS::QueuePolicy",
    ]
    overlap = set(template["Parameters"]) & set(template["Resources"])
    assert not overlap, f"parameters and resources share logical IDs: {overlap}"


def test_parameters_and_their_defaults(template):
    params = template["Parameters"]
    assert sorted(params) == sorted(
        ["QueueName", "DeadLetterQueue", "MaxReceiveCount", "MessageRetentionSeconds", "ControllerRoleName"]
    )
    assert params["QueueName"]["Default"] == "lambda-alias-controller-drift-events"
    assert params["DeadLetterQueue"]["Default"] == "true"
    assert params["DeadLetterQueue"]["AllowedValues"] == ["true", "false"]
    assert params["MaxReceiveCount"]["Type"] == "Number" and params["MaxReceiveCount"]["Default"] == 5
    assert params["MessageRetentionSeconds"]["Type"] == "Number"
    assert params["MessageRetentionSeconds"]["Default"] == 345600
    assert params["ControllerRoleName"]["Default"] == ""
    # The default name satisfies its own AllowedPattern.
    assert re.fullmatch(params["QueueName"]["AllowedPattern"], params["QueueName"]["Default"])


def test_the_queue(template):
    _, queue = the_queue(template)
    props = queue["Properties"]
    assert props["QueueName"] == {"Ref": "QueueName"}
    assert props["VisibilityTimeout"] == 60
    assert props["ReceiveMessageWaitTimeSeconds"] == 20
    assert props["SqsManagedSseEnabled"] is True
    assert props["MessageRetentionPeriod"] == {"Ref": "MessageRetentionSeconds"}
    assert "KmsMasterKeyId" not in props, "SSE-SQS: EventBridge needs no key policy"


def test_the_dead_letter_queue_and_redrive_are_behind_the_condition(template):
    dlq_name, dlq = the_dead_letter_queue(template)
    condition = dlq["Condition"]
    assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": "DeadLetterQueue"}, "true"]}
    assert dlq["Properties"]["SqsManagedSseEnabled"] is True
    _, queue = the_queue(template)
    assert queue["Properties"]["RedrivePolicy"] == {
        "Fn::If": [
            condition,
            {"deadLetterTargetArn": {"Fn::GetAtt": [dlq_name, "Arn"]}, "maxReceiveCount": {"Ref": "MaxReceiveCount"}},
            NO_VALUE,
        ]
    }
    output = template["Outputs"]["DeadLetterQueueUrl"]
    assert output["Condition"] == condition and output["Value"] == {"Ref": dlq_name}


def test_the_queue_policy_lets_eventbridge_send_for_the_rule_only(template):
    _, policy = only(template, "AWS::SQS::QueuePolicy")
    queue, _ = the_queue(template)
    rule, _ = only(template, "AWS::Events::Rule")
    assert policy["Properties"]["Queues"] == [{"Ref": queue}]
    document = policy["Properties"]["PolicyDocument"]
    assert document["Version"] == "2012-10-17"
    statements = as_list(document["Statement"])
    assert statements, "no statement"
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert statement["Principal"] == {"Service": "events.amazonaws.com"}, "EventBridge only"
        assert as_list(statement["Action"]) == ["sqs:SendMessage"], "SendMessage only"
        assert as_list(statement["Resource"]) == [{"Fn::GetAtt": [queue, "Arn"]}]
        assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule, "Arn"]}}}
        assert not {"NotAction", "NotPrincipal", "NotResource"} & set(statement)


def test_the_controller_policy_grants_exactly_the_three_queue_actions(template):
    _, policy = only(template, "AWS::IAM::ManagedPolicy")
    queue, _ = the_queue(template)
    props = policy["Properties"]
    assert "ManagedPolicyName" not in props, "a named policy would need CAPABILITY_NAMED_IAM"
    (statement,) = as_list(props["PolicyDocument"]["Statement"])
    assert statement["Effect"] == "Allow"
    assert sorted(as_list(statement["Action"])) == sorted(CONTROLLER_ACTIONS)
    assert as_list(statement["Resource"]) == [{"Fn::GetAtt": [queue, "Arn"]}]
    roles = props["Roles"]
    assert roles["Fn::If"][1:] == [[{"Ref": "ControllerRoleName"}], NO_VALUE]
    assert template["Conditions"][roles["Fn::If"][0]] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "ControllerRoleName"}, ""]}]
    }


def test_outputs(template):
    outputs = template["Outputs"]
    queue, _ = the_queue(template)
    rule, _ = only(template, "AWS::Events::Rule")
    policy, _ = only(template, "AWS::IAM::ManagedPolicy")
    assert sorted(outputs) == sorted(["QueueUrl", "QueueArn", "RuleArn", "ControllerPolicyArn", "DeadLetterQueueUrl"])
    assert outputs["QueueUrl"]["Value"] == {"Ref": queue}, "Ref of a queue is its URL"
    assert outputs["QueueArn"]["Value"] == {"Fn::GetAtt": [queue, "Arn"]}
    assert outputs["RuleArn"]["Value"] == {"Fn::GetAtt": [rule, "Arn"]}
    assert outputs["ControllerPolicyArn"]["Value"] == {"Ref": policy}, "Ref of a managed policy is its ARN"
    for name in ("QueueUrl", "QueueArn", "RuleArn", "ControllerPolicyArn"):
        assert "Condition" not in outputs[name], name


def walk(node: Any, holds: frozenset[str] = frozenset()) -> Iterator[tuple[str, Any, frozenset[str]]]:
    """Every intrinsic function in `node` as (kind, argument, conditions known to hold there):
    the true branch of an Fn::If holds its condition."""
    if isinstance(node, list):
        for item in node:
            yield from walk(item, holds)
    elif isinstance(node, dict):
        if len(node) == 1:
            (key, value), = node.items()
            if key in ("Ref", "Condition") or key.startswith("Fn::"):
                yield key, value, holds
            if key == "Fn::If":
                condition, when_true, when_false = value
                yield from walk(when_true, holds | {condition})
                yield from walk(when_false, holds)
                return
        for value in node.values():
            yield from walk(value, holds)


def sub_names(argument: Any) -> list[str]:
    """The names a Fn::Sub string refers to (`${X}`, `${X.Attr}`; not `${!Literal}` nor the
    variables of its own map)."""
    text, variables = (argument, {}) if isinstance(argument, str) else (argument[0], argument[1])
    return [
        name.split(".")[0]
        for name in re.findall(r"\$\{([^!}][^}]*)\}", text)
        if name not in variables
    ]


def test_every_reference_and_condition_is_defined(template):
    resources = template["Resources"]
    parameters = set(template["Parameters"])
    conditions = set(template.get("Conditions", {}))
    referable = set(resources) | parameters | PSEUDO_PARAMETERS
    scopes = [("Conditions", template.get("Conditions", {}), frozenset())]
    scopes += [(f"Resources.{n}", r, frozenset({r["Condition"]}) if "Condition" in r else frozenset()) for n, r in resources.items()]
    scopes += [(f"Outputs.{n}", o, frozenset({o["Condition"]}) if "Condition" in o else frozenset()) for n, o in template["Outputs"].items()]
    seen = {"Ref": 0, "Fn::GetAtt": 0, "Fn::If": 0}
    for where, node, holds in scopes:
        if isinstance(node, dict) and "Condition" in node and where != "Conditions":
            assert node["Condition"] in conditions, f"{where}: undefined Condition {node['Condition']}"
        for kind, argument, held in walk(node, holds):
            seen[kind] = seen.get(kind, 0) + 1
            names: list[str] = []
            if kind == "Ref":
                names = [argument]
            elif kind == "Fn::GetAtt":
                assert argument[0] in resources, f"{where}: GetAtt of {argument[0]}, which is no resource"
                names = [argument[0]]
            elif kind == "Fn::Sub":
                names = sub_names(argument)
            elif kind == "Fn::If":
                assert argument[0] in conditions, f"{where}: Fn::If on undefined condition {argument[0]}"
            elif kind == "Condition":
                assert argument in conditions, f"{where}: undefined condition {argument}"
            for name in names:
                assert name in referable, f"{where}: {kind} {name} names no resource, parameter or pseudo parameter"
                conditional = resources.get(name, {}).get("Condition")
                if conditional:
                    assert conditional in held, (
                        f"{where}: {name} exists only when {conditional} holds; refer to it under "
                        f"Fn::If [{conditional}, ...] or from something with Condition: {conditional}"
                    )
    assert seen["Ref"] and seen["Fn::GetAtt"] and seen["Fn::If"], "the walk found the intrinsics"


def test_the_reference_check_catches_dangling_names():
    broken = load_template(TEMPLATE_FILE.read_text().replace("!GetAtt DriftEventsRule.Arn", "!GetAtt DriftRule.Arn"))
    with pytest.raises(AssertionError, match="DriftRule"):
        test_every_reference_and_condition_is_defined(broken)
    unguarded = load_template(
        TEMPLATE_FILE.read_text().replace(
            "    Value: !Ref DriftEventsDeadLetterQueue", "    Value: !Ref DriftEventsDeadLetterQueue\n  Extra:\n    Value: !Ref DriftEventsDeadLetterQueue"
        )
    )
    with pytest.raises(AssertionError, match="exists only when"):
        test_every_reference_and_condition_is_defined(unguarded)


# --- the AWS CLI's policy files and deploy/iam-policy.json -------------------------------------


def test_queue_policy_json_is_the_templates_statement_with_placeholders(template):
    document = json.loads(QUEUE_POLICY_FILE.read_text())
    assert document["Version"] == "2012-10-17"
    (statement,) = document["Statement"]
    _, policy = only(template, "AWS::SQS::QueuePolicy")
    (cfn,) = as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    assert statement["Effect"] == cfn["Effect"] == "Allow"
    assert statement["Principal"] == cfn["Principal"] == {"Service": "events.amazonaws.com"}
    assert as_list(statement["Action"]) == as_list(cfn["Action"]) == ["sqs:SendMessage"]
    assert statement["Resource"] == "arn:aws:sqs:REGION:ACCOUNT:QUEUE_NAME"
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": "arn:aws:events:REGION:ACCOUNT:rule/RULE_NAME"}}
    assert list(statement["Condition"]) == list(cfn["Condition"])


def test_controller_policy_json_is_the_templates_statement_with_placeholders(template):
    document = json.loads(CONTROLLER_POLICY_FILE.read_text())
    assert document["Version"] == "2012-10-17"
    (statement,) = document["Statement"]
    _, policy = only(template, "AWS::IAM::ManagedPolicy")
    (cfn,) = as_list(policy["Properties"]["PolicyDocument"]["Statement"])
    assert statement["Effect"] == cfn["Effect"] == "Allow"
    assert as_list(statement["Action"]) == as_list(cfn["Action"])
    assert set(statement["Action"]) == CONTROLLER_ACTIONS and len(statement["Action"]) == 3
    assert statement["Resource"] == "arn:aws:sqs:REGION:ACCOUNT:QUEUE_NAME"
    assert statement.get("Sid") == cfn.get("Sid")


def test_iam_policy_grants_the_queue_actions_on_queues_only(template):
    document = json.loads(IAM_POLICY_FILE.read_text())
    sqs = [s for s in document["Statement"] if any(a.startswith("sqs:") for a in as_list(s["Action"]))]
    assert len(sqs) == 1, "one statement grants the SQS actions"
    (statement,) = sqs
    assert statement["Sid"] == "DriftEventsQueue"
    assert statement["Effect"] == "Allow"
    assert sorted(as_list(statement["Action"])) == sorted(CONTROLLER_ACTIONS), "exactly the three actions"
    assert set(statement) == {"Sid", "Effect", "Action", "Resource"}, "nothing else in that statement"
    resources = as_list(statement["Resource"])
    assert resources, "no Resource"
    for resource in resources:
        parts = resource.split(":")
        assert resource.startswith("arn:aws:sqs:") and len(parts) == 6, f"not a queue ARN: {resource}"
        assert parts[5] not in ("", "*"), f"{resource}: every queue of the account, not the drift events queue"
    # The template's default queue name, which the policy grants out of the box.
    default = template["Parameters"]["QueueName"]["Default"]
    assert resources == [f"arn:aws:sqs:*:*:{default}"]


def test_readme_json_blocks_parse_and_name_the_files():
    readme = (DRIFT / "README.md").read_text()
    for block in re.findall(r"```json\n(.*?)```", readme, re.DOTALL):
        json.loads(block)
    for needle in (
        "aws sqs create-queue",
        "aws events put-rule",
        "--event-pattern file://event-pattern.json",
        "aws events put-targets",
        "aws sqs set-queue-attributes",
        "Policy",
        "aws iam put-role-policy",
        "aws cloudformation deploy",
        "--capabilities CAPABILITY_IAM",
        "--template-file deploy/drift-events/cloudformation.yaml",
    ):
        assert needle in readme, needle
    for path in (PATTERN_FILE, TEMPLATE_FILE, QUEUE_POLICY_FILE, CONTROLLER_POLICY_FILE):
        assert f"]({path.name})" in readme, f"README.md does not link {path.name}"
