# SPDX-License-Identifier: MIT
"""EventBridge as the simulator's services feed it: rules that route events by source
(and, for ECR, by repository) to SQS queues, the events themselves in the shape an SQS
target receives them (the whole event as the message body), and delivery faults that a
test sets: drop, duplicate, delay, reorder.

ECR sends "ECR Image Action" (PUSH, DELETE) when the call happens; ECS's "Deployment
State Change" and "Hook State Change" are found at each tick by comparing what each
deployment and hook was last announced as with what it is now, so that they are sent
once per change, never per poll."""

import collections
import json
import time
import uuid

from .core import DEFAULT_ACCOUNT, DEFAULT_REGION

SOURCES = ("aws.ecr", "aws.ecs")
HISTORY_MAX = 10000
REORDER_WAIT = 1.0  # seconds: held events go out (reversed) when fewer than N came by then


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def _count(req, key):
    v = req.get(key, 0)
    if v is None:
        return 0
    if type(v) is not int or v < 0:
        raise ValueError("%s must be a non-negative integer, not %r" % (key, v))
    return v


class EventBus:
    def __init__(self, world):
        self.world = world
        self.rules = []
        self.faults = self.parse_faults({})
        self.held = []  # reorder: queues and bodies held, in arrival order
        self.held_since = None
        self.pending = []  # delay: [due (monotonic), seq, queue, body]
        self.seq = 0
        self.history = collections.deque(maxlen=HISTORY_MAX)
        self.hooks_seen = {}  # hookId -> status last announced

    # -- configuration ----------------------------------------------------------
    @staticmethod
    def parse_rule(rule):
        if not isinstance(rule, dict) or not isinstance(rule.get("queue"), str) or not rule["queue"]:
            raise ValueError("an event rule needs 'queue', a queue name or URL")
        sources = rule.get("sources")
        sources = list(SOURCES) if sources is None else sources
        if not isinstance(sources, list) or not sources or any(s not in SOURCES for s in sources):
            raise ValueError("an event rule's 'sources' must be a non-empty list of %s, not %r"
                             % (", ".join(SOURCES), sources))
        repos = rule.get("repositories")
        if repos is not None and (not isinstance(repos, list) or any(not isinstance(r, str) for r in repos)):
            raise ValueError("an event rule's 'repositories' must be a list of names, not %r" % (repos,))
        return {"queue": rule["queue"], "account": rule.get("account") or DEFAULT_ACCOUNT,
                "region": rule.get("region") or DEFAULT_REGION, "sources": sources, "repositories": repos}

    def add_rule(self, rule):
        self.rules.append(self.parse_rule(rule))

    @staticmethod
    def parse_faults(req):
        if not isinstance(req, dict):
            raise ValueError("event faults must be an object")
        unknown = set(req) - {"drop", "duplicate", "delay", "reorder", "source", "reorder_wait"}
        if unknown:
            raise ValueError("unknown event fault(s): %s" % ", ".join(sorted(unknown)))
        delay = req.get("delay") or 0.0
        wait = req.get("reorder_wait", REORDER_WAIT)
        for k, v in (("delay", delay), ("reorder_wait", wait)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                raise ValueError("%s must be a non-negative number of seconds, not %r" % (k, v))
        source = req.get("source")
        if source is not None and source not in SOURCES:
            raise ValueError("source must be one of %s or null, not %r" % (", ".join(SOURCES), source))
        return {"drop": _count(req, "drop"), "duplicate": _count(req, "duplicate"), "delay": float(delay),
                "reorder": _count(req, "reorder"), "reorder_wait": float(wait), "source": source}

    def set_faults(self, req):
        """Replaces the delivery faults; events held for a reorder go out now (reversed)."""
        faults = self.parse_faults(req)
        self._flush_held()
        self.faults = faults
        return dict(self.faults)

    # -- sending ----------------------------------------------------------------
    def emit(self, source, detail_type, account, region, resources, detail, repository=None):
        """One event, to the queue of every rule that matches it."""
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source,
                 "account": account, "time": iso(self.world.clock.sim_now()), "region": region,
                 "resources": resources, "detail": detail}
        for rule in self.rules:
            if (rule["account"], rule["region"]) != (account, region) or source not in rule["sources"]:
                continue
            if source == "aws.ecr" and rule["repositories"] and repository not in rule["repositories"]:
                continue
            q = self.world.sqs.find(account, region, rule["queue"])
            if q is None:
                self._note(event, rule["queue"], "no-queue")
                continue
            self._deliver(q, event)

    def _note(self, event, queue, fate):
        d = event["detail"]
        self.history.append({"id": event["id"], "source": event["source"], "detail-type": event["detail-type"],
                             "what": d.get("eventName") or d.get("action-type"), "queue": queue, "fate": fate,
                             "at": time.time()})

    def _deliver(self, q, event):
        f = self.faults
        hit = f["source"] in (None, event["source"])
        if hit and f["drop"] > 0:
            f["drop"] -= 1
            self._note(event, q.name, "dropped")
            return
        copies = 1
        if hit and f["duplicate"] > 0:
            f["duplicate"] -= 1
            copies = 2
            self._note(event, q.name, "duplicated")
        body = json.dumps(event)
        for _ in range(copies):
            if hit and f["reorder"] > 0:
                f["reorder"] -= 1
                self.held.append((q, body, event, hit))
                if self.held_since is None:
                    self.held_since = time.monotonic()
                self._note(event, q.name, "held")
                if f["reorder"] == 0:
                    self._flush_held()
                continue
            self._put(q, body, event, hit)

    def _put(self, q, body, event, hit):
        if hit and self.faults["delay"] > 0:
            self.seq += 1
            self.pending.append([time.monotonic() + self.faults["delay"], self.seq, q, body, event])
            self._note(event, q.name, "delayed")
            return
        self.world.sqs.send(q, body)
        self._note(event, q.name, "delivered")

    def _flush_held(self):
        held, self.held, self.held_since = self.held, [], None
        for q, body, event, hit in reversed(held):
            self._put(q, body, event, hit)

    # -- time -------------------------------------------------------------------
    def tick(self):
        self._scan_ecs()
        now = time.monotonic()
        if self.held and now - self.held_since >= self.faults["reorder_wait"]:
            self.faults["reorder"] = 0
            self._flush_held()
        if self.pending:
            due = sorted(p for p in self.pending if p[0] <= now)
            self.pending = [p for p in self.pending if p[0] > now]
            for _, _, q, body, event in due:
                self.world.sqs.send(q, body)
                self._note(event, q.name, "delivered")

    # -- ECR --------------------------------------------------------------------
    def ecr_image_action(self, repo, action, digest, tag, media_type=None):
        detail = {"result": "SUCCESS", "repository-name": repo.name, "image-digest": digest, "action-type": action}
        if tag is not None:
            detail["image-tag"] = tag
        if media_type is not None:
            detail["manifest-media-type"] = media_type
        self.emit("aws.ecr", "ECR Image Action", repo.account, repo.region, [], detail, repository=repo.name)

    # -- ECS --------------------------------------------------------------------
    def _scan_ecs(self):
        """Announces each change of an ECS deployment's rollout state and of a lifecycle hook's
        status since the last tick (with the `ecs_events` setting off, changes are noted, not sent)."""
        send = bool(self.world.settings.get("ecs_events", True))
        for cluster in list(self.world.ecs.clusters.values()):
            for svc in list(cluster.services.values()):
                # ECS tells of deployments of the ECS controller only: a CODE_DEPLOY service's task sets
                # (the simulator keeps them as deployments inside) are CodeDeploy's to tell of.
                own = send and svc.controller != "CODE_DEPLOY"
                for d in reversed(svc.deployments):  # oldest first: a failure before its rollback
                    self._deployment(svc, d, own)
                for sd in reversed(svc.sds):
                    for h in sd.hooks:
                        self._hook(svc, sd, h, send)

    def _deployment(self, svc, d, send):
        said = getattr(d, "announced", None)
        state = d.rollout_state
        if said == state:
            return
        d.announced = state
        if not send:
            return
        cb = (svc.config.get("deploymentCircuitBreaker") or {}).get("enable")
        out = []
        if said is None:
            out.append(("INFO", "SERVICE_DEPLOYMENT_IN_PROGRESS", d.rollout_reason if state == "IN_PROGRESS"
                        else "ECS deployment %s in progress." % d.id))
        if state == "COMPLETED":
            out.append(("INFO", "SERVICE_DEPLOYMENT_COMPLETED", d.rollout_reason))
        elif state == "FAILED" and cb:  # as ECS: sent only with the circuit breaker on
            out.append(("ERROR", "SERVICE_DEPLOYMENT_FAILED", d.rollout_reason))
        c = svc.cluster
        for kind, name, reason in out:
            self.emit("aws.ecs", "ECS Deployment State Change", c.account, c.region, [svc.arn],
                      {"eventType": kind, "eventName": name, "deploymentId": d.id,
                       "updatedAt": iso(d.updated_at), "reason": reason})

    def _hook(self, svc, sd, h, send):
        said = self.hooks_seen.get(h["hookId"])
        status = h["status"]
        if said == status:
            return
        self.hooks_seen[h["hookId"]] = status
        if not send:
            return
        out = ["IN_PROGRESS"] if said is None else []
        if status != "IN_PROGRESS":
            out.append(status)
        c = svc.cluster
        for s in out:
            self.emit("aws.ecs", "ECS Hook State Change", c.account, c.region, [svc.arn],
                      {"eventType": "ERROR" if s in ("FAILED", "TIMED_OUT") else "INFO", "eventName": "HOOK_" + s,
                       "hookId": h["hookId"], "serviceDeploymentArn": sd.arn, "lifecycleStage": h["stage"],
                       "expiresAt": iso(h["expiresAt"])})
