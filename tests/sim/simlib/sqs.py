# SPDX-License-Identifier: MIT
"""SQS over the JSON 1.0 protocol: queues, SendMessage, ReceiveMessage with
real long polling, visibility timeouts and DeleteMessage. Errors carry the
legacy query code in x-amzn-query-error, as query-compatible SQS does."""

import hashlib
import re
import time
import uuid

from .core import AwsError

QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}(\.fifo)?$")


def sqs_error(code, message, legacy, status=400):
    return AwsError(code, message, status, namespace="com.amazonaws.sqs", query_error=legacy + ";Sender")


def no_queue():
    return sqs_error("QueueDoesNotExist", "The specified queue does not exist.",
                     "AWS.SimpleQueueService.NonExistentQueue")


class Message:
    def __init__(self, body, attributes, visible_at):
        self.id = str(uuid.uuid4())
        self.body = body
        self.attributes = attributes
        self.md5 = hashlib.md5(body.encode()).hexdigest()
        self.visible_at = visible_at  # monotonic seconds
        self.receipt = None
        self.receive_count = 0
        self.sent_at = time.time()


class Queue:
    def __init__(self, account, region, name, attributes):
        self.account, self.region, self.name = account, region, name
        self.attributes = dict(attributes or {})
        self.visibility = int(self.attributes.get("VisibilityTimeout", 30))
        self.messages = []

    @property
    def url(self):
        return "https://sqs.%s.amazonaws.com/%s/%s" % (self.region, self.account, self.name)

    @property
    def arn(self):
        return "arn:aws:sqs:%s:%s:%s" % (self.region, self.account, self.name)


class Sqs:
    def __init__(self, world):
        self.world = world
        self.queues = {}  # url -> Queue

    def queue(self, url):
        q = self.queues.get(url)
        if q is None:
            raise no_queue()
        return q

    def find(self, account, region, name_or_url):
        if name_or_url in self.queues:
            return self.queues[name_or_url]
        for q in self.queues.values():
            if (q.account, q.region, q.name) == (account, region, name_or_url):
                return q
        return None

    def create_queue(self, ctx, p):
        name = p["QueueName"]
        if not QUEUE_NAME_RE.match(name):
            raise sqs_error("InvalidParameterValue", "Can only include alphanumeric characters, hyphens, or "
                            "underscores. 1 to 80 in length", "InvalidParameterValue")
        q = Queue(ctx.account, ctx.region, name, p.get("Attributes"))
        existing = self.queues.get(q.url)
        if existing is None:
            self.queues[q.url] = q
        return {"QueueUrl": q.url}

    def list_queues(self, ctx, p):
        prefix = p.get("QueueNamePrefix", "")
        urls = sorted(q.url for q in self.queues.values()
                      if (q.account, q.region) == (ctx.account, ctx.region) and q.name.startswith(prefix))
        return {"QueueUrls": urls} if urls else {}

    def get_queue_url(self, ctx, p):
        q = self.find(p.get("QueueOwnerAWSAccountId") or ctx.account, ctx.region, p["QueueName"])
        if q is None:
            raise no_queue()
        return {"QueueUrl": q.url}

    def send(self, q, body, delay=0):
        if not body:
            raise sqs_error("InvalidParameterValue", "The request must contain the parameter MessageBody.",
                            "MissingParameter")
        m = Message(body, {}, time.monotonic() + delay)
        q.messages.append(m)
        self.world.cond.notify_all()
        return m

    def send_message(self, ctx, p):
        q = self.queue(p["QueueUrl"])
        m = self.send(q, p["MessageBody"], p.get("DelaySeconds", 0))
        return {"MessageId": m.id, "MD5OfMessageBody": m.md5}

    def _take(self, q, n, visibility):
        now = time.monotonic()
        out = []
        for m in q.messages:
            if len(out) >= n:
                break
            if m.visible_at <= now:
                m.visible_at = now + visibility
                m.receipt = uuid.uuid4().hex + uuid.uuid4().hex
                m.receive_count += 1
                out.append(m)
        return out

    def receive_message(self, ctx, p):
        q = self.queue(p["QueueUrl"])
        n = p.get("MaxNumberOfMessages", 1)
        if not 1 <= n <= 10:
            raise sqs_error("InvalidParameterValue", "Value %d for parameter MaxNumberOfMessages is invalid. "
                            "Reason: Must be between 1 and 10, if provided." % n, "InvalidParameterValue")
        wait = p.get("WaitTimeSeconds", int(q.attributes.get("ReceiveMessageWaitTimeSeconds", 0)))
        if not 0 <= wait <= 20:
            raise sqs_error("InvalidParameterValue", "Value %d for parameter WaitTimeSeconds is invalid. "
                            "Reason: Must be >= 0 and <= 20, if provided." % wait, "InvalidParameterValue")
        visibility = p.get("VisibilityTimeout", q.visibility)
        deadline = time.monotonic() + wait
        # The world lock is held; Condition.wait releases it while we sleep,
        # so other calls go on during a long poll.
        while True:
            got = self._take(q, n, visibility)
            left = deadline - time.monotonic()
            if got or left <= 0:
                break
            pending = [m.visible_at - time.monotonic() for m in q.messages]
            self.world.cond.wait(min([left] + [max(0.01, x) for x in pending]))
            if q.url not in self.queues:
                raise no_queue()
        if not got:
            return {}
        names = set(p.get("MessageSystemAttributeNames") or []) | set(p.get("AttributeNames") or [])
        msgs = []
        for m in got:
            entry = {"MessageId": m.id, "ReceiptHandle": m.receipt, "MD5OfBody": m.md5, "Body": m.body}
            if names:
                attrs = {"SentTimestamp": str(int(m.sent_at * 1000)),
                         "ApproximateReceiveCount": str(m.receive_count)}
                entry["Attributes"] = attrs if "All" in names else {k: v for k, v in attrs.items() if k in names}
            msgs.append(entry)
        return {"Messages": msgs}

    def delete_message(self, ctx, p):
        q = self.queue(p["QueueUrl"])
        for i, m in enumerate(q.messages):
            if m.receipt is not None and m.receipt == p["ReceiptHandle"]:
                del q.messages[i]
                return {}
        raise sqs_error("ReceiptHandleIsInvalid", "The input receipt handle \"%s\" is not a valid receipt "
                        "handle." % p["ReceiptHandle"], "ReceiptHandleIsInvalid")

    def get_queue_attributes(self, ctx, p):
        q = self.queue(p["QueueUrl"])
        attrs = dict(q.attributes)
        attrs.update({"QueueArn": q.arn, "VisibilityTimeout": str(q.visibility),
                      "ApproximateNumberOfMessages": str(len(q.messages))})
        names = p.get("AttributeNames") or []
        if "All" not in names:
            attrs = {k: v for k, v in attrs.items() if k in names}
        return {"Attributes": attrs}

    OPERATIONS = {
        "CreateQueue": create_queue,
        "ListQueues": list_queues,
        "GetQueueUrl": get_queue_url,
        "SendMessage": send_message,
        "ReceiveMessage": receive_message,
        "DeleteMessage": delete_message,
        "GetQueueAttributes": get_queue_attributes,
    }
