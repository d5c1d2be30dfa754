"""Start moto's server with Lambda resource policies made faithful to AWS.

moto (pinned in requirements-test.txt) keeps one policy for all qualifiers of a function, drops
EventSourceToken, accepts duplicate statement ids, ignores RemovePermission's qualifier, and
reports an event source mapping on an alias as invoking the version behind it.
Real Lambda keeps a separate resource policy per alias (and per version), keeps the token as a
`lambda:EventSourceToken` condition, and refuses a duplicate Sid with ResourceConflictException.
It also stores an alias's RoutingConfig without AWS's checks, which are added here. The
controller relies on those real rules, so the end-to-end tests and `make demo` run moto with
this thin patch. Everything else (RevisionId, version numbering) is covered by the faithful
in-memory fake in src/aws/fake/, not here.

Usage: python moto_faithful.py -H 127.0.0.1 -p PORT   (the same arguments as moto_server)
"""

import sys

from moto.awslambda import models, responses
from moto.awslambda.exceptions import InvalidParameterValueException, LambdaClientError
from moto.awslambda.policy import Policy


class _Conflict(LambdaClientError):
    code = 409

    def __init__(self, message: str) -> None:
        super().__init__("ResourceConflictException", message)


_decode_policy = Policy.decode_policy


def _decode_keeping_token(self, obj):
    token = obj.get("EventSourceToken")
    policy = _decode_policy(self, obj)
    if token:
        condition = policy.statements[0].setdefault("Condition", {})
        condition.setdefault("StringEquals", {})["lambda:EventSourceToken"] = token
    return policy


Policy.decode_policy = _decode_keeping_token


def _policy_for(backend, function_name, qualifier):
    # Resolving the qualified function raises moto's own NotFound for a missing alias/version.
    backend.get_function(function_name, qualifier)
    base = backend.get_function(function_name)
    store = base.__dict__.setdefault("_faithful_policies", {})
    key = qualifier or "$LATEST"
    if key not in store:
        store[key] = Policy(base)
    return store[key]


def _add_permission(self, function_name, qualifier, raw):
    import json

    policy = _policy_for(self, function_name, qualifier)
    sid = json.loads(raw).get("StatementId")
    if sid and any(s.get("Sid") == sid for s in policy.statements):
        raise _Conflict(f"The statement id ({sid}) provided already exists. Please provide a new statement id, or remove the existing statement.")
    statement, _ = policy.add_statement(raw, qualifier)
    return statement


def _get_policy(self, function_name, qualifier=None):
    return _policy_for(self, function_name, qualifier).wire_format()


def _remove_permission(self, function_name, sid, revision="", qualifier=None):
    _policy_for(self, function_name, qualifier).del_statement(sid, revision)


_delete_alias = models.LambdaBackend.delete_alias


def _delete_alias_and_its_policy(self, name, function_name):
    _delete_alias(self, name, function_name)
    base = self.get_function(function_name)
    base.__dict__.setdefault("_faithful_policies", {}).pop(name, None)


models.LambdaBackend.add_permission = _add_permission
models.LambdaBackend.get_policy = _get_policy
models.LambdaBackend.remove_permission = _remove_permission
models.LambdaBackend.delete_alias = _delete_alias_and_its_policy


def _remove_permission_response(self):
    from urllib.parse import unquote

    function_name = unquote(self.path.split("/")[-3])
    statement_id = self.path.split("/")[-1].split("?")[0]
    revision = self.querystring.get("RevisionId", [""])[0]
    qualifier = self.querystring.get("Qualifier", [None])[0]
    self.backend.remove_permission(function_name, statement_id, revision, qualifier)
    return 204, {"status": 204}, "{}"


responses.LambdaResponse.remove_permission = _remove_permission_response

# Event source mappings: moto reports the version behind an alias as FunctionArn and keeps the
# FunctionName given at creation for listing, even after an update moves the mapping. AWS
# reports (and lists by) the qualified ARN the mapping invokes.
_create_mapping = models.LambdaBackend.create_event_source_mapping
_update_mapping = models.LambdaBackend.update_event_source_mapping


def _create_mapping_on_qualifier(self, spec):
    name = spec.get("FunctionName", "")
    mapping = _create_mapping(self, spec)
    if mapping is not None and name.startswith("arn:"):
        mapping.function_arn = name
    return mapping


def _update_mapping_on_qualifier(self, uuid, spec):
    mapping = _update_mapping(self, uuid, spec)
    name = spec.get("FunctionName")
    if mapping is not None and name:
        mapping.function_name = name
        if name.startswith("arn:"):
            mapping.function_arn = name
    return mapping


models.LambdaBackend.create_event_source_mapping = _create_mapping_on_qualifier
models.LambdaBackend.update_event_source_mapping = _update_mapping_on_qualifier

# Alias routing (spec.rollout's steps): moto stores RoutingConfig without checking it. AWS
# refuses more than one weighted version, weights on an alias whose own version is $LATEST, a
# weighted version equal to the alias's own, an unpublished one, and weights outside [0, 1]
# (the texts are AWS's, as LocalStack's AWS-recorded snapshot tests hold them).
def _check_routing(backend, function_name, function_version, routing_config):
    weights = (routing_config or {}).get("AdditionalVersionWeights") or {}
    if not weights:
        return
    if len(weights) > 1:
        raise InvalidParameterValueException(
            "Number of items in AdditionalVersionWeights cannot be greater than 1"
        )
    if function_version == "$LATEST":
        raise InvalidParameterValueException(
            "$LATEST is not supported for an alias pointing to more than 1 version"
        )
    for version, weight in weights.items():
        if not 0.0 <= float(weight) <= 1.0:
            raise InvalidParameterValueException(
                f"1 validation error detected: Value '{weight}' at 'routingConfig.additionalVersionWeights' "
                "failed to satisfy constraint: Member must have value between 0.0 and 1.0"
            )
        if str(version) == str(function_version):
            raise InvalidParameterValueException(
                f"Function version {version} is already included in routing configuration."
            )
        if not str(version).isdigit():
            raise InvalidParameterValueException(
                f"Function version {version} is not a published version."
            )
        # A version that does not exist: moto's own ResourceNotFound.
        backend.get_function(function_name, str(version))


_create_alias = models.LambdaBackend.create_alias
_update_alias = models.LambdaBackend.update_alias


def _create_alias_checked(self, name, function_name, function_version, description, routing_config):
    _check_routing(self, function_name, function_version, routing_config)
    return _create_alias(self, name, function_name, function_version, description, routing_config)


def _update_alias_checked(self, name, function_name, function_version, description, routing_config):
    version = function_version or self.get_alias(name, function_name).function_version
    _check_routing(self, function_name, version, routing_config)
    return _update_alias(self, name, function_name, function_version, description, routing_config)


models.LambdaBackend.create_alias = _create_alias_checked
models.LambdaBackend.update_alias = _update_alias_checked

# CloudWatch over Smithy RPC v2 CBOR: the protocol the Rust SDK's CloudWatch client speaks
# (POST /service/GraniteServiceVersion20100801/operation/<Operation>, CBOR bodies). moto routes
# only CloudWatch's query and JSON protocols, so the two reads spec.rollout makes are answered
# here from moto's own CloudWatch backend; alarms and metrics are put by the tests with boto3 as
# usual. cbor2 is a test requirement, imported only when such a request arrives.
_CBOR_PREFIX = "/service/GraniteServiceVersion20100801/operation/"


def _cbor_answer(environ, start_response):
    import re
    from datetime import datetime, timezone

    import cbor2
    from moto.cloudwatch.models import cloudwatch_backends
    from moto.iam.models import get_account_id_from

    operation = environ["PATH_INFO"][len(_CBOR_PREFIX):]
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    params = cbor2.loads(body) if body else {}
    scope = re.search(r"Credential=([^/]+)/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    access_key, region = (scope.group(1), scope.group(2)) if scope else ("", "us-east-1")
    backend = cloudwatch_backends[get_account_id_from(access_key)][region]

    def reply(status, payload):
        data = cbor2.dumps(payload, datetime_as_timestamp=True)
        start_response(status, [
            ("Content-Type", "application/cbor"),
            ("smithy-protocol", "rpc-v2-cbor"),
            ("Content-Length", str(len(data))),
        ])
        return [data]

    def timestamp(value):
        # moto keeps naive UTC datetimes; CBOR carries epoch seconds (tag 1).
        if not isinstance(value, datetime):
            value = datetime.fromtimestamp(float(value), tz=timezone.utc)
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value.tzinfo else value

    def aware(value):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)

    try:
        if operation == "DescribeAlarms":
            names = params.get("AlarmNames") or []
            alarms = backend.get_alarms_by_alarm_names(names) if names else backend.describe_alarms()
            return reply("200 OK", {
                "MetricAlarms": [
                    {"AlarmName": a.name, "AlarmArn": a.alarm_arn, "StateValue": a.state_value}
                    for a in alarms
                ],
                "CompositeAlarms": [],
            })
        if operation == "GetMetricData":
            results = backend.get_metric_data(
                queries=params.get("MetricDataQueries") or [],
                start_time=timestamp(params["StartTime"]),
                end_time=timestamp(params["EndTime"]),
                scan_by=params.get("ScanBy") or "TimestampDescending",
            )
            return reply("200 OK", {
                "MetricDataResults": [
                    {
                        "Id": r["id"],
                        "Label": r["label"],
                        "Values": [float(v) for v in r["values"]],
                        "Timestamps": [aware(timestamp(t)) for t in r["timestamps"]],
                        "StatusCode": r["status_code"],
                    }
                    for r in results
                ],
                "Messages": [],
            })
    except Exception as error:  # moto's ValidationError and the like: a 400 with its text
        return reply("400 Bad Request", {"__type": type(error).__name__, "message": str(error)})
    return reply("400 Bad Request", {"__type": "UnknownOperationException", "message": operation})


from moto.moto_server import werkzeug_app  # noqa: E402

_dispatch = werkzeug_app.DomainDispatcherApplication.__call__


def _dispatch_cbor_too(self, environ, start_response):
    if environ.get("PATH_INFO", "").startswith(_CBOR_PREFIX):
        return _cbor_answer(environ, start_response)
    return _dispatch(self, environ, start_response)


werkzeug_app.DomainDispatcherApplication.__call__ = _dispatch_cbor_too

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
