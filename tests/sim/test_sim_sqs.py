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
    code, _, _, headers = aws_error(sqs.delete_message, QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
    check_eq(code, "ReceiptHandleIsInvalid", "an old receipt handle")
    sqs.delete_message(QueueUrl=url, ReceiptHandle=again[0]["ReceiptHandle"])
    check_eq(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
             ["ApproximateNumberOfMessages"], "0", "deleted")


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
