# SPDX-License-Identifier: MIT
"""awssim: protocol details and strictness (signatures, model validation),
the control API, start-up and shutdown."""

import http.client
import json
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import SIM_KEY, Failure, Sim, aws_error, check, check_eq, wait_for  # noqa: E402


def raw_call(sim, target, body, headers=None, version="1.1", service="ecs", key=SIM_KEY, sign=True,
             amz_date=None, scope_service=None):
    """Sends one JSON-protocol request, signed by botocore unless sign is
    False; returns (status, headers dict, body text)."""
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    h = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-%s" % version}
    h.update(headers or {})
    if sign:
        req = botocore.awsrequest.AWSRequest(method="POST", url=sim.url + "/", data=body, headers=h)
        signer = botocore.auth.SigV4Auth(botocore.credentials.Credentials(key[0], key[1]),
                                         scope_service or service, "us-east-1")
        if amz_date:
            class Fixed(botocore.auth.SigV4Auth):
                def _modify_request_before_signing(self, request):
                    super()._modify_request_before_signing(request)
                    request.context["timestamp"] = amz_date
                    request.headers.replace_header("X-Amz-Date", amz_date)
            signer = Fixed(botocore.credentials.Credentials(key[0], key[1]), scope_service or service,
                           "us-east-1")
        signer.add_auth(req)
        h = dict(req.headers.items())
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    conn.request("POST", "/", body=body, headers=h)
    r = conn.getresponse()
    out = r.status, {k.lower(): v for k, v in r.getheaders()}, r.read().decode()
    conn.close()
    return out


def test_starts_fast_and_serves(ctx):
    sim = Sim(ctx)
    print("    awssim listening after %.2fs" % sim.start_seconds)
    check(sim.start_seconds < 5, "awssim starts promptly (took %.2fs)" % sim.start_seconds)
    check_eq(sim.control("GET", "/health")["port"], sim.port, "health reports the port")


def test_json_protocol_details(ctx):
    sim = Sim(ctx)
    status, h, body = raw_call(sim, "AmazonEC2ContainerServiceV20141113.CreateCluster", '{"clusterName":"c1"}')
    check_eq(status, 200, "status")
    check(h.get("x-amzn-requestid"), "x-amzn-RequestId on a success")
    check_eq(h.get("content-type"), "application/x-amz-json-1.1", "content type")
    check_eq(json.loads(body)["cluster"]["clusterArn"], "arn:aws:ecs:us-east-1:123456789012:cluster/c1", "arn")
    status, h, body = raw_call(sim, "AmazonEC2ContainerServiceV20141113.DescribeServices",
                               '{"cluster":"nope","services":["a"]}')
    check_eq(status, 400, "status of an error")
    check(h.get("x-amzn-requestid"), "x-amzn-RequestId on an error")
    check_eq(json.loads(body)["__type"], "ClusterNotFoundException", "__type")
    # Epoch-seconds timestamps.
    check(isinstance(json.loads(raw_call(sim, "AmazonEC2ContainerRegistry_V20150921.CreateRepository",
                                         '{"repositoryName":"r1"}', service="ecr")[2])["repository"]["createdAt"],
                     float), "timestamps are epoch numbers")
    status, _, body = raw_call(sim, "AmazonEC2ContainerServiceV20141113.NoSuchOperation", "{}")
    check_eq((status, json.loads(body)["__type"]), (400, "UnknownOperationException"), "unknown operation")
    status, _, body = raw_call(sim, "AmazonEC2ContainerServiceV20141113.CreateCluster", "{}",
                               headers={"Content-Type": "application/json"})
    check_eq((status, json.loads(body)["__type"]), (400, "SerializationException"), "wrong content type")
    status, _, body = raw_call(sim, "AmazonEC2ContainerServiceV20141113.CreateCluster", "{not json")
    check_eq((status, json.loads(body)["__type"]), (400, "SerializationException"), "body not JSON")


def test_unknown_and_missing_fields_are_rejected(ctx):
    sim = Sim(ctx)
    ecs = sim.client("ecs")
    ecr = sim.client("ecr")
    # botocore cannot serialize an unknown member, so this one goes raw.
    status, _, body = raw_call(sim, "AmazonEC2ContainerServiceV20141113.CreateCluster",
                               '{"clusterName":"c","noSuchField":1}')
    err = json.loads(body)
    check_eq((err["__type"], status), ("ClientException", 400), "unknown member")
    check("noSuchField" in err["message"], "message names the field: %r" % err["message"])
    code, msg, status, _ = aws_error(ecr.describe_images)
    check_eq(code, "InvalidParameterException", "missing member")
    check("repositoryName" in msg, "message names the field: %r" % msg)
    code, msg, _, _ = aws_error(ecr.describe_images, repositoryName="r", filter={"tagStatus": "SOMETIMES"})
    check_eq(code, "InvalidParameterException", "enum")
    check("filter.tagStatus" in msg and "TAGGED" in msg, "message names the field and values: %r" % msg)
    code, msg, _, _ = aws_error(ecr.describe_images, repositoryName="r",
                                imageIds=[{"imageTag": "t%d" % i} for i in range(101)])
    check("imageIds" in msg and "max length: 100" in msg, "list size: %r" % msg)
    code, msg, _, _ = aws_error(ecr.describe_images, repositoryName="r", maxResults=1001)
    check("maxResults" in msg, "maximum value: %r" % msg)
    status, _, body = raw_call(sim, "AmazonEC2ContainerServiceV20141113.DescribeServices",
                               '{"cluster":"c","services":"web"}')
    msg = json.loads(body)["message"]
    check("services" in msg and "type" in msg, "type: %r" % msg)
    code, msg, _, _ = aws_error(ecr.describe_images, repositoryName="x" * 300)
    check("repositoryName" in msg and "max length" in msg, "string length: %r" % msg)


def test_signature_rules(ctx):
    sim = Sim(ctx)
    t = "AmazonEC2ContainerServiceV20141113.ListServices"
    status, _, body = raw_call(sim, t, "{}", key=(SIM_KEY[0], "wrong-secret"))
    check_eq((status, json.loads(body)["__type"]), (403, "SignatureDoesNotMatch"), "wrong secret")
    status, _, body = raw_call(sim, t, "{}", key=("AKIDUNKNOWN0000000", "x"))
    check_eq((status, json.loads(body)["__type"]), (403, "UnrecognizedClientException"), "unknown key")
    status, _, body = raw_call(sim, t, "{}", sign=False)
    check_eq((status, json.loads(body)["__type"]), (403, "MissingAuthenticationTokenException"), "unsigned")
    status, _, body = raw_call(sim, t, "{}", sign=False, headers={"Authorization": "AWS4-HMAC-SHA256 Credential=x"})
    check_eq((status, json.loads(body)["__type"]), (403, "IncompleteSignatureException"), "malformed")
    old = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() - 600))
    status, _, body = raw_call(sim, t, "{}", amz_date=old)
    check_eq((status, json.loads(body)["__type"]), (403, "InvalidSignatureException"), "10 minutes old")
    check("Signature expired" in json.loads(body)["message"], "says it expired")
    status, _, body = raw_call(sim, t, "{}", scope_service="ecr")
    check_eq((status, json.loads(body)["__type"]), (403, "InvalidSignatureException"), "wrong service scope")
    # A body changed after signing.
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    req = botocore.awsrequest.AWSRequest(method="POST", url=sim.url + "/", data="{}", headers={
        "X-Amz-Target": t, "Content-Type": "application/x-amz-json-1.1"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(*SIM_KEY), "ecs", "us-east-1").add_auth(req)
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    conn.request("POST", "/", body='{"cluster":"x"}', headers=dict(req.headers.items()))
    r = conn.getresponse()
    check_eq((r.status, json.loads(r.read())["__type"]), (403, "SignatureDoesNotMatch"), "tampered body")
    # The log takes each request when its handler ends, after its reply went out: the next request
    # (on another connection and thread) may be logged first, so the order is not compared.
    logged = wait_for(lambda: (lambda e: e if len(e) >= 7 else None)(sim.requests()), 5, "7 requests logged")
    verdicts = [e["signature"] for e in logged]
    check_eq(sorted(verdicts), sorted(["SignatureDoesNotMatch", "UnrecognizedClientException",
                                       "MissingAuthenticationTokenException", "IncompleteSignatureException",
                                       "InvalidSignatureException", "InvalidSignatureException",
                                       "SignatureDoesNotMatch"]), "request log verdicts")


def test_clock_skew_and_date_header(ctx):
    sim = Sim(ctx)
    sim.settings(clock_skew_seconds=900)
    status, h, body = raw_call(sim, "AmazonEC2ContainerServiceV20141113.ListServices", "{}")
    check_eq((status, json.loads(body)["__type"]), (403, "InvalidSignatureException"), "client 15 min behind")
    import email.utils
    server = email.utils.parsedate_to_datetime(h["date"]).timestamp()
    check(abs(server - (time.time() + 900)) < 5, "Date header carries the server's clock")
    amz = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(server))
    status, _, _ = raw_call(sim, "AmazonEC2ContainerServiceV20141113.ListServices", '{"cluster":"default"}',
                            amz_date=amz)
    check(status != 403, "signing at the server's time is accepted (got %d)" % status)


def test_sqs_requires_query_mode(ctx):
    sim = Sim(ctx)
    status, h, body = raw_call(sim, "AmazonSQS.ListQueues", "{}", version="1.0", service="sqs")
    check_eq(status, 400, "status")
    check("x-amzn-query-mode" in json.loads(body)["message"], "says what is missing")
    check(h.get("x-amzn-query-error", "").startswith("InvalidParameterValue;"), "query error header")


def test_control_and_unknown_paths(ctx):
    sim = Sim(ctx)
    out = sim.control("POST", "/nothing", {}, expect=404)
    check("no control endpoint" in out["error"], "unknown control path")
    out = sim.control("POST", "/faults", {"kind": "meteor"}, expect=400)
    check("unknown fault kind" in out["error"], "bad fault kind named: %r" % out)
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    conn.request("GET", "/index.html")
    check_eq(conn.getresponse().status, 404, "unknown path")
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=10)
    conn.request("POST", "/", body="{}", headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    check_eq(r.status, 400, "POST / with neither a target nor a form")
    check(b"InvalidAction" in r.read(), "query-protocol error")


def test_long_poll_does_not_block_other_calls(ctx):
    sim = Sim(ctx)
    sqs = sim.client("sqs")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    done = {}

    def poll():
        t0 = time.monotonic()
        done["got"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)
        done["took"] = time.monotonic() - t0
    t = threading.Thread(target=poll)
    t.start()
    wait_for(lambda: sim.control("GET", "/health")["inflight"] >= 1, 5, "the long poll to reach awssim")
    t0 = time.monotonic()
    sim.client("ecs").create_cluster(clusterName="during-poll")
    took = time.monotonic() - t0
    t.join(10)
    check(took < 1.0, "a call during a long poll is served at once (%.2fs)" % took)
    check(done.get("took", 0) >= 2.5, "the empty long poll really waited (%.2fs)" % done.get("took", 0))
    check("Messages" not in done["got"], "no messages")


def test_sigterm_shuts_down_cleanly(ctx):
    sim = Sim(ctx)
    sim.proc.signal(signal.SIGTERM)
    status = sim.proc.wait(10)
    check_eq(status, 0, "exit status after SIGTERM")
    check("awssim: stopped" in sim.proc.read_stderr(), "says it stopped")


def test_tls_port(ctx):
    sim = Sim(ctx, tls=True)
    ecs = sim.client("ecs", tls=True)
    check_eq(ecs.create_cluster(clusterName="tls")["cluster"]["clusterName"], "tls", "call over HTTPS")
    import botocore.exceptions
    bad = sim.client("ecs", tls=True, verify=sim.other_ca)
    try:
        bad.create_cluster(clusterName="x")
    except botocore.exceptions.SSLError:
        pass
    else:
        raise Failure("a client trusting another CA must refuse the certificate")


def test_one_log_line_per_request_without_secrets(ctx):
    sim = Sim(ctx)
    ecs = sim.client("ecs")
    ecs.create_cluster(clusterName="a")
    ecs.list_services(cluster="a")
    sim.proc.stop()
    err = sim.proc.read_stderr()
    lines = [l for l in err.splitlines() if "ecs." in l]
    check_eq(len(lines), 2, "one line per AWS request: %r" % lines)
    check(SIM_KEY[1] not in err and "Signature=" not in err, "no secret or signature in the log")


def test_response_check_catches_wrong_replies(ctx):
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from simlib import model
    check_eq(model.validate_output("ecs", "DescribeServices", {"services": [{"serviceName": "web"}]}), [],
             "a right reply")
    wrong = model.validate_output("ecs", "DescribeServices", {"services": [{"serviceNam": "web"}]})
    check(any("serviceNam" in w for w in wrong), "an unknown member: %r" % wrong)
    wrong = model.validate_output("ecs", "DescribeServices", {"services": [{"desiredCount": "2"}]})
    check(any("desiredCount" in w for w in wrong), "a wrong type: %r" % wrong)
    wrong = model.validate_output("ecs", "DescribeServices", {"services": [{"status": "ACTIVE",
                                                                           "schedulingStrategy": "SOMETIMES"}]})
    check(any("schedulingStrategy" in w for w in wrong), "a value outside the enum: %r" % wrong)
