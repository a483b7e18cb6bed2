# SPDX-License-Identifier: MIT
"""The instance and container credential endpoints: EC2 IMDSv2 (token,
role listing, credentials) and the ECS container credentials endpoint.
Both issue short-lived keys from the simulator's key store."""

import json
import os
import time

from .core import DEFAULT_ACCOUNT

IMDS_ROLE = "awssim-instance-role"
CONTAINER_PATH = "/v2/credentials/"


def iso8601(epoch):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


class CredentialEndpoints:
    def __init__(self, world):
        self.world = world
        self.imds_tokens = {}  # token -> expiry (monotonic)
        self.imds_v1 = False
        self.container_token = None  # required Authorization value, if set
        self.container_ids = {}  # id -> account

    def _issue(self, account, role):
        lifetime = int(self.world.settings.get("credential_lifetime_seconds", 3600))
        arn = "arn:aws:sts::%s:assumed-role/%s/awssim" % (account, role)
        return self.world.keys.issue(account, lifetime, arn=arn)

    def handle(self, method, path, headers):
        """Returns (status, content_type, body) for a credentials path, or
        None when path is not one."""
        h = {k.lower(): v for k, v in headers}
        if path == "/latest/api/token":
            if method != "PUT":
                return 405, "text/plain", "Method Not Allowed"
            try:
                ttl = int(h.get("x-aws-ec2-metadata-token-ttl-seconds", ""))
            except ValueError:
                return 400, "text/plain", "Missing or invalid x-aws-ec2-metadata-token-ttl-seconds"
            if not 1 <= ttl <= 21600:
                return 400, "text/plain", "x-aws-ec2-metadata-token-ttl-seconds must be 1..21600"
            token = os.urandom(32).hex()
            self.imds_tokens[token] = time.monotonic() + ttl
            return 200, "text/plain", token
        if path.startswith("/latest/meta-data/"):
            if method != "GET":
                return 405, "text/plain", "Method Not Allowed"
            token = h.get("x-aws-ec2-metadata-token")
            if token is not None:
                if self.imds_tokens.get(token, 0) < time.monotonic():
                    return 401, "text/plain", "Unauthorized"
            elif not self.imds_v1:
                return 401, "text/plain", "Unauthorized"
            base = "/latest/meta-data/iam/security-credentials/"
            if path == base:
                return 200, "text/plain", IMDS_ROLE
            if path == base + IMDS_ROLE:
                k = self._issue(DEFAULT_ACCOUNT, IMDS_ROLE)
                return 200, "text/plain", json.dumps({
                    "Code": "Success", "LastUpdated": iso8601(time.time()), "Type": "AWS-HMAC",
                    "AccessKeyId": k.access_key, "SecretAccessKey": k.secret, "Token": k.token,
                    "Expiration": iso8601(k.expires)}, indent=2)
            return 404, "text/plain", "Not Found"
        if path.startswith(CONTAINER_PATH):
            if method != "GET":
                return 405, "text/plain", "Method Not Allowed"
            if self.container_token is not None and h.get("authorization") != self.container_token:
                return 401, "application/json", json.dumps({"code": "AccessDenied",
                                                            "message": "Authorization token is invalid"})
            cid = path[len(CONTAINER_PATH):]
            account = self.container_ids.get(cid, DEFAULT_ACCOUNT) if cid else None
            if not cid:
                return 404, "application/json", json.dumps({"code": "NotFound", "message": "no such credentials"})
            k = self._issue(account, "awssim-task-role")
            return 200, "application/json", json.dumps({
                "RoleArn": "arn:aws:iam::%s:role/awssim-task-role" % account,
                "AccessKeyId": k.access_key, "SecretAccessKey": k.secret, "Token": k.token,
                "Expiration": iso8601(k.expires), "AccountId": account})
        return None
