# SPDX-License-Identifier: MIT
"""awssim STS and credential endpoints: every kind of issued key is
accepted by the signature check until it expires. The endpoints are read
with botocore's own fetchers, so their replies are the shapes botocore
parses."""

import http.client
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import Sim, aws_error, check, check_eq  # noqa: E402

ROLE = "arn:aws:iam::210987654321:role/deployer"


def works(sim, key, secret, token):
    ecs = sim.client("ecs", key=(key, secret), token=token)
    return ecs.create_cluster(clusterName="creds-check")["cluster"]["clusterArn"]


def test_web_identity(ctx):
    sim = Sim(ctx)
    sim.settings(web_identity_tokens=["good-jwt"])
    sts = sim.client("sts")
    out = sts.assume_role_with_web_identity(RoleArn=ROLE, RoleSessionName="ecr-deployd", WebIdentityToken="good-jwt")
    c = out["Credentials"]
    check(c["AccessKeyId"].startswith("ASIA"), "temporary key id")
    check_eq(out["AssumedRoleUser"]["Arn"], "arn:aws:sts::210987654321:assumed-role/deployer/ecr-deployd", "arn")
    arn = works(sim, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    check(":210987654321:" in arn, "the issued key acts in the role's account: %s" % arn)
    req = sim.requests(operation="AssumeRoleWithWebIdentity")[0]
    check_eq(req["signature"], "unsigned", "AssumeRoleWithWebIdentity is unsigned")
    check_eq(req["params"]["WebIdentityToken"], "<redacted>", "the token is not kept in the log")
    code, _, _, _ = aws_error(sts.assume_role_with_web_identity, RoleArn=ROLE, RoleSessionName="x1",
                              WebIdentityToken="forged")
    check_eq(code, "InvalidIdentityToken", "unknown token")
    code, _, _, _ = aws_error(sts.assume_role_with_web_identity, RoleArn="not-an-arn", RoleSessionName="x1",
                              WebIdentityToken="good-jwt")
    check_eq(code, "ValidationError", "bad role ARN")
    # A missing session token with a temporary key is refused.
    code, _, _, _ = aws_error(sim.client("ecs", key=(c["AccessKeyId"], c["SecretAccessKey"])).list_clusters)
    check_eq(code, "UnrecognizedClientException", "temporary key without its token")


def test_assume_role_and_caller_identity(ctx):
    sim = Sim(ctx)
    sts = sim.client("sts")
    me = sts.get_caller_identity()
    check_eq(me["Account"], "123456789012", "static key's account")
    c = sts.assume_role(RoleArn=ROLE, RoleSessionName="deploy")["Credentials"]
    who = sim.client("sts", key=(c["AccessKeyId"], c["SecretAccessKey"]), token=c["SessionToken"]).get_caller_identity()
    check_eq(who["Arn"], "arn:aws:sts::210987654321:assumed-role/deployer/deploy", "assumed identity")
    code, _, status, _ = aws_error(sim.client("sts", key=("AKIDNOPE0000000000", "x")).get_caller_identity)
    check_eq((code, status), ("InvalidClientTokenId", 403), "unknown key over the query protocol")
    code, _, _, _ = aws_error(sim.client("sts", key=(sim.key[0], "wrong")).assume_role, RoleArn=ROLE,
                              RoleSessionName="deploy")
    check_eq(code, "SignatureDoesNotMatch", "AssumeRole must be signed correctly")


def test_issued_keys_expire(ctx):
    sim = Sim(ctx)
    sim.settings(credential_lifetime_seconds=1)
    c = sim.client("sts").assume_role(RoleArn=ROLE, RoleSessionName="short")["Credentials"]
    works(sim, c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"])
    time.sleep(1.2)  # the key's lifetime, not a synchronisation
    code, msg, _, _ = aws_error(sim.client("ecs", key=(c["AccessKeyId"], c["SecretAccessKey"]),
                                           token=c["SessionToken"]).list_clusters)
    check_eq(code, "ExpiredTokenException", "expired")


def test_imds_v2(ctx):
    import botocore.utils
    sim = Sim(ctx)
    fetcher = botocore.utils.InstanceMetadataFetcher(timeout=2, num_attempts=1, base_url=sim.url + "/")
    creds = fetcher.retrieve_iam_role_credentials()
    check(creds.get("access_key", "").startswith("ASIA"), "botocore's fetcher got credentials: %r" % creds.keys())
    works(sim, creds["access_key"], creds["secret_key"], creds["token"])
    put = [r for r in sim.requests(service="credentials") if r["operation"] == "/latest/api/token"]
    check(put, "the fetcher used an IMDSv2 token")
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    conn.request("GET", "/latest/meta-data/iam/security-credentials/")
    check_eq(conn.getresponse().status, 401, "IMDSv1 refused")
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    conn.request("PUT", "/latest/api/token")
    check_eq(conn.getresponse().status, 400, "token PUT without TTL")
    conn.close()
    sim.settings(imds_v1=True)
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    conn.request("GET", "/latest/meta-data/iam/security-credentials/")
    r = conn.getresponse()
    check_eq((r.status, r.read()), (200, b"awssim-instance-role"), "IMDSv1 when allowed")


def test_container_credentials(ctx):
    import botocore.utils
    sim = Sim(ctx)
    sim.settings(container_authorization="Bearer c0ntainer")
    path = sim.control("POST", "/container-credentials", {"id": "task-1", "account": "210987654321"})["path"]
    fetcher = botocore.utils.ContainerMetadataFetcher()
    creds = fetcher.retrieve_full_uri(sim.url + path, headers={"Authorization": "Bearer c0ntainer"})
    check(creds["AccessKeyId"].startswith("ASIA"), "credentials")
    check(":210987654321:" in works(sim, creds["AccessKeyId"], creds["SecretAccessKey"], creds["Token"]),
          "in the task role's account")
    conn = http.client.HTTPConnection("127.0.0.1", sim.port, timeout=5)
    conn.request("GET", path)
    check_eq(conn.getresponse().status, 401, "without the authorization token")
