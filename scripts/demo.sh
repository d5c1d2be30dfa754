#!/usr/bin/env bash
# `make demo`: one full certification round of an Alexa skill against a local AWS emulator.
# moto (with tests/support/moto_faithful.py) stands in for AWS on a free loopback port; the
# controller's own CLI (`plan`, `apply`) does every AWS write. Nothing leaves this machine.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${MOTO_PYTHON:-.venv/bin/python}
BIN=${BIN:-${CARGO_TARGET_DIR:-target}/debug/lambda-alias-controller}
work=$(mktemp -d)
port=$("$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

"$PY" tests/support/moto_faithful.py -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $moto 2>/dev/null; wait $moto 2>/dev/null; rm -rf "$work"' EXIT

# Dummy credentials only: every call goes to the emulator.
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
for _ in $(seq 100); do
  "$PY" -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL/moto-api/')" 2>/dev/null && break
  sleep 0.2
done

bold() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
aws_() { "$PY" scripts/demo_aws.py "$@"; }
show() { echo "AWS now:"; aws_ show trivia-backend; }
manifest() { # phase [extra spec lines]
  cat >"$work/trivia.yaml" <<YAML
apiVersion: lambda.aliasset.dev/v1alpha1
kind: LambdaAliasSet
metadata: {name: trivia, namespace: skills}
spec:
  functionName: trivia-backend
  aliases: [PROD1, PROD2]
  drainSeconds: 4
  certification: {phase: $1${3:+, description: \"$3\"}}
${2:-}
  triggers:
    - name: alexa
      alexaSkill: {skillId: amzn1.ask.skill.3b4c5d6e-1234-4f00-9a9a-0123456789ab}
    - name: answers
      eventSourceMapping: {eventSourceArn: "$queue", batchSize: 10}
YAML
}
plan() { echo "\$ lambda-alias-controller plan -f trivia.yaml"; set +e; "$BIN" plan -f "$work/trivia.yaml"; echo "(exit $?)"; set -e; }
apply() {
  echo "\$ lambda-alias-controller apply -f trivia.yaml"
  "$BIN" apply -f "$work/trivia.yaml" --aws-calls >"$work/status.yaml"
  grep -E '^  (phase|drainUntil):|^    summary:|^  (live|candidate):|reason: (Converged|Draining|Progressing)' "$work/status.yaml" | sed 's/^/  status> /'
}

bold "A Lambda function deployed by CI (code 1.0.0), an SQS queue, and a LambdaAliasSet in Development"
queue=$(aws_ setup trivia-backend trivia-answers)
manifest Development
sed -n '1,20p' "$work/trivia.yaml" | sed 's/^/  /'
plan
apply
show

bold "CI deploys 1.1.0 to \$LATEST: the candidate (PROD2) serves it at once, live (PROD1) stays frozen"
aws_ deploy trivia-backend "skill 1.1.0" >/dev/null
plan
show

bold "Submit for certification: phase Certifying publishes \$LATEST and freezes the candidate on it"
manifest Certifying "" "1.1.0"
plan
apply
show

bold "Development goes on (1.2.0-dev on \$LATEST): the frozen candidate does not move"
aws_ deploy trivia-backend "skill 1.2.0-dev" >/dev/null
plan
show

bold "Hotfix: live moves to the code with this hash, without recertification"
hotfix=$(aws_ deploy trivia-backend "skill 1.0.1 hotfix")
manifest Certifying "  live: {codeSha256: \"$hotfix\"}" "1.1.0"
plan
apply
show

bold "Certified: the roles swap (one UpdateAlias), the queue follows the live alias, PROD1 drains"
manifest Certified "" "1.1.0"
plan
apply
show
echo "Re-applying changes nothing (never a second swap):"
plan

bold "After drainSeconds the previously live alias becomes the candidate and tracks \$LATEST"
sleep 5
plan
apply
show

bold "Next round with the roles reversed: PROD1 is the candidate in Development"
manifest Development
apply
show
echo
echo "Done. The same manifests work with the controller (make test runs it all)."
