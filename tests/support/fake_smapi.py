"""A faithful fake of the Alexa Skill Management API (SMAPI) and Login with Amazon (LWA), for tests.

It serves what the controller reads, with the rules of the public SMAPI and LWA references:

  POST /auth/o2/token                               LWA: grant_type=refresh_token, client_id,
                                                    client_secret, refresh_token (form-encoded) ->
                                                    {access_token, refresh_token, token_type: bearer,
                                                    expires_in}; 400 invalid_request /
                                                    unsupported_grant_type / invalid_client (unknown
                                                    client or wrong secret) / invalid_grant (refresh
                                                    token not issued to that client)
  GET  /v1/skills/{id}/stages/{stage}/manifest      {"manifest": {...}}; stage development, live or
                                                    certified; 404 when the stage has no manifest
  GET  /v1/skills/{id}/certifications               paged (maxResults 1-50, and never more than
                                                    --page-size per page), newest review id first
                                                    (the response schema's order; the operation's text
                                                    says newest submission first, which is the same
                                                    unless a test back-dates a submission):
                                                    {_links, isTruncated, nextToken, totalCount, items:
                                                    [{id, status, skillSubmissionTimestamp,
                                                    reviewTrackingInfo}]}; an unknown or foreign
                                                    nextToken is 400

Every SMAPI call needs `Authorization: Bearer <token>` from this LWA: 401 for a missing, unknown or
expired token; 403 when the token's user is not of the skill's vendor; 404 for an unknown skill;
429 with `Retry-After` while a throttle is set for the skill; a scripted 5xx while an outage is.

Tests script it through /_fake (JSON bodies; query parameters work too):

  GET  /_fake/health                                readiness probe
  POST /_fake/clients                               {clientId, clientSecret, refreshToken, vendorId,
                                                    tokenExpiresIn=3600}: an LWA client and one user's
                                                    refresh token for it
  POST /_fake/clients/{clientId}/expire-tokens      the access tokens issued to it expire now
  POST /_fake/expire-tokens                         every access token expires now
  POST /_fake/skills/{id}                           {vendorId, development: STAGE, live: STAGE|null}
  PUT  /_fake/skills/{id}/stages/{stage}            STAGE, or null to remove (development, live)
  POST /_fake/skills/{id}/submit                    {submittedAt: unix seconds | ISO 8601, optional}:
                                                    a new IN_PROGRESS review of the development
                                                    manifest as it is now; 409 while one is in progress
  POST /_fake/skills/{id}/certify | fail | cancel   the review in progress becomes SUCCEEDED | FAILED
                                                    | CANCELLED; 409 without one
  POST /_fake/skills/{id}/publish                   the live stage becomes the manifest of the newest
                                                    SUCCEEDED review (what was submitted, as on
                                                    SMAPI); 409 without one
  POST /_fake/skills/{id}/throttle                  {count, retryAfter=1}: the next `count` SMAPI
                                                    calls for the skill answer 429
  POST /_fake/skills/{id}/outage                    {count, status=503}: the next `count` answer 5xx
  GET  /_fake/requests?clientId=&skillId=           {"lwa": n, "smapi": n, "requests": [...]}: token
                                                    requests of the client, SMAPI calls for the skill

And the development manifest's write path, with the rules of the Skill Manifest reference:

  GET  /v1/skills/{id}/stages/{stage}/manifest      answers an `ETag` (quoted; it changes with every
                                                    change of that stage's manifest)
  PUT  /v1/skills/{id}/stages/development/manifest  {"manifest": {...}}, `If-Match` optional: 412 when
                                                    it is not the current ETag; 409 while a review is
                                                    in progress; 400 for a body without a manifest
                                                    object; the live (or any other) stage: 403.
                                                    202 Accepted: asynchronous, IN_PROGRESS for the
                                                    skill's update delay, then SUCCEEDED (the stage
                                                    serves the PUT body byte for byte, new ETag) or
                                                    FAILED (unchanged). Meanwhile GET answers the old one.
  GET  /v1/skills/{id}/status?resource=manifest     {"manifest": {"eTag", "lastUpdateRequest": {"status":
                                                    IN_PROGRESS | SUCCEEDED | FAILED, "errors": [{code,
                                                    message}], "warnings": []}}}; no lastUpdateRequest
                                                    before the first update

Scripting the write path:

  POST /_fake/skills/{id}/manifest-updates          {delay=0 seconds, fail=0, errors=[message]}: updates
                                                    take `delay` seconds; the next `fail` end FAILED
  POST /_fake/skills/{id}/race                      {count=1}: just before each of the next `count` PUTs
                                                    of the development manifest, a person edits it (its
                                                    name gains " (edited)"), so a PUT with the ETag read
                                                    before is stale (412)
  PUT  /_fake/skills/{id}/stages/development        {"raw": "<envelope text>"} stores that text verbatim
  GET  /_fake/skills/{id}/writes                    {"writes": [body, ...]}: every accepted PUT body
  GET  /_fake/skills/{id}/stages/development        {"text", "etag"}: the envelope as GET serves it

STAGE is {"kind": "custom" | "smartHome", "uri": ARN, "regions": {"NA": ARN, "EU": ARN, "FE": ARN}}
(`uri` and `regions` optional), or {"manifest": {...}} for a verbatim manifest.

Usage: python fake_smapi.py -H 127.0.0.1 -p PORT [--page-size N]
"""

import argparse
import copy
import datetime
import itertools
import json
import secrets
import threading
import time

from flask import Flask, g, jsonify, request
from werkzeug.serving import make_server

app = Flask(__name__)
LOCK = threading.RLock()
PAGE_SIZE = [2]
STAGES = ("development", "live", "certified")

clients = {}  # client id -> {"secret", "expires_in", "refresh_tokens": {token: vendor id}}
tokens = {}  # access token -> {"client_id", "vendor_id", "expires_at"}
skills = {}  # skill id -> {"vendor_id", "stages": {stage: manifest}, "reviews": [review]}
page_tokens = {}  # nextToken -> (skill id, offset)
throttles = {}  # skill id -> {"count", "retry_after"}
outages = {}  # skill id -> {"count", "status"}
requests_log = []
review_ids = itertools.count(1)
etag_ids = itertools.count(1)


def iso(at):
    stamp = datetime.datetime.fromtimestamp(at, tz=datetime.timezone.utc)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


def params():
    merged = dict(request.args)
    body = request.get_json(silent=True)
    if isinstance(body, dict):
        merged.update(body)
    return merged


def error(status, message, code=None, headers=None):
    body = {"message": message}
    if code:
        body["code"] = code
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def oauth_error(code, description):
    response = jsonify({"error": code, "error_description": description})
    response.status_code = 400
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


@app.after_request
def record(response):
    if request.path.startswith("/_fake"):
        return response
    kind = "lwa" if request.path == "/auth/o2/token" else "smapi"
    with LOCK:
        requests_log.append(
            {
                "api": kind,
                "method": request.method,
                "path": request.full_path.rstrip("?"),
                "status": response.status_code,
                "clientId": g.get("client_id"),
                "skillId": g.get("skill_id"),
                "at": time.time(),
            }
        )
    return response


# ---------------------------------------------------------------------------------------------
# Login with Amazon


@app.post("/auth/o2/token")
def lwa_token():
    form = request.form
    g.client_id = form.get("client_id")
    grant_type = form.get("grant_type")
    if not grant_type:
        return oauth_error("invalid_request", "The request is missing a required parameter : grant_type")
    if grant_type != "refresh_token":
        return oauth_error("unsupported_grant_type", "The authorization grant type is not supported")
    for name in ("client_id", "refresh_token"):
        if not form.get(name):
            return oauth_error("invalid_request", f"The request is missing a required parameter : {name}")
    with LOCK:
        client = clients.get(form["client_id"])
        if client is None or not secrets.compare_digest(client["secret"], form.get("client_secret", "")):
            return oauth_error("invalid_client", "Client authentication failed")
        vendor_id = client["refresh_tokens"].get(form["refresh_token"])
        if vendor_id is None:
            return oauth_error("invalid_grant", "The request has an invalid grant parameter : refresh_token")
        token = "Atza|" + secrets.token_urlsafe(48)
        tokens[token] = {
            "client_id": form["client_id"],
            "vendor_id": vendor_id,
            "expires_at": time.time() + client["expires_in"],
        }
        response = jsonify(
            {
                "access_token": token,
                "refresh_token": form["refresh_token"],
                "token_type": "bearer",
                "expires_in": client["expires_in"],
            }
        )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


# ---------------------------------------------------------------------------------------------
# SMAPI


def authorize(skill_id):
    """The skill, or the error answer SMAPI gives for this request."""
    g.skill_id = skill_id
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    with LOCK:
        grant = tokens.get(value.strip()) if scheme.lower() == "bearer" else None
        if grant is None or time.time() >= grant["expires_at"]:
            return None, error(
                401,
                "Token is invalid/expired",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        g.client_id = grant["client_id"]
        throttle = throttles.get(skill_id)
        if throttle and throttle["count"] > 0:
            throttle["count"] -= 1
            return None, error(
                429, "Rate exceeded", "TOO_MANY_REQUESTS", {"Retry-After": str(throttle["retry_after"])}
            )
        outage = outages.get(skill_id)
        if outage and outage["count"] > 0:
            outage["count"] -= 1
            return None, error(outage["status"], "Internal Server Error", "INTERNAL_SERVER_ERROR")
        skill = skills.get(skill_id)
        if skill is None:
            return None, error(404, "The resource being requested is not found.", "NOT_FOUND")
        if skill["vendor_id"] != grant["vendor_id"]:
            return None, error(403, "The operation being requested is not allowed.", "ACCESS_DENIED")
        return skill, None


@app.get("/v1/skills/<skill_id>/stages/<stage>/manifest")
def get_manifest(skill_id, stage):
    skill, failure = authorize(skill_id)
    if failure:
        return failure
    if stage not in STAGES:
        return error(400, f"Invalid stage {stage}.", "INVALID_STAGE")
    with LOCK:
        settle(skill)
        if stage == "certified":
            certified = [r for r in skill["reviews"] if r["status"] == "SUCCEEDED"]
            manifest = certified[-1]["manifest"] if certified else None
        else:
            manifest = skill["stages"].get(stage)
        if manifest is None:
            return error(404, "The resource being requested is not found.", "NOT_FOUND")
        raw = skill["raw"].get(stage)
        if raw is not None:
            response = app.response_class(raw, mimetype="application/json")
        else:
            response = jsonify({"manifest": copy.deepcopy(manifest)})
        response.headers["ETag"] = skill["etags"].get(stage) or f'"{abs(hash(repr(manifest)))}"'
    return response


def edit_by_a_person(skill):
    """A person renames the skill in the development manifest (a new ETag; the raw text is the
    previous one with the name changed, so every other byte stays)."""
    manifest = skill["stages"]["development"]
    raw = skill["raw"].get("development")
    edited = copy.deepcopy(manifest)
    for locale in edited.setdefault("publishingInformation", {}).setdefault("locales", {}).values():
        old_name = locale.get("name", "")
        locale["name"] = old_name + " (edited)"
        if raw is not None:
            raw = raw.replace(json.dumps(old_name), json.dumps(old_name + " (edited)"), 1)
    set_manifest(skill, "development", edited, raw)


def set_manifest(skill, stage, manifest, raw=None):
    """A change of a stage's manifest (by a person, a test or an update): a new ETag."""
    skill["stages"][stage] = manifest
    skill["raw"][stage] = raw
    skill["etags"][stage] = f'"etag-{next(etag_ids)}"'


def settle(skill):
    """Ends the update in progress once its time has come."""
    update = skill["update"]
    if update is None or update["status"] != "IN_PROGRESS" or time.time() < update["due"]:
        return
    if update["fail"]:
        update["status"] = "FAILED"
        update["errors"] = [{"code": "INVALID_MANIFEST", "message": m} for m in update["messages"]]
    else:
        update["status"] = "SUCCEEDED"
        set_manifest(skill, "development", update["manifest"], update["raw"])


@app.put("/v1/skills/<skill_id>/stages/<stage>/manifest")
def put_manifest(skill_id, stage):
    skill, failure = authorize(skill_id)
    if failure:
        return failure
    if stage != "development":
        return error(403, f"The {stage} stage cannot be updated.", "ACCESS_DENIED")
    raw = request.get_data(as_text=True)
    try:
        body = json.loads(raw)
    except ValueError:
        return error(400, "The request body is not JSON.", "INVALID_REQUEST_BODY")
    if not isinstance(body, dict) or not isinstance(body.get("manifest"), dict):
        return error(400, "The request body has no manifest.", "INVALID_REQUEST_BODY")
    with LOCK:
        settle(skill)
        if any(r["status"] == "IN_PROGRESS" for r in skill["reviews"]):
            return error(409, "The skill is being certified: its development manifest is frozen.", "CONFLICT")
        if skill["races"] > 0:
            skill["races"] -= 1
            edit_by_a_person(skill)
        if_match = request.headers.get("If-Match")
        if if_match is not None and if_match != skill["etags"].get("development"):
            return error(412, "The manifest changed since it was read.", "PRECONDITION_FAILED")
        script = skill["updates"]
        fail = script["fail"] > 0
        if fail:
            script["fail"] -= 1
        skill["update"] = {
            "status": "IN_PROGRESS",
            "due": time.time() + script["delay"],
            "fail": fail,
            "messages": list(script["errors"]),
            "errors": [],
            "manifest": body["manifest"],
            "raw": raw,
        }
        skill["writes"].append(raw)
        settle(skill)
    response = app.response_class("", status=202)
    response.headers["Location"] = f"/v1/skills/{skill_id}/status?resource=manifest"
    return response


@app.get("/v1/skills/<skill_id>/status")
def skill_status(skill_id):
    skill, failure = authorize(skill_id)
    if failure:
        return failure
    if request.args.get("resource") not in (None, "manifest"):
        return error(400, "Only resource=manifest is served here.", "INVALID_REQUEST")
    with LOCK:
        settle(skill)
        manifest = {"eTag": skill["etags"].get("development")}
        update = skill["update"]
        if update is not None:
            manifest["lastUpdateRequest"] = {
                "status": update["status"],
                "errors": update["errors"],
                "warnings": [],
            }
        return jsonify({"manifest": manifest})


def review_item(review):
    tracking = {"lastUpdated": iso(review["updated_at"])}
    if review["status"] == "IN_PROGRESS":
        tracking["estimatedCompletionTimestamp"] = iso(review["submitted_at"] + 3 * 86400)
    else:
        tracking["actualCompletionTimestamp"] = iso(review["updated_at"])
    return {
        "id": review["id"],
        "status": review["status"],
        "skillSubmissionTimestamp": iso(review["submitted_at"]),
        "reviewTrackingInfo": tracking,
    }


@app.get("/v1/skills/<skill_id>/certifications")
def list_certifications(skill_id):
    skill, failure = authorize(skill_id)
    if failure:
        return failure
    try:
        max_results = int(request.args.get("maxResults", "50"))
    except ValueError:
        max_results = 0
    if not 1 <= max_results <= 50:
        return error(400, "maxResults must be between 1 and 50.", "INVALID_REQUEST_PARAMETER")
    with LOCK:
        offset = 0
        next_token = request.args.get("nextToken")
        if next_token is not None:
            page = page_tokens.get(next_token)
            if page is None or page[0] != skill_id:
                return error(400, "Invalid nextToken.", "INVALID_REQUEST_PARAMETER")
            offset = page[1]
        ordered = sorted(skill["reviews"], key=lambda r: r["seq"], reverse=True)
        size = min(max_results, PAGE_SIZE[0])
        items = [review_item(r) for r in ordered[offset : offset + size]]
        truncated = offset + size < len(ordered)
        base = f"/v1/skills/{skill_id}/certifications"
        body = {
            "_links": {"self": {"href": base}},
            "isTruncated": truncated,
            "totalCount": len(ordered),
            "items": items,
        }
        if truncated:
            token = secrets.token_urlsafe(24)
            page_tokens[token] = (skill_id, offset + size)
            body["nextToken"] = token
            body["_links"]["next"] = {"href": f"{base}?nextToken={token}"}
    response = jsonify(body)
    response.headers["Content-Type"] = "application/hal+json"
    return response


# ---------------------------------------------------------------------------------------------
# Control API


def manifest_of(spec):
    if spec is None:
        return None
    if "manifest" in spec:
        return copy.deepcopy(spec["manifest"])
    kind = spec.get("kind", "custom")
    if kind not in ("custom", "smartHome"):
        raise ValueError(f"unknown kind {kind!r}")
    api = {}
    if spec.get("uri"):
        api["endpoint"] = {"uri": spec["uri"]}
    regions = spec.get("regions") or {}
    if regions:
        api["regions"] = {region: {"endpoint": {"uri": uri}} for region, uri in regions.items()}
    if kind == "smartHome":
        api["protocolVersion"] = "3"
    return {
        "manifestVersion": "1.0",
        "publishingInformation": {"locales": {"en-US": {"name": "Fake skill", "summary": "test"}}},
        "apis": {kind: api},
    }


def unix_time(value):
    if value is None:
        return time.time()
    if isinstance(value, (int, float)):
        return float(value)
    return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()


class UnknownSkill(Exception):
    pass


def control_skill(skill_id):
    skill = skills.get(skill_id)
    if skill is None:
        raise UnknownSkill(f"no skill {skill_id}")
    return skill


@app.errorhandler(UnknownSkill)
def _unknown(e):
    return jsonify({"error": str(e)}), 404


@app.errorhandler(KeyError)
def _missing(e):
    return jsonify({"error": f"missing parameter {e}"}), 400


@app.errorhandler(ValueError)
def _invalid(e):
    return jsonify({"error": str(e)}), 400


@app.get("/_fake/health")
def health():
    return jsonify({"ok": True})


@app.post("/_fake/clients")
def create_client():
    p = params()
    with LOCK:
        client = clients.setdefault(
            p["clientId"],
            {
                "secret": p["clientSecret"],
                "expires_in": int(p.get("tokenExpiresIn", 3600)),
                "refresh_tokens": {},
            },
        )
        if client["secret"] != p["clientSecret"]:
            return jsonify({"error": "client exists with another secret"}), 409
        client["refresh_tokens"][p["refreshToken"]] = p["vendorId"]
    return jsonify({"ok": True}), 201


def expire(predicate):
    with LOCK:
        expired = 0
        for grant in tokens.values():
            if predicate(grant) and grant["expires_at"] > time.time():
                grant["expires_at"] = time.time() - 1
                expired += 1
    return jsonify({"expired": expired})


@app.post("/_fake/clients/<client_id>/expire-tokens")
def expire_client_tokens(client_id):
    return expire(lambda grant: grant["client_id"] == client_id)


@app.post("/_fake/expire-tokens")
def expire_all_tokens():
    return expire(lambda grant: True)


@app.post("/_fake/skills/<skill_id>")
def create_skill(skill_id):
    p = params()
    with LOCK:
        if skill_id in skills:
            return jsonify({"error": f"skill {skill_id} exists"}), 409
        skills[skill_id] = {
            "vendor_id": p["vendorId"],
            "stages": {"development": manifest_of(p["development"]), "live": manifest_of(p.get("live"))},
            "raw": {},
            "etags": {"development": f'"etag-{next(etag_ids)}"', "live": f'"etag-{next(etag_ids)}"'},
            "reviews": [],
            "update": None,
            "updates": {"delay": 0.0, "fail": 0, "errors": ["The endpoint is not valid."]},
            "races": 0,
            "writes": [],
        }
    return jsonify({"ok": True}), 201


@app.put("/_fake/skills/<skill_id>/stages/<stage>")
def put_stage(skill_id, stage):
    if stage not in ("development", "live"):
        raise ValueError(f"stage must be development or live, not {stage!r}")
    body = request.get_json(silent=True)
    with LOCK:
        skill = control_skill(skill_id)
        if isinstance(body, dict) and "raw" in body:
            set_manifest(skill, stage, json.loads(body["raw"])["manifest"], body["raw"])
        else:
            set_manifest(skill, stage, manifest_of(body))
    return jsonify({"ok": True})


@app.get("/_fake/skills/<skill_id>/stages/development")
def development_text(skill_id):
    """The development manifest's envelope exactly as SMAPI serves it, and its ETag."""
    with LOCK:
        skill = control_skill(skill_id)
        settle(skill)
        raw = skill["raw"].get("development")
        text = raw if raw is not None else json.dumps({"manifest": skill["stages"]["development"]})
        return jsonify({"text": text, "etag": skill["etags"]["development"]})


@app.post("/_fake/skills/<skill_id>/manifest-updates")
def script_updates(skill_id):
    p = params()
    with LOCK:
        script = control_skill(skill_id)["updates"]
        script["delay"] = float(p.get("delay", 0))
        script["fail"] = int(p.get("fail", 0))
        if "errors" in p:
            script["errors"] = list(p["errors"])
    return jsonify({"ok": True})


@app.post("/_fake/skills/<skill_id>/race")
def race(skill_id):
    p = params()
    with LOCK:
        control_skill(skill_id)["races"] = int(p.get("count", 1))
    return jsonify({"ok": True})


@app.get("/_fake/skills/<skill_id>/writes")
def list_writes(skill_id):
    """Every PUT body the development manifest accepted (202), in order, verbatim."""
    with LOCK:
        return jsonify({"writes": list(control_skill(skill_id)["writes"])})


@app.post("/_fake/skills/<skill_id>/submit")
def submit(skill_id):
    p = params()
    with LOCK:
        skill = control_skill(skill_id)
        if any(r["status"] == "IN_PROGRESS" for r in skill["reviews"]):
            return jsonify({"error": "a certification review is in progress"}), 409
        development = skill["stages"]["development"]
        if development is None:
            return jsonify({"error": "no development stage to submit"}), 409
        at = unix_time(p.get("submittedAt"))
        seq = next(review_ids)
        review = {
            "id": f"{seq:08d}-{secrets.token_hex(4)}",
            "seq": seq,
            "status": "IN_PROGRESS",
            "submitted_at": at,
            "updated_at": at,
            "manifest": copy.deepcopy(development),
            "raw": skill["raw"].get("development"),
        }
        skill["reviews"].append(review)
    return jsonify({"id": review["id"], "skillSubmissionTimestamp": iso(at)}), 202


def finish(skill_id, status):
    with LOCK:
        skill = control_skill(skill_id)
        running = [r for r in skill["reviews"] if r["status"] == "IN_PROGRESS"]
        if not running:
            return jsonify({"error": "no certification review in progress"}), 409
        running[-1]["status"] = status
        running[-1]["updated_at"] = max(time.time(), running[-1]["submitted_at"])
        return jsonify({"id": running[-1]["id"], "status": status})


@app.post("/_fake/skills/<skill_id>/certify")
def certify(skill_id):
    return finish(skill_id, "SUCCEEDED")


@app.post("/_fake/skills/<skill_id>/fail")
def fail(skill_id):
    return finish(skill_id, "FAILED")


@app.post("/_fake/skills/<skill_id>/cancel")
def cancel(skill_id):
    return finish(skill_id, "CANCELLED")


@app.post("/_fake/skills/<skill_id>/publish")
def publish(skill_id):
    with LOCK:
        skill = control_skill(skill_id)
        certified = sorted(
            (r for r in skill["reviews"] if r["status"] == "SUCCEEDED"),
            key=lambda r: (r["submitted_at"], r["seq"]),
        )
        if not certified:
            return jsonify({"error": "no certified review to publish"}), 409
        set_manifest(skill, "live", copy.deepcopy(certified[-1]["manifest"]), certified[-1].get("raw"))
        return jsonify({"id": certified[-1]["id"]})


@app.post("/_fake/skills/<skill_id>/throttle")
def throttle(skill_id):
    p = params()
    with LOCK:
        throttles[skill_id] = {"count": int(p.get("count", 1)), "retry_after": int(p.get("retryAfter", 1))}
    return jsonify({"ok": True})


@app.post("/_fake/skills/<skill_id>/outage")
def outage(skill_id):
    p = params()
    status = int(p.get("status", 503))
    if not 500 <= status <= 599:
        raise ValueError("an outage answers 5xx")
    with LOCK:
        outages[skill_id] = {"count": int(p.get("count", 1)), "status": status}
    return jsonify({"ok": True})


@app.get("/_fake/requests")
def list_requests():
    client_id = request.args.get("clientId")
    skill_id = request.args.get("skillId")
    with LOCK:
        selected = [
            r
            for r in requests_log
            if (client_id is None or r["clientId"] == client_id)
            and (skill_id is None or r["skillId"] == skill_id)
        ]
    return jsonify(
        {
            "lwa": sum(1 for r in selected if r["api"] == "lwa"),
            "smapi": sum(1 for r in selected if r["api"] == "smapi"),
            "requests": selected,
        }
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, required=True)
    parser.add_argument("--page-size", type=int, default=2, help="most certifications per page")
    args = parser.parse_args()
    PAGE_SIZE[0] = args.page_size
    server = make_server(args.host, args.port, app, threaded=True)
    print(f"fake SMAPI + LWA on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
