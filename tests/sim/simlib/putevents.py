# SPDX-License-Identifier: MIT
"""EventBridge's PutEvents, as ecr-deployd's eventbridge notification sinks call it: the entries
checked as AWS checks them (the whole call: at most 10 entries, 256 KiB in all, a bus name or
ARN of the model's pattern; each entry: Source, DetailType and Detail present, Detail a JSON
object, no "aws." source), each accepted entry given an EventId and recorded for the tests
(GET /_sim/put-events), and entry-level failures a test plans (POST /_sim/events-fail): the next
N entries fail with an ErrorCode, FailedEntryCount counting them, as AWS answers a throttled or
failed entry. Any bus name of the pattern exists ("default" and any created one)."""

import collections
import json
import re
import time
import uuid

from .core import AwsError

ENTRIES_MAX = 10
REQUEST_SIZE_MAX = 256 * 1024
RECORD_MAX = 10000
# NonPartnerEventBusNameOrArn (the model's pattern, anchored as AWS applies it).
BUS_RE = re.compile(r"^(arn:aws[\w-]*:events:([a-z]+-[a-z]+-[\w-]+):([0-9]{12}):event-bus/)?([.\-_A-Za-z0-9]+)$")
ERROR_CODE_RE = re.compile(r"^[A-Za-z][A-Za-z0-9.]{0,99}$")


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def entry_size(e):
    """An entry's size as EventBridge counts it (docs: "Calculating PutEvents event entry size"):
    Time 14 bytes when present, the UTF-8 bytes of Source, DetailType, Detail and each Resource."""
    n = 14 if e.get("Time") is not None else 0
    for k in ("Source", "DetailType", "Detail"):
        if isinstance(e.get(k), str):
            n += len(e[k].encode("utf-8", "surrogatepass"))
    for r in e.get("Resources") or []:
        if isinstance(r, str):
            n += len(r.encode("utf-8", "surrogatepass"))
    return n


def _entry_problem(e):
    """(ErrorCode, ErrorMessage) of an entry AWS refuses on its own, or None."""
    for k in ("Source", "DetailType", "Detail"):
        if not isinstance(e.get(k), str) or not e[k]:
            return "InvalidArgument", "Parameter %s is not valid. Reason: %s is a required argument." % (k, k)
    if e["Source"].startswith("aws."):
        return ("NotAuthorizedForSourceException",
                "Not authorized for the source %s." % e["Source"][:100])
    try:
        detail = json.loads(e["Detail"])
    except ValueError:
        return "MalformedDetail", "Detail is malformed."
    if not isinstance(detail, dict):
        return "MalformedDetail", "Detail is malformed."
    return None


class PutEvents:
    def __init__(self, world):
        self.world = world
        self.entries = collections.deque(maxlen=RECORD_MAX)  # accepted entries, oldest first
        self.seq = 0
        self.failures = []  # planned entry failures: [{"code", "message", "count"}], first first

    # -- control --------------------------------------------------------------------
    def plan_failures(self, req):
        """POST /_sim/events-fail {count, code?, message?}: the next `count` entries (of any call)
        fail with ErrorCode `code` (ThrottlingException); count 0 clears every plan."""
        count = req.get("count", 1)
        if type(count) is not int or count < 0:
            raise ValueError("count must be a whole number >= 0")
        if count == 0:
            self.failures = []
            return {"failures": []}
        code = req.get("code", "ThrottlingException")
        if not isinstance(code, str) or not ERROR_CODE_RE.match(code):
            raise ValueError("code must be an error code like 'ThrottlingException'")
        message = req.get("message")
        if message is None:
            message = {"ThrottlingException": "Rate exceeded.",
                       "InternalFailure": "Internal service error."}.get(code, "%s (injected by awssim)" % code)
        if not isinstance(message, str):
            raise ValueError("message must be a string")
        self.failures.append({"code": code, "message": message, "count": count})
        return {"failures": list(self.failures)}

    def recorded(self, since=0):
        return {"entries": [e for e in self.entries if e["seq"] > since], "last": self.seq}

    def _take_failure(self):
        while self.failures and self.failures[0]["count"] <= 0:
            self.failures.pop(0)
        if not self.failures:
            return None
        f = self.failures[0]
        f["count"] -= 1
        if f["count"] <= 0:
            self.failures.pop(0)
        return f

    # -- the API --------------------------------------------------------------------
    def put_events(self, ctx, p):
        entries = p["Entries"]
        if len(entries) > ENTRIES_MAX:  # the model checks it too; kept for calls from the control API
            raise AwsError("ValidationException", "1 validation error detected: Value at 'entries' failed to "
                           "satisfy constraint: Member must have length less than or equal to %d" % ENTRIES_MAX)
        if sum(entry_size(e) for e in entries) > REQUEST_SIZE_MAX:
            raise AwsError("ValidationException", "Total size of the entries in the request is over the limit.")
        buses = []
        for i, e in enumerate(entries):
            name = e.get("EventBusName") or "default"
            m = BUS_RE.match(name)
            if not m:
                raise AwsError("ValidationException", "1 validation error detected: Value '%s' at "
                               "'entries.%d.member.eventBusName' failed to satisfy constraint: Member must "
                               "satisfy regular expression pattern: %s" % (name[:200], i + 1, BUS_RE.pattern))
            region, account = m.group(2) or ctx.region, m.group(3) or ctx.account
            buses.append((m.group(4), "arn:aws:events:%s:%s:event-bus/%s" % (region, account, m.group(4))))
        out, failed, now = [], 0, time.time()
        for e, (bus, bus_arn) in zip(entries, buses):
            problem = _entry_problem(e)
            if problem is None:
                f = self._take_failure()
                if f is not None:
                    problem = (f["code"], f["message"])
            if problem is not None:
                failed += 1
                out.append({"ErrorCode": problem[0], "ErrorMessage": problem[1]})
                continue
            event_id = str(uuid.uuid4())
            t = e.get("Time")
            if hasattr(t, "timestamp"):
                t = t.timestamp()
            self.seq += 1
            self.entries.append({
                "seq": self.seq, "event_id": event_id, "bus": bus, "bus_arn": bus_arn,
                "source": e["Source"], "detail-type": e["DetailType"], "detail": json.loads(e["Detail"]),
                "resources": list(e.get("Resources") or []),
                "time": iso(t if isinstance(t, (int, float)) else self.world.clock.sim_now()),
                "account": ctx.account, "region": ctx.region,
                "access_key": ctx.key.access_key if ctx.key is not None else None,
                "received": now})
            out.append({"EventId": event_id})
        return {"FailedEntryCount": failed, "Entries": out}

    OPERATIONS = {"PutEvents": put_events}
