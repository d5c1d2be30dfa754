"""Start moto's server with Lambda resource policies made faithful to AWS.

moto (pinned in requirements-test.txt) keeps one policy for all qualifiers of a function, drops
EventSourceToken, accepts duplicate statement ids, ignores RemovePermission's qualifier, and
reports an event source mapping on an alias as invoking the version behind it.
Real Lambda keeps a separate resource policy per alias (and per version), keeps the token as a
`lambda:EventSourceToken` condition, and refuses a duplicate Sid with ResourceConflictException.
The controller relies on those real rules, so the end-to-end tests and `make demo` run moto with
this thin patch. Everything else (RevisionId, version numbering) is covered by the faithful
in-memory fake in src/aws/fake/, not here.

Usage: python moto_faithful.py -H 127.0.0.1 -p PORT   (the same arguments as moto_server)
"""

import sys

from moto.awslambda import models, responses
from moto.awslambda.exceptions import LambdaClientError
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

if __name__ == "__main__":
    from moto.server import main

    main(sys.argv[1:])
