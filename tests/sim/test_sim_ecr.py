# SPDX-License-Identifier: MIT
"""awssim ECR, driven through boto3."""

import base64
import hashlib
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import Sim, aws_error, check, check_eq  # noqa: E402

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                       "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7,
                                  "digest": "sha256:" + "1" * 64},
                       "layers": []})


def test_repositories(ctx):
    sim = Sim(ctx)
    ecr = sim.client("ecr")
    repo = ecr.create_repository(repositoryName="team/web")["repository"]
    check_eq(repo["repositoryUri"], "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web", "repositoryUri")
    check_eq(repo["repositoryArn"], "arn:aws:ecr:us-east-1:123456789012:repository/team/web", "arn")
    code, _, _, _ = aws_error(ecr.create_repository, repositoryName="team/web")
    check_eq(code, "RepositoryAlreadyExistsException", "duplicate")
    code, _, _, _ = aws_error(ecr.create_repository, repositoryName="Team/Web")
    check_eq(code, "InvalidParameterException", "bad name")
    for n in ("a1", "b2", "c3"):
        ecr.create_repository(repositoryName=n)
    got = ecr.describe_repositories(repositoryNames=["a1", "team/web"])["repositories"]
    check_eq([r["repositoryName"] for r in got], ["a1", "team/web"], "by name")
    page = ecr.describe_repositories(maxResults=2)
    rest = ecr.describe_repositories(maxResults=2, nextToken=page["nextToken"])
    check_eq(len(page["repositories"]) + len(rest["repositories"]), 4, "paging")
    check("nextToken" not in rest, "last page has no token")
    code, _, _, _ = aws_error(ecr.describe_repositories, repositoryNames=["nope"])
    check_eq(code, "RepositoryNotFoundException", "missing repository")


def test_put_image_digest_and_moving_tags(ctx):
    sim = Sim(ctx)
    ecr = sim.client("ecr")
    ecr.create_repository(repositoryName="web")
    img = ecr.put_image(repositoryName="web", imageManifest=MANIFEST, imageTag="prod")["image"]
    want = "sha256:" + hashlib.sha256(MANIFEST.encode()).hexdigest()
    check_eq(img["imageId"]["imageDigest"], want, "digest is sha256 of the manifest bytes")
    code, _, _, _ = aws_error(ecr.put_image, repositoryName="web", imageManifest=MANIFEST, imageTag="prod")
    check_eq(code, "ImageAlreadyExistsException", "same image, same tag")
    d2 = sim.push("web", "prod", seed="second")
    check(d2 != want, "a different manifest has a different digest")
    ids = ecr.list_images(repositoryName="web")["imageIds"]
    check_eq(sorted((i["imageDigest"], i.get("imageTag")) for i in ids),
             sorted([(want, None), (d2, "prod")]), "the tag moved; the old image stays, untagged")
    untagged = ecr.list_images(repositoryName="web", filter={"tagStatus": "UNTAGGED"})["imageIds"]
    check_eq(untagged, [{"imageDigest": want}], "UNTAGGED filter")
    # Tag an existing image with a second tag.
    ecr.put_image(repositoryName="web", imageManifest=MANIFEST, imageTag="v1")
    d = ecr.describe_images(repositoryName="web", imageIds=[{"imageDigest": want}])["imageDetails"][0]
    check_eq(d["imageTags"], ["v1"], "tags of the old image")
    ecr.create_repository(repositoryName="locked", imageTagMutability="IMMUTABLE")
    sim.push("locked", "v1", seed="a")
    code, _, _, _ = aws_error(ecr.put_image, repositoryName="locked", imageManifest=MANIFEST, imageTag="v1")
    check_eq(code, "ImageTagAlreadyExistsException", "immutable tag")


def test_describe_images(ctx):
    sim = Sim(ctx)
    ecr = sim.client("ecr")
    ecr.create_repository(repositoryName="web")
    digests = {t: sim.push("web", t, seed=t) for t in ("a", "b", "c", "d", "e")}
    got = ecr.describe_images(repositoryName="web", imageIds=[{"imageTag": "a"}, {"imageTag": "c"}])
    check_eq(sorted(i["imageDigest"] for i in got["imageDetails"]), sorted([digests["a"], digests["c"]]), "by tag")
    detail = got["imageDetails"][0]
    for field in ("registryId", "repositoryName", "imageDigest", "imageTags", "imageSizeInBytes",
                  "imagePushedAt", "imageManifestMediaType"):
        check(field in detail, "imageDetail has %s" % field)
    code, msg, _, _ = aws_error(ecr.describe_images, repositoryName="web",
                                imageIds=[{"imageTag": "a"}, {"imageTag": "missing"}])
    check_eq(code, "ImageNotFoundException", "one missing tag fails the whole call")
    check("missing" in msg, "names the tag")
    code, _, _, _ = aws_error(ecr.describe_images, repositoryName="web", imageIds=[{"imageTag": "a"}], maxResults=5)
    check_eq(code, "InvalidParameterException", "maxResults with imageIds")
    seen, token, pages = [], None, 0
    while True:
        kw = {"nextToken": token} if token else {}
        page = ecr.describe_images(repositoryName="web", maxResults=2, **kw)
        seen += [i["imageDigest"] for i in page["imageDetails"]]
        pages += 1
        token = page.get("nextToken")
        if not token:
            break
    check_eq((pages, sorted(seen)), (3, sorted(digests.values())), "paging by 2 over 5 images")
    default = ecr.describe_images(repositoryName="web")
    check_eq(len(default["imageDetails"]), 5, "default page")
    code, _, _, _ = aws_error(ecr.describe_images, repositoryName="web", nextToken="garbage")
    check_eq(code, "InvalidParameterException", "a forged nextToken")
    other = ecr.list_images(repositoryName="web", maxResults=2)["nextToken"]
    code, _, _, _ = aws_error(ecr.describe_images, repositoryName="web", nextToken=other)
    check_eq(code, "InvalidParameterException", "a token from another call")
    code, _, _, _ = aws_error(ecr.describe_images, repositoryName="nope")
    check_eq(code, "RepositoryNotFoundException", "missing repository")


def test_batch_get_image_reports_per_image(ctx):
    sim = Sim(ctx)
    ecr = sim.client("ecr")
    ecr.create_repository(repositoryName="web")
    a = sim.push("web", "a", seed="a")
    b = sim.push("web", "b", seed="b")
    out = ecr.batch_get_image(repositoryName="web", imageIds=[
        {"imageTag": "a"}, {"imageTag": "gone"}, {"imageTag": "b"}, {"imageTag": "a", "imageDigest": b},
        {"imageDigest": "sha256:xyz"}])
    check_eq([i["imageId"]["imageDigest"] for i in out["images"]], [a, b], "found images")
    check_eq(hashlib.sha256(out["images"][0]["imageManifest"].encode()).hexdigest(), a[7:], "manifest bytes")
    check_eq([(f["imageId"].get("imageTag"), f["failureCode"]) for f in out["failures"]],
             [("gone", "ImageNotFound"), ("a", "ImageTagDoesNotMatchDigest"), (None, "InvalidImageDigest")],
             "per-image failures")


def test_list_images_paging(ctx):
    sim = Sim(ctx)
    ecr = sim.client("ecr")
    ecr.create_repository(repositoryName="web")
    for i in range(7):
        sim.push("web", "v1.%d" % i, seed=str(i))
    tags, token = [], None
    while True:
        kw = {"nextToken": token} if token else {}
        page = ecr.list_images(repositoryName="web", maxResults=3, **kw)
        tags += [i["imageTag"] for i in page["imageIds"]]
        token = page.get("nextToken")
        if not token:
            break
    check_eq(sorted(tags), ["v1.%d" % i for i in range(7)], "all tags over pages of 3")


def test_authorization_token(ctx):
    sim = Sim(ctx)
    ecr = sim.client("ecr")
    data = ecr.get_authorization_token()["authorizationData"][0]
    user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
    check_eq(user, "AWS", "user")
    check(len(password) > 20, "a password")
    check_eq(data["proxyEndpoint"], "https://123456789012.dkr.ecr.us-east-1.amazonaws.com", "proxyEndpoint")
    left = data["expiresAt"].timestamp() - time.time()
    check(11.9 * 3600 < left <= 12 * 3600 + 5, "valid 12 hours (%.0fs)" % left)


def test_accounts_and_regions_are_separate(ctx):
    other = ("AKIDOTHERACCOUNT01", "other/secret/key", "210987654321")
    sim = Sim(ctx, keys=[("AKIDAWSSIMEXAMPLE1", "awssim/static/secret/key/0123456789abcd"), other])
    mine = sim.client("ecr")
    theirs = sim.client("ecr", key=other)
    west = sim.client("ecr", region="us-west-2")
    mine.create_repository(repositoryName="web")
    uri = theirs.create_repository(repositoryName="web")["repository"]["repositoryUri"]
    check_eq(uri, "210987654321.dkr.ecr.us-east-1.amazonaws.com/web", "the other account's registry")
    code, _, _, _ = aws_error(west.describe_images, repositoryName="web")
    check_eq(code, "RepositoryNotFoundException", "us-west-2 has no such repository")
    west.create_repository(repositoryName="web")
    d = sim.push("web", "prod", seed="w", region="us-west-2")
    check_eq(west.describe_images(repositoryName="web", imageIds=[{"imageTag": "prod"}])["imageDetails"][0]
             ["imageDigest"], d, "image in us-west-2")
    code, _, _, _ = aws_error(mine.describe_images, repositoryName="web", imageIds=[{"imageTag": "prod"}])
    check_eq(code, "ImageNotFoundException", "not in us-east-1")
    # Cross-account read by registryId.
    sim.push("web", "x", seed="o", account="210987654321")
    got = mine.describe_images(registryId="210987654321", repositoryName="web", imageIds=[{"imageTag": "x"}])
    check_eq(got["imageDetails"][0]["registryId"], "210987654321", "registryId selects the registry")
