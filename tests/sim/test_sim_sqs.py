# SPDX-License-Identifier: MIT
"""awssim SQS (JSON 1.0) and the EventBridge push events, through boto3."""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import Sim, aws_error, check, check_eq, wait_for  # noqa: E402


def test_send_receive_delete_and_visibility(ctx):
    sim = Sim(ctx)
    sqs = sim.client("sqs")
    url = sqs.create_queue(QueueName="events")["QueueUrl"]
    check_eq(url, "https://sqs.us-east-1.amazonaws.com/123456789012/events", "QueueUrl")
    check_eq(sqs.get_queue_url(QueueName="events")["QueueUrl"], url, "GetQueueUrl")
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello")
    got = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1, MessageSystemAttributeNames=["All"])["Messages"]
    check_eq((len(got), got[0]["Body"], got[0]["MessageId"]), (1, "hello", sent["MessageId"]), "received")
    check_eq(got[0]["MD5OfBody"], sent["MD5OfMessageBody"], "MD5")
    check_eq(got[0]["Attributes"]["ApproximateReceiveCount"], "1", "attributes")
    check("Messages" not in sqs.receive_message(QueueUrl=url), "invisible while being handled")
    again = wait_for(lambda: sqs.receive_message(QueueUrl=url).get("Messages"), 5,
                     "the message to become visible again")
    check(again[0]["ReceiptHandle"] != got[0]["ReceiptHandle"], "a new receipt handle")
    # AWS: deleting with an older receipt handle of a message received again succeeds, and does not delete it.
    sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    left = sim.queue_messages("events")
    check_eq([(m["id"], m["receive_count"], m["in_flight"], m["visible"]) for m in left],
             [(sent["MessageId"], 2, True, False)], "the old handle deleted nothing")
    code, _, _, headers = aws_error(sqs.delete_message, QueueUrl=url, ReceiptHandle="never-issued")
    check_eq(code, "ReceiptHandleIsInvalid", "a handle never issued")
    check_eq(headers.get("x-amzn-query-error"), "ReceiptHandleIsInvalid;Sender", "its query code")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])
    check_eq(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
             ["ApproximateNumberOfMessages"], "0", "deleted")
    check_eq(sim.queue_messages("events"), [], "gone from the queue")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])  # again: as AWS, no error


def test_errors_carry_the_query_code(ctx):
    sim = Sim(ctx)
    sqs = sim.client("sqs")
    code, _, status, headers = aws_error(sqs.receive_message,
                                         QueueUrl="https://sqs.us-east-1.amazonaws.com/123456789012/none")
    # botocore reads the legacy code from x-amzn-query-error for query-compatible services.
    check_eq((code, status), ("AWS.SimpleQueueService.NonExistentQueue", 400), "missing queue")
    check_eq(headers.get("x-amzn-query-error"), "AWS.SimpleQueueService.NonExistentQueue;Sender", "query error")
    url = sqs.create_queue(QueueName="q")["QueueUrl"]
    code, msg, _, _ = aws_error(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=21)
    check_eq(code, "InvalidParameterValue", "WaitTimeSeconds over 20")
    code, msg, _, _ = aws_error(sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=11)
    check_eq(code, "InvalidParameterValue", "more than 10 messages")


def test_long_poll_returns_as_soon_as_a_push_event_arrives(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web"}], "queues": ["ecr-events"],
                         "event_rules": [{"queue": "ecr-events", "repositories": ["team/web"]}]})
    sqs = sim.client("sqs")
    url = sqs.get_queue_url(QueueName="ecr-events")["QueueUrl"]
    out = {}

    def poll():
        out["got"] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=20)
        out["at"] = time.monotonic()
    t = threading.Thread(target=poll)
    t.start()
    wait_for(lambda: sim.control("GET", "/health")["inflight"] >= 1, 5, "the long poll to reach awssim")
    pushed_at = time.monotonic()
    digest = sim.push("team/web", "prod", seed="x")
    t.join(25)
    latency = out["at"] - pushed_at
    print("    push -> long poll answered in %.3fs" % latency)
    check(latency < 2.0, "answered promptly, not at the end of the 20 s wait (%.2fs)" % latency)
    event = json.loads(out["got"]["Messages"][0]["Body"])
    check_eq({k: event[k] for k in ("version", "detail-type", "source", "account", "region", "resources")},
             {"version": "0", "detail-type": "ECR Image Action", "source": "aws.ecr", "account": "123456789012",
              "region": "us-east-1", "resources": []}, "event envelope")
    check_eq({k: event["detail"][k] for k in ("result", "repository-name", "image-digest", "action-type",
                                               "image-tag")},
             {"result": "SUCCESS", "repository-name": "team/web", "image-digest": digest, "action-type": "PUSH",
              "image-tag": "prod"}, "event detail")
    check(len(event["id"]) == 36 and event["time"].endswith("Z"), "id and time")
    # A push to a repository outside the rule sends nothing.
    sim.seed({"repositories": [{"name": "other"}]})
    sim.push("other", "x", seed="y")
    check("Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1), "filtered by repository")


def test_list_queues(ctx):
    sim = Sim(ctx)
    sqs = sim.client("sqs")
    check("QueueUrls" not in sqs.list_queues(), "none yet")
    sqs.create_queue(QueueName="a-events")
    sqs.create_queue(QueueName="b-events")
    check_eq(len(sqs.list_queues(QueueNamePrefix="a-")["QueueUrls"]), 1, "by prefix")


# -- issue 14: batches, visibility, redelivery, EventBridge events and their faults ---------------

QURL = "https://sqs.us-east-1.amazonaws.com/123456789012/%s"
SQS_ARN = "arn:aws:sqs:us-east-1:123456789012:%s"


def events_in(sim, queue):
    """The events in the queue, oldest first (bodies parsed)."""
    return [json.loads(m["body"]) for m in sim.queue_messages(queue)]


def wait_events(sim, queue, n, what):
    return wait_for(lambda: (lambda e: e if len(e) >= n else None)(events_in(sim, queue)), 10, what)


def test_delete_message_batch_answers_per_entry_and_the_batch_errors(ctx):
    sim = Sim(ctx, seed={"queues": ["q"]})
    sqs = sim.client("sqs")
    url = QURL % "q"
    for i in range(3):
        sim.send_raw("q", "m%d" % i)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    check_eq(len(got), 3, "three received")
    out = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": got[0]["ReceiptHandle"]},
        {"Id": "b-2_x", "ReceiptHandle": got[1]["ReceiptHandle"]},
        {"Id": "c", "ReceiptHandle": "not-a-handle"}])
    check_eq(sorted(e["Id"] for e in out["Successful"]), ["a", "b-2_x"], "Successful")
    check_eq([(f["Id"], f["SenderFault"], f["Code"]) for f in out["Failed"]],
             [("c", True, "ReceiptHandleIsInvalid")], "Failed")
    check("not-a-handle" in out["Failed"][0]["Message"], "the message names the handle")
    check_eq([m["body"] for m in sim.queue_messages("q")], [got[2]["Body"]], "only the third is left")
    h = got[2]["ReceiptHandle"]
    for entries, want in (([], "EmptyBatchRequest"),
                          ([{"Id": "e%d" % i, "ReceiptHandle": h} for i in range(11)], "TooManyEntriesInBatchRequest"),
                          ([{"Id": "same", "ReceiptHandle": h}, {"Id": "same", "ReceiptHandle": h}],
                           "BatchEntryIdsNotDistinct"),
                          ([{"Id": "bad id!", "ReceiptHandle": h}], "InvalidBatchEntryId"),
                          ([{"Id": "x" * 81, "ReceiptHandle": h}], "InvalidBatchEntryId")):
        code, msg, status, headers = aws_error(sqs.delete_message_batch, QueueUrl=url, Entries=entries)
        check_eq((code, status), ("AWS.SimpleQueueService." + want, 400), "%s as botocore reads it" % want)
        check_eq(headers.get("x-amzn-query-error"), "AWS.SimpleQueueService.%s;Sender" % want, want)
        check(msg, "%s has a message" % want)
    check_eq(len(sim.queue_messages("q")), 1, "a refused batch deletes nothing")
    code, _, _, _ = aws_error(sqs.delete_message_batch, QueueUrl=QURL % "none",
                              Entries=[{"Id": "a", "ReceiptHandle": h}])
    check_eq(code, "AWS.SimpleQueueService.NonExistentQueue", "unknown queue")


def test_visibility_timeout_redelivery_and_change_message_visibility(ctx):
    sim = Sim(ctx, seed={"queues": [{"name": "q", "attributes": {"VisibilityTimeout": "30"}}]})
    sqs = sim.client("sqs")
    url = QURL % "q"
    for bad in (-1, 43201):
        code, msg, _, _ = aws_error(sqs.receive_message, QueueUrl=url, VisibilityTimeout=bad)
        check_eq(code, "InvalidParameterValue", "ReceiveMessage VisibilityTimeout %d" % bad)
        check("VisibilityTimeout" in msg, "names the parameter: %s" % msg)
    mid = sim.send_raw("q", "hello")
    t0 = time.time()
    first = sqs.receive_message(QueueUrl=url, VisibilityTimeout=43200, AttributeNames=["All"])["Messages"][0]
    attrs = first["Attributes"]
    check_eq(attrs["ApproximateReceiveCount"], "1", "received once")
    check(abs(int(attrs["SentTimestamp"]) / 1000.0 - t0) < 5, "SentTimestamp in ms: %s" % attrs["SentTimestamp"])
    check_eq([(m["id"], m["in_flight"], m["visible"]) for m in sim.queue_messages("q")], [(mid, True, False)],
             "in flight")
    code, _, _, _ = aws_error(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=first["ReceiptHandle"],
                              VisibilityTimeout=43201)
    check_eq(code, "InvalidParameterValue", "ChangeMessageVisibility over 12 h")
    code, _, _, _ = aws_error(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle="never-issued",
                              VisibilityTimeout=0)
    check_eq(code, "ReceiptHandleIsInvalid", "ChangeMessageVisibility of an unknown handle")
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"], VisibilityTimeout=0)
    second = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1,
                                 MessageSystemAttributeNames=["ApproximateReceiveCount"])["Messages"][0]
    check_eq((second["MessageId"], second["Attributes"]), (mid, {"ApproximateReceiveCount": "2"}),
             "visible again at once, only the attribute asked for")
    check(second["ReceiptHandle"] != first["ReceiptHandle"], "a new receipt handle")
    # Redelivery after the 1 s visibility timeout, with a third handle.
    third = wait_for(lambda: sqs.receive_message(QueueUrl=url, VisibilityTimeout=30,
                                                 MessageSystemAttributeNames=["ApproximateReceiveCount"]).get("Messages"),
                     5, "redelivery after the visibility timeout")[0]
    check_eq(third["Attributes"]["ApproximateReceiveCount"], "3", "received three times")
    check(third["ReceiptHandle"] not in (first["ReceiptHandle"], second["ReceiptHandle"]), "a new handle again")
    out = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "new", "ReceiptHandle": third["ReceiptHandle"], "VisibilityTimeout": 600},
        {"Id": "old", "ReceiptHandle": first["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "bogus", "ReceiptHandle": "never-issued", "VisibilityTimeout": 0}])
    check_eq([e["Id"] for e in out["Successful"]], ["new"], "the latest handle changes it")
    check_eq(sorted((f["Id"], f["SenderFault"], f["Code"]) for f in out["Failed"]),
             [("bogus", True, "ReceiptHandleIsInvalid"), ("old", True, "InvalidParameterValue")], "Failed")
    check("Messages" not in sqs.receive_message(QueueUrl=url), "the stale handle did not make it visible")
    code, _, _, _ = aws_error(sqs.change_message_visibility_batch, QueueUrl=url, Entries=[])
    check_eq(code, "AWS.SimpleQueueService.EmptyBatchRequest", "empty ChangeMessageVisibilityBatch")


def test_access_denied_without_sqs_receive_message(ctx):
    sim = Sim(ctx, seed={"queues": ["q"]})
    sim.control("POST", "/policy", {"policy": {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:SendMessage"],
         "Resource": SQS_ARN % "q"}]}})
    sqs = sim.client("sqs")
    url = QURL % "q"
    code, msg, status, headers = aws_error(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=1)
    check_eq((code, status), ("AccessDenied", 403), "AccessDenied as botocore reads it")
    check_eq(headers.get("x-amzn-query-error"), "AccessDenied;Sender", "query code")
    check("sqs:receivemessage" in msg and SQS_ARN % "q" in msg, "names action and queue: %s" % msg)
    # sqs:DeleteMessage authorizes DeleteMessageBatch.
    out = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": "x"}])
    check_eq([f["Code"] for f in out["Failed"]], ["ReceiptHandleIsInvalid"], "DeleteMessageBatch allowed")
    sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    for fn, kw, action in ((sqs.change_message_visibility, {"ReceiptHandle": "x", "VisibilityTimeout": 1},
                            "sqs:changemessagevisibility"),
                           (sqs.change_message_visibility_batch,
                            {"Entries": [{"Id": "a", "ReceiptHandle": "x", "VisibilityTimeout": 1}]},
                            "sqs:changemessagevisibility")):
        code, msg, status, _ = aws_error(fn, QueueUrl=url, **kw)
        check_eq((code, status), ("AccessDenied", 403), "%s denied" % fn.__name__)
        check(action in msg, "%s names %s: %s" % (fn.__name__, action, msg))
    denied = [r["denied"]["action"] for r in sim.requests(service="sqs") if r.get("denied")]
    check_eq(denied, ["sqs:ReceiveMessage", "sqs:ChangeMessageVisibility", "sqs:ChangeMessageVisibility"],
             "the request log names the action asked")


def test_request_log_shows_sqs_calls(ctx):
    sim = Sim(ctx, seed={"queues": ["q"]})
    sqs = sim.client("sqs")
    url = QURL % "q"
    sim.send_raw("q", "m")
    got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1, MaxNumberOfMessages=10)["Messages"]
    sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": got[0]["ReceiptHandle"]}])
    recv = sim.requests(service="sqs", operation="ReceiveMessage")
    check_eq([(r["status"], r["params"]["WaitTimeSeconds"]) for r in recv], [(200, 1), (200, 0)],
             "each ReceiveMessage logged")
    dmb = sim.requests(service="sqs", operation="DeleteMessageBatch")
    check_eq([(r["status"], r["params"]["QueueUrl"], len(r["params"]["Entries"])) for r in dmb], [(200, url, 1)],
             "DeleteMessageBatch logged with its params")


def test_ecr_delete_events_and_rules_by_source(ctx):
    sim = Sim(ctx, seed={
        "repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "one"},
                                                          {"tag": "latest", "seed": "one"}]},
                         {"name": "other", "images": [{"tag": "x", "seed": "two"}]}],
        "queues": ["ecr", "ecs-only", "all"]})
    sim.event_rule("ecr", sources=["aws.ecr"], repositories=["team/web"])
    sim.event_rule("ecs-only", sources=["aws.ecs"])
    sim.event_rule("all")
    ecr = sim.client("ecr")
    digest = ecr.describe_images(repositoryName="team/web", imageIds=[{"imageTag": "prod"}])[
        "imageDetails"][0]["imageDigest"]
    out = sim.delete_image("team/web", "prod")
    check_eq((out["imageIds"], out["failures"]), ([{"imageDigest": digest, "imageTag": "prod"}], []),
             "BatchDeleteImage's reply")
    ev = wait_events(sim, "ecr", 1, "the DELETE event")
    check_eq(len(ev), 1, "one event for one tag")
    e = ev[0]
    check_eq(sorted(e), sorted(["version", "id", "detail-type", "source", "account", "time", "region",
                                "resources", "detail"]), "the whole event, as EventBridge sends it")
    check_eq({k: e[k] for k in ("version", "detail-type", "source", "account", "region", "resources")},
             {"version": "0", "detail-type": "ECR Image Action", "source": "aws.ecr",
              "account": "123456789012", "region": "us-east-1", "resources": []}, "envelope")
    check_eq(e["detail"], {"result": "SUCCESS", "repository-name": "team/web", "image-digest": digest,
                           "action-type": "DELETE", "image-tag": "prod"}, "detail")
    check(len(e["id"]) == 36 and e["time"].endswith("Z"), "id and time")
    check_eq(sim.queue_messages("ecs-only"), [], "an aws.ecs rule gets no ECR events")
    check_eq([x["detail"]["action-type"] for x in events_in(sim, "all")], ["DELETE"], "both sources by default")
    left = ecr.describe_images(repositoryName="team/web")["imageDetails"]
    check_eq([(i["imageDigest"], i.get("imageTags")) for i in left], [(digest, ["latest"])], "the other tag stays")
    # By digest: the image goes with its remaining tag, one event per tag; a missing tag fails, no event.
    out = ecr.batch_delete_image(repositoryName="team/web", imageIds=[{"imageDigest": digest},
                                                                      {"imageTag": "nosuch"}])
    check_eq(out["imageIds"], [{"imageDigest": digest, "imageTag": "latest"}], "deleted by digest")
    check_eq([(f["imageId"], f["failureCode"]) for f in out["failures"]], [({"imageTag": "nosuch"}, "ImageNotFound")],
             "a missing tag")
    ev = wait_events(sim, "ecr", 2, "the second DELETE event")
    check_eq([(x["detail"]["action-type"], x["detail"]["image-tag"]) for x in ev],
             [("DELETE", "prod"), ("DELETE", "latest")], "events in order")
    check_eq(ecr.describe_images(repositoryName="team/web")["imageDetails"], [], "image gone")
    sim.delete_image("other", "x")
    pushed = sim.push("team/web", "prod", seed="three")
    ev = wait_events(sim, "ecr", 3, "the PUSH event")
    check_eq([(x["detail"]["action-type"], x["detail"]["image-digest"]) for x in ev[2:]], [("PUSH", pushed)],
             "the other repository's delete is filtered out; the push comes")


def test_event_faults_drop_and_duplicate(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/r"}], "queues": ["q"]})
    sim.event_rule("q", sources=["aws.ecr"])
    sim.event_faults(drop=1)
    sim.push("team/r", "a", seed="a")
    b = sim.push("team/r", "b", seed="b")
    ev = wait_events(sim, "q", 1, "b's event")
    check_eq([x["detail"]["image-digest"] for x in ev], [b], "the first event dropped")
    sim.event_faults(duplicate=1)
    c = sim.push("team/r", "c", seed="c")
    d = sim.push("team/r", "d", seed="d")
    ev = wait_events(sim, "q", 4, "c twice and d")
    check_eq([x["detail"]["image-digest"] for x in ev], [b, c, c, d], "the next event duplicated")
    check_eq(ev[1]["id"], ev[2]["id"], "a duplicate is the same event")
    ids = [m["id"] for m in sim.queue_messages("q")]
    check_eq(len(set(ids)), 4, "in distinct messages")
    # Filtered by source: an ECS-only fault leaves ECR events alone.
    sim.event_faults(drop=5, source="aws.ecs")
    e = sim.push("team/r", "e", seed="e")
    ev = wait_events(sim, "q", 5, "e's event")
    check_eq(ev[4]["detail"]["image-digest"], e, "not dropped")
    got = sim.control("GET", "/event-faults")
    check_eq((got["drop"], got["source"]), (5, "aws.ecs"), "GET /event-faults")


def test_event_faults_delay_and_reorder(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/r"}], "queues": ["q"]})
    sim.event_rule("q")
    sim.event_faults(delay=1.5)
    t0 = time.monotonic()
    a = sim.push("team/r", "a", seed="a")
    check_eq(sim.queue_messages("q"), [], "not delivered at once")
    wait_events(sim, "q", 1, "the delayed event")
    took = time.monotonic() - t0
    check(1.4 <= took < 6, "delivered 1.5 s late (%.2fs)" % took)
    # reorder_wait (1 s by default) far off: the third event, not the time, lets them go.
    sim.control("POST", "/event-faults", {"reorder": 3, "reorder_wait": 30})
    tags = [sim.push("team/r", t, seed=t) for t in ("x", "y")]
    check_eq(len(sim.queue_messages("q")), 1, "two held")
    tags.append(sim.push("team/r", "z", seed="z"))
    ev = wait_events(sim, "q", 4, "the three held events")
    check_eq([x["detail"]["image-digest"] for x in ev], [a] + tags[::-1], "delivered in reverse order")
    # Fewer than N held: delivered (reversed) after a short time anyway.
    sim.event_faults(reorder=5)
    more = [sim.push("team/r", t, seed=t) for t in ("u", "v")]
    ev = wait_events(sim, "q", 6, "the held events, after a while")
    check_eq([x["detail"]["image-digest"] for x in ev[4:]], more[::-1], "reversed")
