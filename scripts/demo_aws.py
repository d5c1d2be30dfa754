"""AWS-side helpers for `make demo`, run with the test venv's Python against a local moto.

  setup FUNCTION QUEUE   create the IAM role, the function and an SQS queue (prints the queue ARN)
  deploy FUNCTION TEXT   upload new code (a handler returning TEXT), like a CI deploy of $LATEST
  sha FUNCTION           print $LATEST's CodeSha256
  show FUNCTION          print each alias: version, code, role marker, permissions, mappings
"""

import io
import json
import sys
import zipfile

import boto3

ROLE_POLICY = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
)


def code(text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("index.py", f"def handler(event, context):\n    return {text!r}\n")
    return buf.getvalue()


def setup(function: str, queue: str) -> None:
    iam = boto3.client("iam")
    role = iam.create_role(RoleName=f"{function}-role", AssumeRolePolicyDocument=ROLE_POLICY)["Role"]["Arn"]
    lam = boto3.client("lambda")
    lam.create_function(
        FunctionName=function,
        Runtime="python3.12",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": code("skill 1.0.0")},
    )
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=queue)["QueueUrl"]
    print(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])


def deploy(function: str, text: str) -> None:
    out = boto3.client("lambda").update_function_code(FunctionName=function, ZipFile=code(text))
    print(out["CodeSha256"])


def sha(function: str) -> None:
    print(boto3.client("lambda").get_function(FunctionName=function)["Configuration"]["CodeSha256"])


def show(function: str) -> None:
    lam = boto3.client("lambda")
    latest = lam.get_function(FunctionName=function)["Configuration"]["CodeSha256"]
    versions = {v["Version"]: v["CodeSha256"] for v in lam.list_versions_by_function(FunctionName=function)["Versions"]}
    print(f"  $LATEST code {latest[:10]}…  published versions: {', '.join(v for v in versions if v != '$LATEST') or 'none'}")
    for alias in lam.list_aliases(FunctionName=function)["Aliases"]:
        name, version = alias["Name"], alias["FunctionVersion"]
        words = dict(w.split("=", 1) for w in alias.get("Description", "").split()[1:] if "=" in w)
        role = words.get("role", "-")
        try:
            policy = json.loads(lam.get_policy(FunctionName=function, Qualifier=name)["Policy"])
            sids = [s["Sid"] for s in policy["Statement"]]
        except lam.exceptions.ResourceNotFoundException:
            sids = []
        arn = alias["AliasArn"]
        queues = [m["EventSourceArn"].split(":")[-1] for m in lam.list_event_source_mappings(FunctionName=arn)["EventSourceMappings"]]
        print(
            f"  {name:<6} role={role:<9} -> version {version:<8} code {versions.get(version, latest)[:10]}…"
            f"  permissions: {', '.join(sids) or '-'}  queues: {', '.join(queues) or '-'}"
        )


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"setup": setup, "deploy": deploy, "sha": sha, "show": show}[command](*args)
