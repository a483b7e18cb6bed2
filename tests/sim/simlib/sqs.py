# SPDX-License-Identifier: MIT
"""SQS over the JSON 1.0 protocol: queues, SendMessage, ReceiveMessage with
real long polling, visibility timeouts and redelivery (a new receipt handle at
each receive), DeleteMessage(Batch) and ChangeMessageVisibility(Batch). Errors
carry the legacy query code in x-amzn-query-error, as query-compatible SQS
does."""

import hashlib
import re
import time
import uuid

from .core import AwsError

QUEUE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}(\.fifo)?$")
BATCH_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
BATCH_MAX = 10
VISIBILITY_MAX = 43200  # 12 hours


def sqs_error(code, message, legacy, status=400):
    return AwsError(code, message, status, namespace="com.amazonaws.sqs", query_error=legacy + ";Sender")


def bad_visibility(value):
    return sqs_error("InvalidParameterValue", "Value %s for parameter VisibilityTimeout is invalid. Reason: Must "
                     "be >= 0 and <= %d, if provided." % (value, VISIBILITY_MAX), "InvalidParameterValue")


def bad_receipt(handle):
    return sqs_error("ReceiptHandleIsInvalid", "The input receipt handle \"%s\" is not a valid receipt handle."
                     % handle, "ReceiptHandleIsInvalid")


def expired_receipt(handle):
    return sqs_error("InvalidParameterValue", "Value %s for parameter ReceiptHandle is invalid. Reason: The "
                     "receipt handle has expired." % handle, "InvalidParameterValue")


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
        self.receipt = None  # the latest receipt handle
        self.receive_count = 0
        self.sent_at = time.time()
        self.first_received_at = None


class Queue:
    def __init__(self, account, region, name, attributes):
        self.account, self.region, self.name = account, region, name
        self.attributes = dict(attributes or {})
        self.visibility = int(self.attributes.get("VisibilityTimeout", 30))
        self.messages = []
        self.receipts = {}  # every receipt handle issued -> its Message (deleted ones too)

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
                q.receipts[m.receipt] = m
                m.receive_count += 1
                if m.first_received_at is None:
                    m.first_received_at = time.time()
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
        if not 0 <= visibility <= VISIBILITY_MAX:
            raise bad_visibility(visibility)
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
                         "ApproximateReceiveCount": str(m.receive_count),
                         "ApproximateFirstReceiveTimestamp": str(int(m.first_received_at * 1000))}
                entry["Attributes"] = attrs if "All" in names else {k: v for k, v in attrs.items() if k in names}
            msgs.append(entry)
        return {"Messages": msgs}

    # -- deleting and changing visibility: by receipt handle ---------------------------
    def _delete(self, q, handle):
        """AWS's rules: a handle never issued is invalid; the latest handle deletes the message
        (also after its visibility timeout, until it is received again); an older handle of a
        message received again, or the handle of a message already deleted, "succeeds" and
        deletes nothing."""
        m = q.receipts.get(handle)
        if m is None:
            raise bad_receipt(handle)
        if m.receipt == handle and m in q.messages:
            q.messages.remove(m)

    def _change_visibility(self, q, handle, timeout):
        if not isinstance(timeout, int) or not 0 <= timeout <= VISIBILITY_MAX:
            raise bad_visibility(timeout)
        m = q.receipts.get(handle)
        if m is None or m not in q.messages:
            raise bad_receipt(handle)
        now = time.monotonic()
        if m.receipt != handle or m.visible_at <= now:
            raise expired_receipt(handle)
        m.visible_at = now + timeout
        self.world.cond.notify_all()

    @staticmethod
    def _batch(entries, what):
        """The checks of a whole batch, as SQS makes them before any entry."""
        if not entries:
            raise sqs_error("EmptyBatchRequest", "There should be at least one %sRequestEntry in the request."
                            % what, "AWS.SimpleQueueService.EmptyBatchRequest")
        if len(entries) > BATCH_MAX:
            raise sqs_error("TooManyEntriesInBatchRequest", "Maximum number of entries per request are %d. You "
                            "have sent %d." % (BATCH_MAX, len(entries)),
                            "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
        seen = set()
        for e in entries:
            if not BATCH_ID_RE.match(e["Id"]):
                raise sqs_error("InvalidBatchEntryId", "A batch entry id can only contain alphanumeric characters, "
                                "hyphens and underscores. It can be at most 80 letters long.",
                                "AWS.SimpleQueueService.InvalidBatchEntryId")
            if e["Id"] in seen:
                raise sqs_error("BatchEntryIdsNotDistinct", "Id %s repeated." % e["Id"],
                                "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
            seen.add(e["Id"])

    @staticmethod
    def _each(entries, fn):
        ok, failed = [], []
        for e in entries:
            try:
                fn(e)
                ok.append({"Id": e["Id"]})
            except AwsError as err:
                failed.append({"Id": e["Id"], "SenderFault": err.sender, "Code": err.code, "Message": err.message})
        return {"Successful": ok, "Failed": failed}

    def delete_message(self, ctx, p):
        self._delete(self.queue(p["QueueUrl"]), p["ReceiptHandle"])
        return {}

    def delete_message_batch(self, ctx, p):
        q = self.queue(p["QueueUrl"])
        self._batch(p["Entries"], "DeleteMessageBatch")
        return self._each(p["Entries"], lambda e: self._delete(q, e["ReceiptHandle"]))

    def change_message_visibility(self, ctx, p):
        self._change_visibility(self.queue(p["QueueUrl"]), p["ReceiptHandle"], p["VisibilityTimeout"])
        return {}

    def change_message_visibility_batch(self, ctx, p):
        q = self.queue(p["QueueUrl"])
        self._batch(p["Entries"], "ChangeMessageVisibilityBatch")
        return self._each(p["Entries"], lambda e: self._change_visibility(q, e["ReceiptHandle"],
                                                                         e.get("VisibilityTimeout", 0)))

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
        "DeleteMessageBatch": delete_message_batch,
        "ChangeMessageVisibility": change_message_visibility,
        "ChangeMessageVisibilityBatch": change_message_visibility_batch,
        "GetQueueAttributes": get_queue_attributes,
    }
