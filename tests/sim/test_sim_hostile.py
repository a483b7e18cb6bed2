# SPDX-License-Identifier: MIT
"""awssim controls that make AWS answer hostile strings: /reply-digest, a fault's own message,
/reply-taskdef-arn, /service-event, and raw bytes that are not UTF-8."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import Sim, aws_error, check, check_eq  # noqa: E402
from simlib.server import raw_bytes  # noqa: E402

BAD = "sha256:" + "a" * 40 + '"\r\n\x1b[31m'


def test_reply_digest_shows_in_every_ecr_reply(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"},
                                                                          {"tag": "dev", "seed": "b"}]}]})
    ecr = sim.client("ecr")
    real = ecr.describe_images(repositoryName="team/web", imageIds=[{"imageTag": "prod"}])["imageDetails"][0]
    sim.control("POST", "/reply-digest", {"repository": "team/web", "tag": "prod", "digest": BAD})
    got = ecr.describe_images(repositoryName="team/web", imageIds=[{"imageTag": "prod"}])["imageDetails"][0]
    check_eq(got["imageDigest"], BAD, "DescribeImages by tag")
    listed = {tuple(d.get("imageTags", [])): d["imageDigest"]
              for d in ecr.describe_images(repositoryName="team/web")["imageDetails"]}
    check_eq(listed[("prod",)], BAD, "DescribeImages listing")
    check(listed[("dev",)].startswith("sha256:") and listed[("dev",)] != BAD, "the other tag is untouched")
    batch = ecr.batch_get_image(repositoryName="team/web", imageIds=[{"imageTag": "prod"}])["images"][0]
    check_eq(batch["imageId"]["imageDigest"], BAD, "BatchGetImage")
    sim.control("POST", "/reply-digest", {"repository": "team/web", "tag": "prod", "digest": None})
    got = ecr.describe_images(repositoryName="team/web", imageIds=[{"imageTag": "prod"}])["imageDetails"][0]
    check_eq(got["imageDigest"], real["imageDigest"], "cleared")


def test_fault_with_its_own_message(ctx):
    sim = Sim(ctx)
    ecs = sim.client("ecs")
    sim.fault("ecs.ListClusters", "500", message="boom\r\nline two")
    code, message, status, _ = aws_error(ecs.list_clusters)
    check_eq((code, message, status), ("ServerException", "boom\r\nline two", 500), "the message given")


def test_service_event_and_taskdef_arn(ctx):
    from test_deploy import world
    sim = Sim(ctx, seed=world())
    ecs = sim.client("ecs")
    sim.control("POST", "/service-event", {"cluster": "prod", "service": "web", "message": "evil\nline"})
    svc = ecs.describe_services(cluster="prod", services=["web"])["services"][0]
    check_eq(svc["events"][0]["message"], "evil\nline", "the newest event, verbatim")
    sim.control("POST", "/reply-taskdef-arn", {"family": "web", "arn": "arn:evil\x1b"})
    td = ecs.describe_task_definition(taskDefinition="web")["taskDefinition"]
    del td["taskDefinitionArn"], td["revision"], td["status"]
    reg = ecs.register_task_definition(**{k: v for k, v in td.items() if k in (
        "family", "containerDefinitions", "networkMode", "requiresCompatibilities", "cpu", "memory")})
    check_eq(reg["taskDefinition"]["taskDefinitionArn"], "arn:evil\x1b", "the ARN in the reply")
    check_eq(ecs.describe_task_definition(taskDefinition="web:2")["taskDefinition"]["revision"], 2,
             "registered as usual")


def test_surrogate_escapes_become_raw_bytes(ctx):
    body = json.dumps({"a": "x\udcff", "b": "\\udc80 stays text", "c": "\\\udcfe"}).encode()
    check_eq(raw_bytes(body), b'{"a": "x\xff", "b": "\\\\udc80 stays text", "c": "\\\\\xfe"}',
             "lone \\udcNN escapes become bytes; an escaped backslash before udc80 does not")
