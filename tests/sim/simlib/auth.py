# SPDX-License-Identifier: MIT
"""Who may call the simulator, and SigV4 verification by botocore's signer.

A request's signature is recomputed with botocore.auth.SigV4Auth over
exactly the headers its SignedHeaders names, at its own X-Amz-Date, with the
secret the simulator holds for its access key, and compared in constant
time. Keys are static (command line, seed) or issued with an expiry by STS,
IMDS and the container credentials endpoint."""

import calendar
import hmac
import os
import re
import string
import threading
import time

import botocore.auth
import botocore.awsrequest
import botocore.credentials

from .core import DEFAULT_ACCOUNT, AwsError

MAX_SKEW = 300  # seconds: a request must arrive within 5 minutes of its date

_AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<sh>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]+)$")


class Key:
    def __init__(self, access_key, secret, account, token=None, expires=None, arn=None, parent=None):
        self.access_key = access_key
        self.parent = parent  # the key that asked STS for this one (AssumeRole), or None
        self.secret = secret
        self.account = account
        self.token = token
        self.expires = expires  # server epoch seconds, or None for static keys
        self.arn = arn or "arn:aws:iam::%s:user/awssim" % account


class Identity:
    """The verified caller of a request."""

    def __init__(self, key, region, service):
        self.key = key
        self.account = key.account
        self.arn = key.arn
        self.region = region
        self.service = service


def _random_text(n, alphabet=string.ascii_letters + string.digits + "/+"):
    raw = os.urandom(n)
    return "".join(alphabet[b % len(alphabet)] for b in raw)


class KeyStore:
    def __init__(self, clock):
        self._lock = threading.Lock()
        self._keys = {}
        self.clock = clock
        self.secrets_file = None  # tests: every issued secret and token, for leak scans
        self.signatures_file = None  # tests: every request signature received, for core scans

    def add_static(self, access_key, secret, account=DEFAULT_ACCOUNT):
        with self._lock:
            self._keys[access_key] = Key(access_key, secret, account)

    def issue(self, account, lifetime, arn=None, parent=None):
        """A new temporary key (ASIA…, secret, session token) valid for
        `lifetime` seconds of server time; parent: the key id that asked for it."""
        k = Key("ASIA" + _random_text(16, string.ascii_uppercase + "234567"), _random_text(40),
                account, token=_random_text(300), expires=self.clock.server_now() + lifetime, arn=arn,
                parent=parent)
        with self._lock:
            self._keys[k.access_key] = k
            if self.secrets_file:
                with open(self.secrets_file, "a") as f:
                    f.write("%s\n%s\n" % (k.secret, k.token))
        return k

    def record_signature(self, sig):
        if self.signatures_file:
            with self._lock, open(self.signatures_file, "a") as f:
                f.write("%s\n" % sig)

    def get(self, access_key):
        with self._lock:
            return self._keys.get(access_key)

    def lineage(self, access_key):
        """The key id and those it descends from (AssumeRole called with them), nearest first."""
        out = []
        with self._lock:
            while access_key is not None and access_key not in out and len(out) < 16:
                out.append(access_key)
                k = self._keys.get(access_key)
                access_key = k.parent if k is not None else None
        return out

    def clear_issued(self):
        with self._lock:
            self._keys = {a: k for a, k in self._keys.items() if k.expires is None}


def _errors_for(protocol):
    # JSON services and the query protocol name the same faults differently.
    if protocol == "query":
        return {"unknown_key": "InvalidClientTokenId", "mismatch": "SignatureDoesNotMatch",
                "expired_sig": "SignatureDoesNotMatch"}
    return {"unknown_key": "UnrecognizedClientException", "mismatch": "SignatureDoesNotMatch",
            "expired_sig": "InvalidSignatureException"}


def _amz_date_to_epoch(value):
    try:
        return calendar.timegm(time.strptime(value, "%Y%m%dT%H%M%SZ"))
    except (ValueError, TypeError):
        return None


def verify(keys, method, host, path_and_query, headers, body, expected_service, protocol="json"):
    """Checks a request's SigV4 signature. headers is a list of (name,
    value) pairs as received. Returns an Identity or raises AwsError."""
    names = _errors_for(protocol)
    hmap = {}
    for name, value in headers:
        hmap.setdefault(name.lower(), []).append(value)
    authz = hmap.get("authorization")
    if not authz:
        if protocol == "query":
            raise AwsError("MissingAuthenticationToken", "Request is missing Authentication Token", 403)
        raise AwsError("MissingAuthenticationTokenException", "Missing Authentication Token", 403)
    m = _AUTH_RE.match(authz[0].strip())
    if not m:
        raise AwsError("IncompleteSignatureException",
                       "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' "
                       "parameters of the AWS4-HMAC-SHA256 algorithm", 403)
    keys.record_signature(m.group("sig"))
    cred = m.group("cred").split("/")
    if len(cred) != 5 or cred[4] != "aws4_request":
        raise AwsError("IncompleteSignatureException",
                       "Credential must have the form <key>/<date>/<region>/<service>/aws4_request", 403)
    access_key, scope_date, region, service, _ = cred
    signed = m.group("sh").split(";")
    if signed != sorted(signed) or any(s != s.lower() for s in signed):
        raise AwsError("IncompleteSignatureException", "SignedHeaders must be lowercase and sorted", 403)
    for required in ("host", "x-amz-date"):
        if required not in signed:
            raise AwsError("IncompleteSignatureException",
                           "SignedHeaders must include '%s'" % required, 403)
    for name in signed:
        if name not in hmap:
            raise AwsError("IncompleteSignatureException",
                           "Header '%s' is named in SignedHeaders but absent" % name, 403)
    amz_date = hmap["x-amz-date"][0]
    when = _amz_date_to_epoch(amz_date)
    if when is None:
        raise AwsError("IncompleteSignatureException", "X-Amz-Date '%s' is not of the form YYYYMMDDTHHMMSSZ"
                       % amz_date, 403)
    if scope_date != amz_date[:8]:
        raise AwsError(names["mismatch"], "Credential date '%s' does not match X-Amz-Date '%s'"
                       % (scope_date, amz_date), 403)
    if service != expected_service:
        raise AwsError("InvalidSignatureException" if protocol == "json" else "SignatureDoesNotMatch",
                       "Credential should be scoped to correct service: '%s'." % expected_service, 403)
    now = keys.clock.server_now()
    if abs(now - when) > MAX_SKEW:
        fmt = lambda t: time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))  # noqa: E731
        if when < now:
            msg = "Signature expired: %s is now earlier than %s (%s - 5 min.)" % (
                amz_date, fmt(now - MAX_SKEW), fmt(now))
        else:
            msg = "Signature not yet current: %s is still later than %s (%s + 5 min.)" % (
                amz_date, fmt(now + MAX_SKEW), fmt(now))
        raise AwsError(names["expired_sig"], msg, 403)
    key = keys.get(access_key)
    if key is None:
        msg = "The security token included in the request is invalid."
        raise AwsError(names["unknown_key"], msg, 403)
    token = hmap.get("x-amz-security-token", [None])[0]
    if key.token is not None:
        if token is None or not hmac.compare_digest(token, key.token):
            raise AwsError(names["unknown_key"], "The security token included in the request is invalid.", 403)
        if key.expires is not None and now >= key.expires:
            raise AwsError("ExpiredTokenException" if protocol == "json" else "ExpiredToken",
                           "The security token included in the request is expired", 403 if protocol == "query" else 400)
    elif token is not None:
        raise AwsError(names["unknown_key"], "The security token included in the request is invalid.", 403)

    # Recompute with botocore over exactly the signed headers.
    req_headers = botocore.awsrequest.HTTPHeaders()
    for name in signed:
        # Repeated headers are joined with ',' as SigV4 prescribes.
        req_headers[name] = ",".join(hmap[name])
    request = botocore.awsrequest.AWSRequest(method=method, url="http://%s%s" % (host, path_and_query),
                                             data=body, headers=req_headers)
    request.context["timestamp"] = amz_date
    signer = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(key.access_key, key.secret, key.token), service, region)
    # botocore skips some headers (user-agent, expect, ...) when it signs; a
    # request that signed one of them cannot be verified by it.
    skipped = [h for h in signed if h in botocore.auth.SIGNED_HEADERS_BLACKLIST]
    if skipped:
        raise AwsError(names["mismatch"], "Headers %s must not be signed" % ",".join(skipped), 403)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, m.group("sig")):
        raise AwsError(names["mismatch"],
                       "The request signature we calculated does not match the signature you provided. "
                       "Check your AWS Secret Access Key and signing method. Consult the service "
                       "documentation for details.", 403)
    return Identity(key, region, service)
