# SPDX-License-Identifier: MIT
"""The simulated AWS world: every service's state behind one lock, the
clock, the keys, the faults to inject, the request log, and the ticker that
moves rollouts forward."""

import collections
import copy
import json
import random
import threading
import time
import types
import uuid

from . import model
from .auth import KeyStore
from .codedeploy import CodeDeploy
from .core import DEFAULT_ACCOUNT, DEFAULT_REGION, AwsError, Clock, Pager, redact
from .creds import CredentialEndpoints
from .dynamodb import DynamoDB
from .ecr import Ecr, generated_manifest
from .ecs import Ecs
from .events import EventBus
from .policy import Policies
from .putevents import PutEvents
from .sqs import Sqs
from .sts import Sts

FAULT_KINDS = ("throttle", "429", "500", "503", "error", "delay", "close-before", "close-mid", "malformed-json",
               "truncated", "wrong-content-type", "oversize", "blackhole", "blackhole-after")
# Faults that lose the response of a call that was carried out.
AFTER_FAULTS = ("close-mid", "malformed-json", "truncated", "wrong-content-type", "oversize", "blackhole-after")
BLACKHOLE_HOLD = 120.0  # seconds a blackholed call is held at most when its rule gives no "hold"

REQUEST_LOG_MAX = 200000

DEFAULT_SETTINGS = {
    "task_start_seconds": 1.0,
    "time_acceleration": 1.0,
    "circuit_breaker_threshold": None,
    "clock_skew_seconds": 0.0,
    "credential_lifetime_seconds": 3600,
    "codedeploy_step_seconds": 1.0,  # a CodeDeploy lifecycle event lasts at least this long (simulated)
    "codedeploy_minute_seconds": 1.0,  # the length of a "minute" of deployment configs and wait times
    "codedeploy_page_size": 100,  # every CodeDeploy list pages at this many items
    "codedeploy_rollback_delay": 0.0,  # seconds from a failure to its rollback deployment (rollbackInfo)
    "failed_deployment_retention_seconds": 5.0,
    "service_deployment_not_found_seconds": 0.0,  # a new service deployment ARN answers MISSING this long
    "lifecycle_stage_seconds": 1.0,  # the shortest lifecycle stage of BLUE_GREEN, LINEAR, CANARY
    "rollout_state": True,  # False: deployments without rolloutState, as for older services
    "service_deployments": True,  # False: services without currentServiceDeployment/-Revisions
    "ecs_events": True,  # False: no "ECS Deployment State Change" / "ECS Hook State Change" events
    "imds_v1": False,
    "container_authorization": None,
    "web_identity_tokens": None,
    "dynamodb_stale_read_seconds": 0.0,  # eventually consistent reads see the table as it was this long ago
    "dynamodb_conflict_ms": 0,  # > 0: writes last this long for DynamoDB's transaction conflicts
    "dynamodb_ttl_delete": False,  # True: items past their TTL attribute (epoch seconds) vanish at the next tick
}


def internal_ctx(account=None, region=None):
    account = account or DEFAULT_ACCOUNT
    return types.SimpleNamespace(account=account, region=region or DEFAULT_REGION,
                                 arn="arn:aws:iam::%s:user/awssim-seed" % account, key=None)


class Faults:
    """Rules: {"match": "ecs.UpdateService" | "ecs.*" | "*" (or "service" and
    "operation"), "access_key": AKID or [AKID...] (only that caller's calls; absent: anyone's),
    "kind": K, "count": N (next N matching calls) or "rate": 0..1, "delay": seconds}. Kind
    "blackhole" holds the call unanswered (not carried out) until the client closes its connection
    or "hold" seconds (120) pass, then closes it; "blackhole-after" carries the call out first.
    Kind "error" answers any AWS error: "code",
    "message", "status" (400), "format": "json" (the service's own error
    body) or "xml" (an <ErrorResponse>, as some endpoints and proxies answer
    even for JSON services)."""

    def __init__(self):
        self.rules = []
        # The dice of "rate" rules; POST /fault-seed seeds them so that a test can replay its faults.
        self.rng = random.Random()

    def add(self, rule):
        kind = str(rule.get("kind"))
        if kind not in FAULT_KINDS:
            raise ValueError("unknown fault kind %r; kinds: %s" % (kind, ", ".join(FAULT_KINDS)))
        if "count" not in rule and "rate" not in rule:
            rule = dict(rule, count=1)
        if kind == "delay" and not isinstance(rule.get("delay"), (int, float)):
            raise ValueError("a delay fault needs 'delay' seconds")
        match = rule.get("match")
        if match is None and ("service" in rule or "operation" in rule):
            match = "%s.%s" % (rule.get("service", "*"), rule.get("operation", "*"))
            if match.startswith("*."):
                raise ValueError("a fault rule with an operation needs its service")
            if match == "*.*":
                match = "*"
        keys = rule.get("access_key")
        if keys is not None:
            if isinstance(keys, str):
                keys = [keys]
            if not isinstance(keys, list) or not keys or not all(isinstance(k, str) and k for k in keys):
                raise ValueError("a fault's 'access_key' must be a key id or a non-empty list of key ids")
            rule = dict(rule, access_key=keys)
        if "rate" in rule and (isinstance(rule["rate"], bool) or not isinstance(rule["rate"], (int, float))
                               or not 0 <= rule["rate"] <= 1):
            raise ValueError("a fault's 'rate' must be a number 0..1, not %r" % (rule["rate"],))
        if kind in ("blackhole", "blackhole-after"):
            hold = rule.get("hold", BLACKHOLE_HOLD)
            if isinstance(hold, bool) or not isinstance(hold, (int, float)) or not 0 < hold <= 3600:
                raise ValueError("a blackhole's 'hold' must be seconds in (0, 3600], not %r" % (hold,))
            rule = dict(rule, hold=float(hold))
        if kind == "error":
            rule = dict(rule, status=rule.get("status", 400), format=rule.get("format", "json"))
            if not isinstance(rule.get("code"), str) or not rule["code"]:
                raise ValueError("an error fault needs 'code', a non-empty string")
            if rule.get("message") is not None and not isinstance(rule["message"], str):
                raise ValueError("an error fault's 'message' must be a string")
            if type(rule["status"]) is not int or not 400 <= rule["status"] <= 599:
                raise ValueError("an error fault's 'status' must be an integer 400..599, not %r" % (rule["status"],))
            if rule["format"] not in ("json", "xml"):
                raise ValueError("an error fault's 'format' must be 'json' or 'xml', not %r" % (rule["format"],))
        self.rules.append(dict(rule, kind=kind, match=match or "*"))

    def take(self, service, operation, access_key=None, blackholes=False):
        """The rule that hits this call, or None. access_key: the caller's key id, or the list of
        it and the keys it descends from (a rule naming any of them matches). blackholes: only the
        "blackhole" rules (a partition drops a call before anything judges it), else the others."""
        name = "%s.%s" % (service, operation)
        callers = access_key if isinstance(access_key, list) else [access_key]
        for r in list(self.rules):
            if (r["kind"] == "blackhole") != blackholes:
                continue
            m = r["match"]
            if m != "*" and m != name and not (m.endswith(".*") and m[:-2] == service):
                continue
            if r.get("access_key") is not None and not any(k in r["access_key"] for k in callers if k):
                continue
            if "count" in r:
                r["count"] -= 1
                if r["count"] <= 0:
                    self.rules.remove(r)
                return r
            if self.rng.random() < float(r["rate"]):
                return r
        return None


class World:
    def __init__(self):
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.clock = Clock()
        self.keys = KeyStore(self.clock)
        self.pager = Pager()
        self.log = collections.deque(maxlen=REQUEST_LOG_MAX)
        self.seq = 0
        self.port = None
        self.inflight = 0  # AWS calls being served now
        self.inflight_ops = []  # their operations (JSON calls), one entry per call
        self.policies = Policies()  # IAM identity policies; kept across a reset, like the static keys
        self._reset_state()

    def _reset_state(self):
        self.settings = dict(DEFAULT_SETTINGS)
        self.clock.skew = 0.0
        self.clock.set_acceleration(1.0)
        self.faults = Faults()
        self.events = EventBus(self)
        self.ecr = Ecr(self)
        self.ecs = Ecs(self)
        self.sqs = Sqs(self)
        self.codedeploy = CodeDeploy(self)
        self.sts = Sts(self)
        self.putevents = PutEvents(self)  # EventBridge's API (the notify sinks); self.events feeds SQS
        self.dynamodb = DynamoDB(self)
        self.creds = CredentialEndpoints(self)

    def reset(self):
        with self.lock:
            self._reset_state()
            self.keys.clear_issued()
            self.log.clear()
            self.cond.notify_all()

    # -- settings ------------------------------------------------------------
    def apply_settings(self, s):
        unknown = set(s) - set(DEFAULT_SETTINGS)
        if unknown:
            raise ValueError("unknown settings: %s; known: %s" % (", ".join(sorted(unknown)),
                                                                 ", ".join(sorted(DEFAULT_SETTINGS))))
        self.settings.update(s)
        if "time_acceleration" in s:
            self.clock.set_acceleration(float(s["time_acceleration"]))
        if "clock_skew_seconds" in s:
            self.clock.skew = float(s["clock_skew_seconds"])
        self.creds.imds_v1 = bool(self.settings["imds_v1"])
        self.creds.container_token = self.settings["container_authorization"]
        t = self.settings["web_identity_tokens"]
        self.sts.web_identity_tokens = set(t) if t is not None else None

    # -- events ----------------------------------------------------------------
    @property
    def event_rules(self):
        return self.events.rules

    def on_push(self, repo, image, tag):
        """EventBridge: an "ECR Image Action" PUSH event to every queue whose rule matches."""
        self.events.ecr_image_action(repo, "PUSH", image.digest, tag, image.media_type)

    def on_delete(self, repo, digest, tag):
        """EventBridge: an "ECR Image Action" DELETE event (one per tag removed)."""
        self.events.ecr_image_action(repo, "DELETE", digest, tag)

    # -- time --------------------------------------------------------------
    def tick(self):
        with self.lock:
            now = self.clock.sim_now()
            self.ecs.tick(now)
            self.codedeploy.tick(now)
            self.events.tick()
            if self.settings.get("dynamodb_ttl_delete"):
                self.dynamodb.expire(self.clock.server_now())

    # -- request log -------------------------------------------------------
    def record(self, **entry):
        with self.lock:
            self.seq += 1
            entry["seq"] = self.seq
            entry["time"] = time.time()
            if "params" in entry:
                entry["params"] = redact(entry["params"])
            self.log.append(entry)

    def requests(self, since=0):
        with self.lock:
            return [e for e in self.log if e["seq"] > since]

    # -- seeding ---------------------------------------------------------------
    def call(self, service, operation, params, account=None, region=None):
        """An API call made by the simulator itself (seeding, control): the
        same validation and handlers as a client's call, without signing."""
        params = copy.deepcopy(params)
        errors = model.validate(service, operation, copy.deepcopy(params))
        if errors:
            raise AwsError("ValidationException", "%s.%s: %s" % (service, operation, "; ".join(errors)))
        handler = self.handlers(service)[operation]
        with self.lock:
            return handler(self.service_obj(service), internal_ctx(account, region), params)

    def service_obj(self, service):
        return {"ecr": self.ecr, "ecs": self.ecs, "sqs": self.sqs, "codedeploy": self.codedeploy,
                "sts": self.sts, "events": self.putevents, "dynamodb": self.dynamodb}[service]

    def handlers(self, service):
        return type(self.service_obj(service)).OPERATIONS

    def push(self, repository, tag, account=None, region=None, manifest=None, seed=None):
        if manifest is None:
            manifest = generated_manifest(seed or uuid.uuid4().hex)
        elif not isinstance(manifest, str):
            manifest = json.dumps(manifest)
        p = {"repositoryName": repository, "imageManifest": manifest}
        if tag is not None:
            p["imageTag"] = tag
        out = self.call("ecr", "PutImage", p, account, region)
        return out["image"]["imageId"]["imageDigest"]

    def seed(self, spec):
        """Builds a world from a JSON spec; see tests/sim/README.md."""
        done = {"images": {}}
        for k in spec.get("keys", []):
            self.keys.add_static(k["access_key"], k["secret"], k.get("account", DEFAULT_ACCOUNT))
        if "settings" in spec:
            with self.lock:
                self.apply_settings(spec["settings"])
        for r in spec.get("repositories", []):
            a, reg = r.get("account"), r.get("region")
            p = {"repositoryName": r["name"]}
            if "imageTagMutability" in r:
                p["imageTagMutability"] = r["imageTagMutability"]
            self.call("ecr", "CreateRepository", p, a, reg)
            for img in r.get("images", []):
                d = self.push(r["name"], img.get("tag"), a, reg, img.get("manifest"), img.get("seed"))
                done["images"]["%s:%s" % (r["name"], img.get("tag"))] = d
        for c in spec.get("clusters", []):
            c = c if isinstance(c, dict) else {"name": c}
            self.call("ecs", "CreateCluster", {"clusterName": c["name"]}, c.get("account"), c.get("region"))
            if c.get("capacity") is not None:
                with self.lock:
                    self.ecs.clusters[(c.get("account") or DEFAULT_ACCOUNT, c.get("region") or DEFAULT_REGION,
                                       c["name"])].capacity = int(c["capacity"])
        for td in spec.get("task_definitions", []):
            td = dict(td)
            a, reg = td.pop("account", None), td.pop("region", None)
            self.call("ecs", "RegisterTaskDefinition", td, a, reg)
        for s in spec.get("services", []):
            s = dict(s)
            a, reg = s.pop("account", None), s.pop("region", None)
            steady = s.pop("steady", True)
            out = self.call("ecs", "CreateService", s, a, reg)
            if steady:
                with self.lock:
                    svc = self.ecs.clusters[(a or DEFAULT_ACCOUNT, reg or DEFAULT_REGION,
                                             s.get("cluster", "default"))].services[s["serviceName"]]
                    self.ecs.settle(svc)
            del out
        for q in spec.get("queues", []):
            q = q if isinstance(q, dict) else {"name": q}
            p = {"QueueName": q["name"]}
            if q.get("attributes"):
                p["Attributes"] = q["attributes"]
            self.call("sqs", "CreateQueue", p, q.get("account"), q.get("region"))
        for rule in spec.get("event_rules", []):
            self.add_event_rule(rule)
        for t in spec.get("dynamodb_tables", []):
            t = t if isinstance(t, dict) else {"name": t}
            self.dynamodb_table(t)
        for app in spec.get("codedeploy", {}).get("applications", []):
            a, reg = app.get("account"), app.get("region")
            self.call("codedeploy", "CreateApplication",
                      {"applicationName": app["name"], "computePlatform": "ECS"}, a, reg)
            for g in app.get("deployment_groups", []):
                p = dict(g)
                p["applicationName"] = app["name"]
                self.call("codedeploy", "CreateDeploymentGroup", p, a, reg)
        return done

    def dynamodb_table(self, spec):
        """A DynamoDB table from {name, hash_key ("pk"), range_key ("sk"; null: none), hash_type,
        range_type ("S"), ttl_attribute?, account?, region?} (seed, POST /_sim/dynamodb/tables)."""
        known = {"name", "hash_key", "range_key", "hash_type", "range_type", "ttl_attribute", "account", "region"}
        unknown = set(spec) - known
        if unknown:
            raise ValueError("unknown table fields: %s; known: %s" % (", ".join(sorted(unknown)),
                                                                     ", ".join(sorted(known))))
        return self.dynamodb.create_table_direct(spec.get("account"), spec.get("region"), spec["name"],
                                                 spec.get("hash_key", "pk"), spec.get("range_key", "sk"),
                                                 spec.get("hash_type", "S"), spec.get("range_type", "S"),
                                                 spec.get("ttl_attribute"))

    def add_event_rule(self, rule):
        with self.lock:
            self.events.add_rule(rule)
