# SPDX-License-Identifier: MIT
"""awssim fault injection: every kind, counted and by rate, and the request
log that records them."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

import botocore.exceptions  # noqa: E402

from harness import Failure, Sim, aws_error, check, check_eq  # noqa: E402


def expect_exception(fn, *types):
    try:
        fn()
    except types as e:
        return e
    except Exception as e:  # noqa: BLE001 - report what it was
        raise Failure("expected one of %s, got %r" % ([t.__name__ for t in types], e))
    raise Failure("expected one of %s, got a success" % [t.__name__ for t in types])


def test_error_faults(ctx):
    sim = Sim(ctx)
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName="c")
    for kind, code, status in (("throttle", "ThrottlingException", 400), ("429", "ThrottlingException", 429),
                               ("500", "ServerException", 500), ("503", "ServiceUnavailableException", 503)):
        sim.fault("ecs.ListServices", kind)
        got = aws_error(ecs.list_services, cluster="c")
        check_eq((got[0], got[2]), (code, status), "fault %s" % kind)
        check_eq(ecs.list_services(cluster="c")["serviceArns"], [], "the next call succeeds after %s" % kind)
    sim.fault("sqs.*", "throttle")
    sqs = sim.client("sqs")
    code, _, _, _ = aws_error(sqs.list_queues)
    check_eq(code, "RequestThrottled", "SQS's throttle code")


def test_count_and_rate(ctx):
    sim = Sim(ctx)
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName="c")
    sim.fault("ecs.ListServices", "500", count=2)
    results = []
    for _ in range(3):
        try:
            ecs.list_services(cluster="c")
            results.append("ok")
        except botocore.exceptions.ClientError:
            results.append("err")
    check_eq(results, ["err", "err", "ok"], "count=2")
    sim.fault("*", "503", rate=1.0)
    check_eq(aws_error(ecs.list_clusters)[0], "ServiceUnavailableException", "rate 1.0 hits everything")
    check_eq(aws_error(ecs.list_clusters)[0], "ServiceUnavailableException", "still")
    sim.control("DELETE", "/faults")
    ecs.list_services(cluster="c")
    log = sim.requests(operation="ListServices")
    check_eq([r["fault"] for r in log], ["500", "500", None, None], "the request log records faults")
    check(all(r["signature"] == "ok" for r in log), "and signature verdicts")


def test_fault_seed_replays_the_rate_dice(ctx):
    sim = Sim(ctx)
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName="c")

    def run():
        sim.control("POST", "/fault-seed", {"seed": 7})
        sim.fault("ecs.ListServices", "500", rate=0.5)
        out = []
        for _ in range(24):
            try:
                ecs.list_services(cluster="c")
                out.append(0)
            except botocore.exceptions.ClientError:
                out.append(1)
        sim.control("DELETE", "/faults")
        return out

    first, second = run(), run()
    check(0 < sum(first) < 24, "rate 0.5 hits some calls, not all: %s" % first)
    check_eq(second, first, "the same seed, the same calls hit")
    check_eq(sim.control("POST", "/fault-seed", {}, expect=400)["error"][:8], "KeyError", "a seed is required")


def test_delay_past_the_client_timeout(ctx):
    sim = Sim(ctx)
    ecs = sim.client("ecs", read_timeout=0.5)
    sim.fault("ecs.ListClusters", "delay", delay=1.5)
    t0 = time.monotonic()
    expect_exception(ecs.list_clusters, botocore.exceptions.ReadTimeoutError)
    check(time.monotonic() - t0 < 1.4, "the client gave up at its timeout")
    sim.fault("ecs.ListClusters", "delay", delay=0.2)
    ecs.list_clusters()  # a short delay within the timeout succeeds


def test_connection_faults(ctx):
    sim = Sim(ctx)
    ecs = sim.client("ecs")
    sim.fault("ecs.CreateCluster", "close-before")
    expect_exception(lambda: ecs.create_cluster(clusterName="lost"), botocore.exceptions.ConnectionClosedError,
                     botocore.exceptions.EndpointConnectionError)
    check_eq(ecs.list_clusters()["clusterArns"], [], "close-before: the call was not carried out")
    # Debian's urllib3 does not enforce Content-Length, so botocore cannot
    # judge a cut body: read these at the socket level.
    sim.fault("ecs.CreateCluster", "close-mid")
    head, body, reset = raw_response(sim, "AmazonEC2ContainerServiceV20141113.CreateCluster",
                                     '{"clusterName":"done"}')
    check(reset or len(body) < content_length(head), "close-mid: the answer is cut (reset=%s)" % reset)
    check_eq(len(ecs.list_clusters()["clusterArns"]), 1, "close-mid: the call was carried out")


def content_length(head):
    return int([l for l in head.splitlines() if l.lower().startswith("content-length")][0].split(":")[1])


def raw_response(sim, target, payload="{}"):
    """Sends a signed call on a raw socket; returns (head, body, reset)."""
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    req = botocore.awsrequest.AWSRequest(method="POST", url=sim.url + "/", data=payload, headers={
        "X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(*sim.key), "ecs", "us-east-1").add_auth(req)
    s = socket.create_connection(("127.0.0.1", sim.port), timeout=5)
    head = "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n" % sim.port
    head += "".join("%s: %s\r\n" % kv for kv in req.headers.items())
    s.sendall((head + "Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(payload), payload)).encode())
    data, reset = b"", False
    while True:
        try:
            chunk = s.recv(65536)
        except ConnectionResetError:
            reset = True
            break
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode(), body, reset


def test_body_faults(ctx):
    sim = Sim(ctx)
    sim.client("ecs").create_cluster(clusterName="c")
    sim.fault("ecs.ListClusters", "malformed-json")
    head, body, _ = raw_response(sim, "AmazonEC2ContainerServiceV20141113.ListClusters")
    check(head.startswith("HTTP/1.1 200"), "a 200")
    import json
    try:
        json.loads(body)
    except ValueError:
        pass
    else:
        raise Failure("malformed-json must not parse: %r" % body)
    sim.fault("ecs.ListClusters", "wrong-content-type")
    head, body, _ = raw_response(sim, "AmazonEC2ContainerServiceV20141113.ListClusters")
    check("Content-Type: text/html" in head and body.startswith(b"<html>"), "an HTML page: %r" % head)
    sim.fault("ecs.ListClusters", "truncated")
    head, body, reset = raw_response(sim, "AmazonEC2ContainerServiceV20141113.ListClusters")
    check(not reset and len(body) < content_length(head), "fewer bytes (%d) than Content-Length (%d), then a "
          "normal close" % (len(body), content_length(head)))


def test_reset(ctx):
    sim = Sim(ctx)
    sim.client("ecs").create_cluster(clusterName="c")
    sim.fault("*", "500", rate=1.0)
    sim.control("POST", "/reset")
    check_eq(sim.client("ecs").list_clusters()["clusterArns"], [], "state, faults and log cleared")
    check_eq(len(sim.requests()), 1, "only the call after the reset is in the log")


DENIED = ("User: arn:aws:iam::123456789012:user/deployer is not authorized to perform: "
          "ecs:RegisterTaskDefinition on resource: * because no identity-based policy allows the "
          "ecs:RegisterTaskDefinition action")


def test_error_fault_json(ctx):
    sim = Sim(ctx)
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName="c")
    # The rule names its call by service and operation (the same as match "ecs.ListServices").
    sim.control("POST", "/faults", {"service": "ecs", "operation": "ListServices", "kind": "error",
                                    "code": "AccessDeniedException", "message": DENIED, "count": 2})
    for _ in range(2):
        code, message, status, headers = aws_error(ecs.list_services, cluster="c")
        check_eq((code, message, status), ("AccessDeniedException", DENIED, 400), "the injected error")
        check(headers.get("x-amzn-requestid"), "with a request id: %r" % headers)
    check_eq(ecs.list_services(cluster="c")["serviceArns"], [], "count=2: the third call succeeds")
    sim.fault("ecs.ListClusters", "error", code="ServerException", message="boom", status=503)
    check_eq(aws_error(ecs.list_clusters)[:3], ("ServerException", "boom", 503), "any code and status")
    sim.fault("sqs.ListQueues", "error", code="AccessDenied", message="no")
    code, message, status, headers = aws_error(sim.client("sqs").list_queues)
    check_eq((code, message, status), ("AccessDenied", "no", 400), "SQS: its namespaced __type, read by botocore")
    check_eq(headers.get("x-amzn-query-error"), "AccessDenied;Sender", "SQS's query-compatible code")
    check_eq([r["fault"] for r in sim.requests(operation="ListServices")], ["error", "error", None],
             "the request log records the fault")
    check_eq([r["error"] for r in sim.requests(operation="ListServices")], ["AccessDeniedException"] * 2 + [None],
             "and the error code")


def test_error_fault_xml(ctx):
    sim = Sim(ctx)
    sim.fault("ecs.ListClusters", "error", code="AccessDeniedException", message=DENIED + " <&\">",
              status=403, format="xml")
    head, body, _ = raw_response(sim, "AmazonEC2ContainerServiceV20141113.ListClusters")
    check(head.startswith("HTTP/1.1 403"), "the status given: %r" % head)
    check("Content-Type: text/xml" in head, "XML: %r" % head)
    rid = [l.split(":", 1)[1].strip() for l in head.splitlines() if l.lower().startswith("x-amzn-requestid")]
    check(rid, "a request id header: %r" % head)
    want = ("<ErrorResponse><Error><Type>Sender</Type><Code>AccessDeniedException</Code><Message>%s &lt;&amp;\"&gt;"
            "</Message></Error><RequestId>%s</RequestId></ErrorResponse>" % (DENIED, rid[0]))
    check_eq(body.decode().strip(), want, "the XML error body, escaped")
    import xml.etree.ElementTree as ET
    root = ET.fromstring(body)
    check_eq(root.find("Error/Message").text, DENIED + " <&\">", "the message reads back whole")
    # botocore reads a JSON service's XML error as a generic one; the status is what it keeps.
    sim.fault("ecs.ListClusters", "error", code="AccessDeniedException", message="m", format="xml")
    check_eq(aws_error(sim.client("ecs").list_clusters)[2], 400, "missing status: 400")
    # STS answers XML in any case.
    sim.fault("sts.GetCallerIdentity", "error", code="AccessDenied", message="not you", status=403)
    code, message, status, _ = aws_error(sim.client("sts").get_caller_identity)
    check_eq((code, message, status), ("AccessDenied", "not you", 403), "STS: the query protocol's XML error")


def test_error_fault_rules_checked(ctx):
    sim = Sim(ctx)
    for rule, what in (({"kind": "error"}, "code"), ({"kind": "error", "code": ""}, "code"),
                       ({"kind": "error", "code": "X", "status": 200}, "status"),
                       ({"kind": "error", "code": "X", "status": "400"}, "status"),
                       ({"kind": "error", "code": "X", "format": "html"}, "format"),
                       ({"kind": "error", "code": "X", "message": 5}, "message")):
        got = sim.control("POST", "/faults", dict(rule, match="ecs.ListClusters"), expect=400)
        check("'%s'" % what in got["error"], "a bad rule %r is refused naming %s: %s" % (rule, what, got))
    check_eq(sim.control("GET", "/faults")["rules"], [], "no rule was added")
