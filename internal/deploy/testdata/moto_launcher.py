"""moto, in-process, with IAM enforcement and EventBridge matching corrected to AWS's.

usage: python3 moto_launcher.py AUDIT_LOG

Prints "listening http://127.0.0.1:PORT" once it serves, then runs until stdin closes
(the Go test holds it open) or it is killed.

IAM is not enforced at first, so a test can create its roles, secret, table, queues and
buses; POST /moto-api/reset-auth with body "0" (moto's own switch for
INITIAL_NO_AUTH_ACTION_COUNT) turns enforcement on for every later request. Each
request authorised while it is on is appended to AUDIT_LOG as one JSON line:
{"principal", "action", "resource", "allowed"}.

moto 5.2.1's enforcement is corrected where it would let a test pass that AWS would
fail, or fail one that AWS would pass; each correction below says which. The Go tests
prove the corrected check still denies a missing action and a policy scoped to the
wrong ARN (internal/deploy/launcher_test.go).
"""

import functools
import json
import logging
import os
import re
import sys
import threading

import jsonpath_ng.ext

# moto loads the AWS managed policies (AWSLambdaBasicExecutionRole, ...) only when asked;
# the role under test may attach them. Set before moto is imported.
os.environ["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"

from moto import settings  # noqa: E402
from moto.core import authorization  # noqa: E402
from moto.core.exceptions import JsonRESTError  # noqa: E402
from moto.dynamodb.responses import DynamoHandler  # noqa: E402
from moto.events import models as events_models  # noqa: E402
from moto.events.responses import EventsHandler  # noqa: E402
from moto.iam import access_control  # noqa: E402
from moto.moto_server.threaded_moto_server import ThreadedMotoServer  # noqa: E402
from moto.secretsmanager.models import secretsmanager_backends  # noqa: E402
from moto.secretsmanager.responses import SecretsManagerResponse  # noqa: E402

AUDIT = open(sys.argv[1], "a", encoding="utf-8", buffering=1)
AUDIT_LOCK = threading.Lock()


# Correction 1: IAM wildcards. moto turns a policy pattern into a regular expression by
# replacing "*" only, so "secret:name-??????" (the documented way to name one secret
# whatever its random suffix) crashes its matcher ("multiple repeat", HTTP 500), and "."
# in an ARN matches any character. IAM's patterns have exactly two wildcards: "*" (any
# run) and "?" (one character). Actions compare case-insensitively, resources exactly.
def _glob(pattern: str, value: str, ignore_case: bool) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, re.IGNORECASE if ignore_case else 0) is not None


def _check_element_matches(self, element, value):
    patterns = self._statement[element]
    if isinstance(patterns, str):
        patterns = [patterns]
    ignore_case = element in ("Action", "NotAction")
    return any(_glob(p, value, ignore_case) for p in patterns)


access_control.IAMPolicyStatement._check_element_matches = _check_element_matches


# Correction 2: the resource a request is authorised against. moto names it only for SQS,
# IAM and STS; for every other service it authorises against "*", so a policy scoped to
# the secret's or the table's ARN denies everything, and a policy scoped to the WRONG ARN
# would be as good as the right one. These name the ARN AWS authorises each request
# against.
def _arn(self, service: str, resource: str) -> str:
    return f"arn:{self.partition}:{service}:{self.region}:{self.current_account}:{resource}"


def _secret_resource(self):
    secret_id = self._get_param("SecretId")
    if not secret_id:
        return "*"
    store = secretsmanager_backends[self.current_account][self.region].secrets
    if secret_id in store:
        return store[secret_id].arn
    # AWS authorises a request for a secret that does not exist against the name it was
    # given, so a role scoped to another secret is told AccessDenied, not NotFound.
    return secret_id if secret_id.startswith("arn:") else _arn(self, "secretsmanager", "secret:" + secret_id)


def _json_body(self) -> dict:
    try:
        body = json.loads(self.raw_body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _table_resource(self):
    body = _json_body(self)
    table = lambda name: name if name.startswith("arn:") else _arn(self, "dynamodb", "table/" + name)
    # BatchGetItem and BatchWriteItem name their tables as RequestItems' keys, and AWS
    # authorises the call on each of them.
    if isinstance(body.get("RequestItems"), dict) and body["RequestItems"]:
        return [table(name) for name in body["RequestItems"]]
    name = body.get("TableName")
    if not name:
        return "*"
    return table(name)


def _bus_resources(self):
    # PutEvents is authorised per entry, on the bus each entry names ("default" if none).
    # Other EventBridge calls (the test's own set-up) keep moto's "*".
    body = _json_body(self)
    if "Entries" not in body:
        return "*"
    buses = []
    for entry in body["Entries"]:
        name = entry.get("EventBusName") or "default"
        arn = name if name.startswith("arn:") else _arn(self, "events", "event-bus/" + name)
        if arn not in buses:
            buses.append(arn)
    return buses or "*"


SecretsManagerResponse._determine_resource = _secret_resource
DynamoHandler._determine_resource = _table_resource
EventsHandler._determine_resource = _bus_resources

_authorize = authorization.ActionAuthenticatorMixin._authenticate_and_authorize_normal_action


def _authorize_each(self, resource="*"):
    for r in resource if isinstance(resource, list) else [resource]:
        _authorize(self, r)


authorization.ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = _authorize_each


# Correction 3: the shape of AccessDenied. moto answers it as XML for every service; the
# AWS SDKs read JSON-protocol errors (Secrets Manager, DynamoDB, EventBridge, SQS, Logs)
# from a JSON body, so the Go SDK saw an unparseable error instead of
# AccessDeniedException. It is answered in the protocol the request was made in, with
# AWS's message naming the action and the resource.
class JsonAccessDenied(JsonRESTError):
    code = 403


_check = access_control.IAMRequestBase.check_action_permitted


# Correction 6: SQS's batch actions. AWS authorises SendMessageBatch, DeleteMessageBatch
# and ChangeMessageVisibilityBatch as their single actions (the SQS API reference: "the
# permission for the batch action is the same as for the action"), on the queue; moto
# asks for an action no policy can name, on "*" when the queue is in a JSON body.
_SQS_BATCH = {"sqs:SendMessageBatch": "sqs:SendMessage", "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
              "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility"}


def _sqs_resource(self):
    resource = _sqs_determine(self)
    if resource != "*":
        return resource
    url = _json_body(self).get("QueueUrl") or ""
    name = url.rstrip("/").split("/")[-1]
    try:
        return self.sqs_backend.get_queue(name).queue_arn
    except Exception:  # noqa: BLE001: no such queue: moto's "*" stands
        return "*"


from moto.sqs.responses import SQSResponse  # noqa: E402

_sqs_determine = SQSResponse._determine_resource
SQSResponse._determine_resource = _sqs_resource


def _check_and_record(self, resource):
    self._action = _SQS_BATCH.get(self._action, self._action)
    allowed = False
    try:
        _check(self, resource)
        allowed = True
    except Exception as denied:  # noqa: BLE001: recorded, then raised as moto would
        if getattr(denied, "error_type", "") == "AccessDenied" and self._headers.get("Content-Type", "").startswith("application/x-amz-json"):
            raise JsonAccessDenied(
                "AccessDeniedException",
                f"User: {self._access_key.arn} is not authorized to perform: {self._action} on resource: {resource} "
                f"because no identity-based policy allows the {self._action} action",
            ) from None
        raise
    finally:
        with AUDIT_LOCK:
            AUDIT.write(json.dumps({"principal": self._access_key.arn, "action": self._action, "resource": resource, "allowed": allowed}) + "\n")


access_control.IAMRequestBase.check_action_permitted = _check_and_record


# Correction 4: EventBridge patterns on arrays of objects. EventBridge matches a pattern
# field against every element of an array ("detail.findings.class_uid" against each
# finding's class_uid); moto flattens objects only, so such a field is never found and a
# rule like Security Hub's matches nothing. Flattened here, every path maps to the list of
# values it reaches through objects and arrays, which moto's filters already accept.
def _flatten(node, prefix="", result=None):
    if result is None:
        result = {}
    if isinstance(node, dict):
        if prefix and not node:
            result.setdefault(prefix, []).append(node)
        for k, v in node.items():
            _flatten(v, f"{prefix}.{k}" if prefix else k, result)
    elif isinstance(node, list):
        if not node:
            result.setdefault(prefix, [])
        for v in node:
            _flatten(v, prefix, result)
    else:
        result.setdefault(prefix, []).append(node)
    return result


events_models.EventPattern._flatten_dict = staticmethod(_flatten)


# Correction 5: partner event buses. Their names contain "/" (the bus is named as its
# source, aws.partner/okta.com/<org>/<stream>); moto takes the part after the last "/" of
# every bus name or ARN, so no rule can be put on such a bus and no event reaches it.
# Only an ARN's "...:event-bus/" prefix is dropped, as AWS does.
def _bus_name(self, event_bus_arn):
    if event_bus_arn is None:
        return "default"
    return event_bus_arn.split(":event-bus/", 1)[-1]


events_models.EventsBackend._normalize_event_bus_arn = _bus_name


# Not a correction, a speed-up: moto parses each target's input paths (nine JSONPath
# expressions per delivery, even without an input transformer) with jsonpath_ng, whose
# parser rebuilds its LALR tables on every call: about 120 ms per event a rule delivers.
# The parsed expressions are immutable, so the same expression is parsed once.
jsonpath_ng.ext.parse = functools.lru_cache(maxsize=256)(jsonpath_ng.ext.parse)


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
    # Not enforced until the test says so (moto's INITIAL_NO_AUTH_ACTION_COUNT).
    settings.INITIAL_NO_AUTH_ACTION_COUNT = float("inf")
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"listening http://{host}:{port}", flush=True)
    sys.stdin.read()  # until the test closes it or ends
    server.stop()


if __name__ == "__main__":
    main()
