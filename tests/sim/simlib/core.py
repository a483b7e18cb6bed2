# SPDX-License-Identifier: MIT
"""Shared pieces of the simulator: AWS errors, identifiers, simulated time,
paging tokens."""

import base64
import hashlib
import hmac
import json
import os
import threading
import time
import uuid

DEFAULT_ACCOUNT = "123456789012"
DEFAULT_REGION = "us-east-1"


class AwsError(Exception):
    """An error answered in the AWS shape of the protocol in use.

    code is the bare error code (e.g. "ClientException"); namespace, when
    set, is prefixed as botocore sees on the wire ("ns#Code"). query_error
    is SQS's legacy code for the x-amzn-query-error header."""

    def __init__(self, code, message, status=400, namespace=None, query_error=None, sender=True):
        super().__init__("%s: %s" % (code, message))
        self.code = code
        self.message = message
        self.status = status
        self.namespace = namespace
        self.query_error = query_error
        self.sender = sender


def new_request_id():
    return str(uuid.uuid4())


def hexid(n=32):
    return os.urandom(n // 2).hex()


def digits(n):
    return "".join(str(b % 10) for b in os.urandom(n))


class Clock:
    """Simulated time for resource timestamps and rollout pacing.

    sim_now() runs `acceleration` times faster than the wall clock.
    server_now() is the wall clock as the simulated AWS sees it, shifted by
    `skew` seconds: it dates responses and judges signature times and
    credential expiry, so a test can make the daemon's clock look wrong."""

    def __init__(self):
        self._lock = threading.Lock()
        self._base_real = time.monotonic()
        self._base_sim = time.time()
        self.acceleration = 1.0
        self.skew = 0.0

    def sim_now(self):
        with self._lock:
            return self._base_sim + (time.monotonic() - self._base_real) * self.acceleration

    def set_acceleration(self, factor):
        if not factor > 0:
            raise ValueError("acceleration must be positive")
        with self._lock:
            now_real = time.monotonic()
            self._base_sim = self._base_sim + (now_real - self._base_real) * self.acceleration
            self._base_real = now_real
            self.acceleration = float(factor)

    def server_now(self):
        return time.time() + self.skew


class Pager:
    """Opaque, tamper-evident nextToken values: an offset bound to the
    request it continues. A token from another request, or edited, is
    rejected as AWS does (InvalidParameterException)."""

    def __init__(self):
        self._key = os.urandom(16)

    def token(self, scope, offset):
        body = json.dumps([scope, offset]).encode()
        mac = hmac.new(self._key, body, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(mac + body).decode()

    def offset(self, scope, token, error_code="InvalidParameterException"):
        if token is None:
            return 0
        try:
            raw = base64.urlsafe_b64decode(token.encode())
            mac, body = raw[:12], raw[12:]
            if not hmac.compare_digest(mac, hmac.new(self._key, body, hashlib.sha256).digest()[:12]):
                raise ValueError
            got_scope, offset = json.loads(body)
            if got_scope != json.loads(json.dumps(scope)):
                raise ValueError
            return int(offset)
        except Exception:
            raise AwsError(error_code, "Invalid NextToken: the token is not valid for this request")

    def page(self, scope, items, token, max_results, default_max):
        """Returns (items of this page, nextToken or None)."""
        start = self.offset(scope, token)
        n = max_results if max_results is not None else default_max
        chunk = items[start:start + n]
        nxt = self.token(scope, start + n) if start + n < len(items) else None
        return chunk, nxt

    def reply(self, key, scope, items, p, default_max, render=None):
        """A paginated reply for request p: {key: this page (each rendered), "nextToken": … when more}."""
        chunk, nxt = self.page(scope, items, p.get("nextToken"), p.get("maxResults"), default_max)
        out = {key: [render(x) for x in chunk] if render else chunk}
        if nxt:
            out["nextToken"] = nxt
        return out


REDACT = {"WebIdentityToken", "SecretAccessKey", "SessionToken", "Token", "authorizationToken"}


def redact(value):
    """A copy of a request or response with secrets replaced, for logs."""
    if isinstance(value, dict):
        return {k: ("<redacted>" if k in REDACT else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value
