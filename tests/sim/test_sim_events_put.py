# SPDX-License-Identifier: MIT
"""awssim EventBridge PutEvents (issue 17, the eventbridge notification sinks), through boto3:
accepted entries get an EventId and are recorded (GET /_sim/put-events); entry-level refusals
as AWS answers them (InvalidArgument, MalformedDetail, NotAuthorizedForSourceException) and
planned entry failures (POST /_sim/events-fail) count in FailedEntryCount; whole-call validation
(entries, size, bus pattern), SigV4, IAM on the bus ARN and the whole-call faults."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import SIM_KEY, Sim, aws_error, check, check_eq  # noqa: E402

ACCOUNT = "123456789012"
USER = "arn:aws:iam::%s:user/awssim" % ACCOUNT
BUS = "arn:aws:events:us-east-1:%s:event-bus/" % ACCOUNT


def entry(detail=None, **kw):
    e = {"Source": "ecr-deployd", "DetailType": "ECR Deploy Completed",
         "Detail": json.dumps(detail if detail is not None else {"watch": "web", "n": 1})}
    e.update(kw)
    return {k: v for k, v in e.items() if v is not None}


def raw_put(sim, body):
    """PutEvents with a body boto3 would not send (it drops unknown members); signed by botocore.
    Returns (status, decoded reply)."""
    import http.client

    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    req = botocore.awsrequest.AWSRequest(method="POST", url=sim.url + "/", data=body, headers={
        "X-Amz-Target": "AWSEvents.PutEvents", "Content-Type": "application/x-amz-json-1.1"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(*SIM_KEY), "events", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    conn.request("POST", "/", body=body, headers=dict(req.headers.items()))
    r = conn.getresponse()
    out = (r.status, json.loads(r.read()))
    conn.close()
    return out


def recorded(sim, since=0):
    return sim.control("GET", "/put-events?since=%d" % since)


def test_put_events_records_each_accepted_entry(ctx):
    sim = Sim(ctx)
    ev = sim.client("events")
    t = time.time()
    out = ev.put_events(Entries=[entry({"kind": "deploy-completed", "digest": "sha256:" + "a" * 64}),
                                 entry(EventBusName="deploys", Resources=["arn:aws:ecs:us-east-1:%s:service/p/web"
                                                                          % ACCOUNT]),
                                 entry(EventBusName=BUS + "ops.bus-1", Time=1700000000)])
    check_eq(out["FailedEntryCount"], 0, "nothing failed")
    ids = [e["EventId"] for e in out["Entries"]]
    check_eq((len(ids), len(set(ids))), (3, 3), "three distinct EventIds")
    got = recorded(sim)
    check_eq(got["last"], 3, "three recorded")
    rows = got["entries"]
    check_eq([(r["event_id"], r["bus"], r["bus_arn"]) for r in rows],
             [(ids[0], "default", BUS + "default"), (ids[1], "deploys", BUS + "deploys"),
              (ids[2], "ops.bus-1", BUS + "ops.bus-1")], "ids and buses")
    check_eq(rows[0]["detail"], {"kind": "deploy-completed", "digest": "sha256:" + "a" * 64}, "detail parsed")
    check_eq((rows[0]["source"], rows[0]["detail-type"]), ("ecr-deployd", "ECR Deploy Completed"), "source, type")
    check_eq(rows[1]["resources"], ["arn:aws:ecs:us-east-1:%s:service/p/web" % ACCOUNT], "resources")
    check_eq(rows[2]["time"], "2023-11-14T22:13:20Z", "the entry's Time")
    check(abs(time.mktime(time.strptime(rows[0]["time"], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone - t) < 5,
          "no Time: now: %s" % rows[0]["time"])
    check_eq((rows[0]["account"], rows[0]["region"], rows[0]["access_key"]), (ACCOUNT, "us-east-1", SIM_KEY[0]),
             "who put it")
    check_eq(recorded(sim, since=2)["entries"], rows[2:], "since")
    req = sim.requests(service="events")
    check_eq([(r["operation"], r["signature"], r["status"]) for r in req], [("PutEvents", "ok", 200)],
             "logged, signature checked")


def test_entry_level_refusals_as_aws_answers_them(ctx):
    sim = Sim(ctx)
    ev = sim.client("events")
    entries = [entry(),
               entry(Detail=None),
               entry(Source=None),
               entry(DetailType=""),
               {"Source": "ecr-deployd", "DetailType": "x", "Detail": "{not json"},
               {"Source": "ecr-deployd", "DetailType": "x", "Detail": "[1, 2]"},
               entry(Source="aws.ecr"),
               entry()]
    out = ev.put_events(Entries=entries[:8])
    check_eq(out["FailedEntryCount"], 6, "six refused")
    got = [(e.get("ErrorCode"), e.get("ErrorMessage")) if "ErrorCode" in e else "ok" for e in out["Entries"]]
    check_eq(got, ["ok",
                   ("InvalidArgument", "Parameter Detail is not valid. Reason: Detail is a required argument."),
                   ("InvalidArgument", "Parameter Source is not valid. Reason: Source is a required argument."),
                   ("InvalidArgument",
                    "Parameter DetailType is not valid. Reason: DetailType is a required argument."),
                   ("MalformedDetail", "Detail is malformed."),
                   ("MalformedDetail", "Detail is malformed."),
                   ("NotAuthorizedForSourceException", "Not authorized for the source aws.ecr."),
                   "ok"], "entry by entry, in order")
    check_eq(recorded(sim)["last"], 2, "only the accepted ones are recorded")


def test_whole_call_validation(ctx):
    sim = Sim(ctx)
    ev = sim.client("events")
    cases = [
        ("eleven entries", {"Entries": [entry() for _ in range(11)]}, "valid max length: 10"),
        ("no entries", {"Entries": []}, "Entries"),
        ("bus with a slash", {"Entries": [entry(EventBusName="a/b")]}, "eventBusName"),
        ("over 256 KiB", {"Entries": [entry({"x": "y" * (200 * 1024)}), entry({"x": "y" * (60 * 1024)})]},
         "Total size of the entries in the request is over the limit."),
    ]
    for name, params, part in cases:
        code, message, status, _ = aws_error(ev.put_events, **params)
        check_eq((code, status), ("ValidationException", 400), name)
        check(part in message, "%s: %r in %r" % (name, part, message))
    status, reply = raw_put(sim, json.dumps({"Entries": [entry(Colour="blue")]}))
    check_eq((status, reply["__type"]), (400, "ValidationException"), "an unknown member")
    check("Colour" in reply["message"], "named: %r" % reply)
    # One entry of 256 KiB exactly (as EventBridge counts: Source + DetailType + Detail) passes.
    fixed = len("ecr-deployd") + len("ECR Deploy Completed") + len('{"x": ""}')
    out = ev.put_events(Entries=[entry({"x": "y" * (256 * 1024 - fixed)})])
    check_eq(out["FailedEntryCount"], 0, "256 KiB exactly")
    check_eq(recorded(sim)["last"], 1, "only that one recorded")


def test_planned_entry_failures(ctx):
    sim = Sim(ctx)
    ev = sim.client("events")
    sim.control("POST", "/events-fail", {"count": 2})  # ThrottlingException by default
    sim.control("POST", "/events-fail", {"count": 1, "code": "InternalFailure"})
    sim.control("POST", "/events-fail", {"count": 1, "code": "AccessDeniedException", "message": "nope 'x'"})
    check_eq([f["code"] for f in sim.control("GET", "/events-fail")["failures"]],
             ["ThrottlingException", "InternalFailure", "AccessDeniedException"], "planned")
    out = ev.put_events(Entries=[entry(), entry(), entry()])
    check_eq(out["FailedEntryCount"], 3, "three failed")
    check_eq([(e["ErrorCode"], e["ErrorMessage"]) for e in out["Entries"]],
             [("ThrottlingException", "Rate exceeded."), ("ThrottlingException", "Rate exceeded."),
              ("InternalFailure", "Internal service error.")], "in the order planned")
    out = ev.put_events(Entries=[entry(Detail="nope"), entry(), entry()])
    check_eq([e.get("ErrorCode") for e in out["Entries"]], ["MalformedDetail", "AccessDeniedException", None],
             "a refused entry does not use up a plan")
    check_eq(out["Entries"][1]["ErrorMessage"], "nope 'x'", "the message given")
    check_eq(recorded(sim)["last"], 1, "the one accepted is recorded")
    sim.control("POST", "/events-fail", {"count": 5})
    sim.control("POST", "/events-fail", {"count": 0})
    check_eq(ev.put_events(Entries=[entry()])["FailedEntryCount"], 0, "count 0 clears")
    for bad in ({"count": -1}, {"count": 1, "code": "no spaces allowed"}, {"count": 1, "message": 5}):
        check("error" in sim.control("POST", "/events-fail", bad, expect=400), "refused: %r" % bad)


def test_whole_call_faults(ctx):
    sim = Sim(ctx)
    ev = sim.client("events")
    sim.fault("events.PutEvents", "500")
    code, _, status, _ = aws_error(ev.put_events, Entries=[entry()])
    check_eq((code, status), ("InternalException", 500), "500: EventBridge's own code")
    sim.fault("events.PutEvents", "error", code="AccessDeniedException", message="denied by test")
    code, message, status, _ = aws_error(ev.put_events, Entries=[entry()])
    check_eq((code, message, status), ("AccessDeniedException", "denied by test", 400), "AccessDenied")
    sim.fault("events.PutEvents", "throttle")
    code, _, status, _ = aws_error(ev.put_events, Entries=[entry()])
    check_eq((code, status), ("ThrottlingException", 400), "throttled")
    check_eq(recorded(sim)["last"], 0, "nothing recorded by a failed call")
    sim.fault("events.PutEvents", "delay", delay=0.6)
    t = time.monotonic()
    check_eq(ev.put_events(Entries=[entry()])["FailedEntryCount"], 0, "slow, then answered")
    check(time.monotonic() - t >= 0.6, "it took the delay")
    check_eq(recorded(sim)["last"], 1, "recorded")


def test_signature_and_policy(ctx):
    sim = Sim(ctx)
    code, _, status, _ = aws_error(sim.client("events", key=(SIM_KEY[0], "wrong-secret")).put_events,
                                   Entries=[entry()])
    check_eq((code, status), ("SignatureDoesNotMatch", 403), "wrong secret")
    ev = sim.client("events")
    sim.control("POST", "/policy", {"policy": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": "events:PutEvents", "Resource": BUS + "deploys"}]}})
    check_eq(ev.put_events(Entries=[entry(EventBusName="deploys")])["FailedEntryCount"], 0, "allowed bus")
    code, message, status, _ = aws_error(ev.put_events, Entries=[entry(EventBusName="deploys"), entry()])
    check_eq((code, status), ("AccessDeniedException", 400), "another bus in the same call")
    check_eq(message, "User: %s is not authorized to perform: events:PutEvents on resource: %sdefault because no "
             "identity-based policy allows the events:PutEvents action" % (USER, BUS), "names the bus")
    check_eq(recorded(sim)["last"], 1, "a denied call records nothing")
    check_eq(sim.requests(service="events")[-1]["denied"]["resource"], BUS + "default", "the log says which")
