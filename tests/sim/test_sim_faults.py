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
