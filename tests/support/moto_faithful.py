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

moto has no provisioned concurrency (PC) at all: its four operations (PUT, GET and DELETE
/2019-09-30/functions/F/provisioned-concurrency?Qualifier=Q, GET ...?List=ALL) are answered
here against moto's functions, versions and aliases, with AWS's rules and texts: no config on
$LATEST or on an alias to it, none on an alias with routing weights, never both on an alias and
on the version it points at; PUT answers 202, DELETE 204 even without a config. A config is
IN_PROGRESS (keeping what it had allocated) for 2 s after its PUT, or after its alias is
re-pointed, then READY; deleting its alias, version or function deletes it. Tests steer this
through a test-only endpoint, POST /_lac_faithful/provisioned-concurrency with a JSON body:
{"FunctionName": F, "ReadySeconds": S} sets F's delay for later PUTs; {"FunctionName": F,
"Qualifier": Q, "Fail": true, "StatusReason": R} makes Q's config, existing or future, end
FAILED with R (by default FUNCTION_ERROR_INIT_FAILURE) instead of READY; "Fail": false undoes it.

Usage: python moto_faithful.py -H 127.0.0.1 -p PORT   (the same arguments as moto_server)
"""

import json
import re
import sys
import threading
import time
from urllib.parse import parse_qs, unquote

from moto.awslambda import models, responses
from moto.awslambda.exceptions import (
    InvalidParameterValueException,
    LambdaClientError,
    UnknownAliasException,
    ValidationException,
)
from moto.awslambda.policy import Policy
from moto.awslambda.utils import make_function_arn


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


def _body(environ):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


def _account_and_region(environ):
    # As moto does: the account holding the access key (else the default one), and the region
    # of the SigV4 credential scope.
    from moto.iam.models import get_account_id_from

    scope = re.search(r"Credential=([^/]+)/[^/]+/([^/]+)/", environ.get("HTTP_AUTHORIZATION", ""))
    access_key, region = (scope.group(1), scope.group(2)) if scope else ("", "us-east-1")
    return get_account_id_from(access_key), region


def _cbor_answer(environ, start_response):
    from datetime import datetime, timezone

    import cbor2
    from moto.cloudwatch.models import cloudwatch_backends

    operation = environ["PATH_INFO"][len(_CBOR_PREFIX):]
    body = _body(environ)
    params = cbor2.loads(body) if body else {}
    account, region = _account_and_region(environ)
    backend = cloudwatch_backends[account][region]

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


# Provisioned concurrency (see the module docstring), served before moto's dispatch like the CBOR
# calls. The texts and codes are AWS's, as LocalStack's AWS-recorded snapshot tests hold them;
# errors are moto's own exceptions, so they render exactly like moto's Lambda errors. Status is
# worked out when a config is read, so no thread moves it.
_PC_PATH = re.compile(r"/2019-09-30/functions/([^/]+)/provisioned-concurrency/?")
_PC_CONTROL = "/_lac_faithful/provisioned-concurrency"
_PC_UNPUBLISHED = "Provisioned Concurrency Configs cannot be applied to unpublished function versions."
_PC_LOCK = threading.RLock()  # moto's server is threaded; one lock keeps each change whole
_pc_configs = {}  # (account, region, function name, qualifier) -> config
_pc_ready_seconds = {}  # function name -> seconds from PUT to READY (the control endpoint's)
_pc_failing = {}  # (function name, qualifier) -> StatusReason (the control endpoint's)


class _NoPcConfig(LambdaClientError):
    code = 404

    def __init__(self) -> None:
        super().__init__(
            "ProvisionedConcurrencyConfigNotFoundException",
            "No Provisioned Concurrency Config found for this function",
        )


def _null(member):
    return LambdaClientError(
        "ValidationException",
        f"1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null",
    )


def _pc_split(name_or_arn):
    # A name, a partial ARN (ACCOUNT:function:NAME) or a full ARN, maybe with a qualifier.
    name, _, qualifier = unquote(name_or_arn).split(":function:")[-1].partition(":")
    return name, qualifier or None


def _lambda_date(moment):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment)) + f".{int(moment * 1000) % 1000:03d}+0000"


def _pc_view(key, config, now=None):
    requested, allocated, status, reason = config["requested"], config["allocated"], "IN_PROGRESS", None
    if (time.time() if now is None else now) > config["ready_at"]:
        reason = _pc_failing.get(key[2:])
        status, allocated = ("FAILED", 0) if reason else ("READY", requested)
    view = {
        "RequestedProvisionedConcurrentExecutions": requested,
        "AvailableProvisionedConcurrentExecutions": allocated,
        "AllocatedProvisionedConcurrentExecutions": allocated,
        "Status": status,
        "LastModified": config["last_modified"],
    }
    if reason:
        view["StatusReason"] = reason
    return view


def _pc_provision(key, requested, last_modified=None):
    now, old = time.time(), _pc_configs.get(key)
    _pc_configs[key] = {
        "requested": requested,
        # A replaced count (or a re-pointed alias) keeps what it has allocated until it is ready.
        "allocated": _pc_view(key, old)["AllocatedProvisionedConcurrentExecutions"] if old else 0,
        "since": now,
        "ready_at": now + _pc_ready_seconds.get(key[2], 2.0),
        "last_modified": last_modified or _lambda_date(now),
    }
    return _pc_configs[key]


def _pc_alias(backend, account, region, name, qualifier):
    """The alias a qualifier names (None for a version); AWS's 404 when either is missing."""
    if qualifier.isdigit():
        backend.get_function(name, qualifier)  # moto's "Function not found: ...:NAME:Q"
        return None
    try:
        return backend.get_alias(qualifier, name)
    except LambdaClientError:  # a missing function too: AWS names the alias it looked for
        raise UnknownAliasException(f"{make_function_arn(region, account, name)}:{qualifier}")


def _reply(start_response, status, payload=None):
    data = b"" if payload is None else json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
    return [data]


def _pc_answer(environ, start_response):
    from moto.core.request import Request
    from moto.moto_api import recorder

    # Kept by moto's request recorder like the requests moto serves itself.
    recorder._record_request(Request(environ))
    account, region = _account_and_region(environ)
    backend = models.lambda_backends[account][region]
    name, qualified = _pc_split(_PC_PATH.fullmatch(environ["PATH_INFO"]).group(1))
    query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    qualifier, method = query.get("Qualifier") or qualified, environ["REQUEST_METHOD"]
    key = (account, region, name, qualifier)
    try:
        with _PC_LOCK:
            if method == "GET" and qualifier is None:
                return _reply(start_response, "200 OK", _pc_list(backend, account, region, name, query))
            if method == "PUT":
                count = json.loads(_body(environ) or b"{}").get("ProvisionedConcurrentExecutions")
                if count is None:
                    raise _null("provisionedConcurrentExecutions")
                if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                    raise ValidationException(
                        count, "provisionedConcurrentExecutions", "Member must have value greater than or equal to 1"
                    )
            if qualifier is None:
                raise _null("qualifier")
            if qualifier == "$LATEST":
                raise InvalidParameterValueException(
                    _PC_UNPUBLISHED if method == "PUT" else "The function resource provided must be an alias or a published version."
                )
            alias = _pc_alias(backend, account, region, name, qualifier)
            if method == "DELETE":
                _pc_configs.pop(key, None)
                return _reply(start_response, "204 No Content")
            if method == "GET":
                if key not in _pc_configs:
                    raise _NoPcConfig()
                return _reply(start_response, "200 OK", _pc_view(key, _pc_configs[key]))
            if alias is not None:
                if alias.function_version == "$LATEST":
                    raise InvalidParameterValueException(_PC_UNPUBLISHED)
                if (alias.routing_config or {}).get("AdditionalVersionWeights"):
                    raise InvalidParameterValueException("Alias with weights can not be used with Provisioned Concurrency")
                if (account, region, name, alias.function_version) in _pc_configs:
                    raise _Conflict("Alias can't be used for Provisioned Concurrency configuration on an already Provisioned version")
            elif any(
                a.function_version == qualifier and (account, region, name, a.name) in _pc_configs
                for a in backend.list_aliases(name)
            ):
                raise _Conflict("Version is pointed by a Provisioned Concurrency alias")
            config = _pc_provision(key, count)
            # As of its PUT, a config is always IN_PROGRESS, however short its delay.
            return _reply(start_response, "202 Accepted", _pc_view(key, config, now=config["since"]))
    except LambdaClientError as error:
        return error(environ, start_response)


def _pc_list(backend, account, region, name, query):
    backend.get_function(name)  # moto's "Function not found: ...:NAME"
    try:
        start, size = int(query.get("Marker") or 0), int(query.get("MaxItems") or 50)
    except ValueError:
        raise InvalidParameterValueException("Invalid Marker or MaxItems")
    if not 1 <= size <= 50:
        bound = "greater than or equal to 1" if size < 1 else "less than or equal to 50"
        raise ValidationException(size, "maxItems", f"Member must have value {bound}")
    keys = sorted(
        (k for k in _pc_configs if k[:3] == (account, region, name)),
        key=lambda k: (not k[3].isdigit(), int(k[3]) if k[3].isdigit() else 0, k[3]),
    )
    answer = {
        "ProvisionedConcurrencyConfigs": [
            {"FunctionArn": f"{make_function_arn(region, account, name)}:{k[3]}", **_pc_view(k, _pc_configs[k])}
            for k in keys[start:start + size]
        ]
    }
    if start + size < len(keys):
        answer["NextMarker"] = str(start + size)  # the index of the next page's first config
    return answer


def _pc_control(environ, start_response):
    try:
        spec = json.loads(_body(environ) or b"{}")
        name, _ = _pc_split(spec["FunctionName"])
        with _PC_LOCK:
            if "ReadySeconds" in spec:
                _pc_ready_seconds[name] = float(spec["ReadySeconds"])
            if spec.get("Fail"):
                _pc_failing[(name, spec["Qualifier"])] = spec.get("StatusReason") or "FUNCTION_ERROR_INIT_FAILURE"
            elif "Fail" in spec:
                _pc_failing.pop((name, spec["Qualifier"]), None)
    except (KeyError, TypeError, ValueError) as error:
        return _reply(start_response, "400 Bad Request", {"message": f"bad control request: {error!r}"})
    return _reply(start_response, "200 OK", {})


# Re-pointing an alias moves its allocation to the new version, so its config provisions again;
# deleting an alias, a version or a function deletes their configs. Chained onto the patches above.
_update_alias_routed = models.LambdaBackend.update_alias
_delete_alias_and_policy = models.LambdaBackend.delete_alias
_delete_function = models.LambdaBackend.delete_function


def _update_alias_moving_pc(self, name, function_name, function_version, description, routing_config):
    before = self.get_alias(name, function_name).function_version
    alias = _update_alias_routed(self, name, function_name, function_version, description, routing_config)
    key = (self.account_id, self.region_name, _pc_split(function_name)[0], name)
    with _PC_LOCK:
        if key in _pc_configs and alias.function_version != before:
            _pc_provision(key, _pc_configs[key]["requested"], _pc_configs[key]["last_modified"])
    return alias


def _delete_alias_and_pc(self, name, function_name):
    _delete_alias_and_policy(self, name, function_name)
    with _PC_LOCK:
        _pc_configs.pop((self.account_id, self.region_name, _pc_split(function_name)[0], name), None)


def _delete_function_and_pc(self, function_name, qualifier=None):
    _delete_function(self, function_name, qualifier)
    name, qualified = _pc_split(function_name)
    qualifier = qualifier or qualified
    with _PC_LOCK:
        for key in [k for k in _pc_configs if k[:3] == (self.account_id, self.region_name, name)]:
            if qualifier in (None, key[3]):
                del _pc_configs[key]


models.LambdaBackend.update_alias = _update_alias_moving_pc
models.LambdaBackend.delete_alias = _delete_alias_and_pc
models.LambdaBackend.delete_function = _delete_function_and_pc


from moto.moto_server import werkzeug_app  # noqa: E402

_dispatch = werkzeug_app.DomainDispatcherApplication.__call__


def _dispatch_cbor_and_pc(self, environ, start_response):
    path, method = environ.get("PATH_INFO", ""), environ.get("REQUEST_METHOD")
    if path.startswith(_CBOR_PREFIX):
        return _cbor_answer(environ, start_response)
    if method in ("GET", "PUT", "DELETE") and _PC_PATH.fullmatch(path):
        return _pc_answer(environ, start_response)
    if method == "POST" and path == _PC_CONTROL:
        return _pc_control(environ, start_response)
    return _dispatch(self, environ, start_response)


werkzeug_app.DomainDispatcherApplication.__call__ = _dispatch_cbor_and_pc

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
