# SPDX-License-Identifier: MIT
"""ECR: repositories, images addressed by the sha256 of their manifest,
tags that move on push, and the read calls ecr-deployd uses."""

import base64
import hashlib
import json
import os
import re

from .core import AwsError

REPO_NAME_RE = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def generated_manifest(seed):
    """A valid Docker v2 image manifest whose bytes depend on seed."""
    h = lambda s: "sha256:" + hashlib.sha256(s.encode()).hexdigest()  # noqa: E731
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": MANIFEST_V2,
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1469,
                   "digest": h("config:" + seed)},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 2811478,
                    "digest": h("layer:" + seed)}],
    }, indent=3)


class Image:
    def __init__(self, manifest, media_type, pushed_at):
        self.manifest = manifest
        self.digest = "sha256:" + hashlib.sha256(manifest.encode()).hexdigest()
        self.media_type = media_type
        self.pushed_at = pushed_at
        self.tags = []  # most recent first

    def size(self):
        try:
            m = json.loads(self.manifest)
            return sum(int(x.get("size", 0)) for x in [m.get("config", {})] + m.get("layers", []))
        except (ValueError, AttributeError, TypeError):
            return len(self.manifest)


class Repository:
    def __init__(self, account, region, name, created_at, mutability="MUTABLE"):
        self.account = account
        self.region = region
        self.name = name
        self.created_at = created_at
        self.mutability = mutability
        self.images = {}  # digest -> Image, in push order
        self.tags = {}  # tag -> digest

    @property
    def uri(self):
        return "%s.dkr.ecr.%s.amazonaws.com/%s" % (self.account, self.region, self.name)

    @property
    def arn(self):
        return "arn:aws:ecr:%s:%s:repository/%s" % (self.region, self.account, self.name)

    def describe(self):
        return {
            "repositoryArn": self.arn,
            "registryId": self.account,
            "repositoryName": self.name,
            "repositoryUri": self.uri,
            "createdAt": self.created_at,
            "imageTagMutability": self.mutability,
            "imageScanningConfiguration": {"scanOnPush": False},
            "encryptionConfiguration": {"encryptionType": "AES256"},
        }


class Ecr:
    def __init__(self, world):
        self.world = world
        self.repos = {}  # (account, region, name) -> Repository
        self.image_failures = {}  # (repository arn, digest) -> BatchGetImage failureCode
        self.reply_digests = {}  # (repository arn, tag) -> the imageDigest replies show (any string)
        self.endless_pages = set()  # repository arns whose DescribeImages listing never ends

    # -- helpers ---------------------------------------------------------
    def _repo(self, account, region, name, registry_id=None):
        acct = registry_id or account
        r = self.repos.get((acct, region, name))
        if r is None:
            raise AwsError("RepositoryNotFoundException",
                           "The repository with name '%s' does not exist in the registry with id '%s'"
                           % (name, acct))
        return r

    def find_image(self, account, region, name, tag=None, digest=None):
        r = self.repos.get((account, region, name))
        if r is None:
            return None
        if digest:
            return r.images.get(digest)
        d = r.tags.get(tag)
        return r.images.get(d) if d else None

    def _reply_digest(self, repo, image, tag=None):
        """The digest replies show for the image: a hostile one set for the tag (or, without a
        tag, for any of its tags) with the /reply-digest control, else its own."""
        for t in [tag] if tag else image.tags:
            forced = self.reply_digests.get((repo.arn, t))
            if forced is not None:
                return forced
        return image.digest

    def _image_id(self, image, tag=None, repo=None):
        out = {"imageDigest": self._reply_digest(repo, image, tag) if repo else image.digest}
        if tag:
            out["imageTag"] = tag
        return out

    def _lookup(self, repo, image_id):
        """Finds one imageIds entry: returns (image, None) or (None, failure code)."""
        digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
        if not digest and not tag:
            return None, "MissingDigestAndTag"
        if digest and not DIGEST_RE.match(digest):
            return None, "InvalidImageDigest"
        if tag is not None:
            if tag not in repo.tags:
                return None, "ImageNotFound"
            image = repo.images[repo.tags[tag]]
            if digest and digest != image.digest:
                return None, "ImageTagDoesNotMatchDigest"
            return image, None
        image = repo.images.get(digest)
        return (image, None) if image else (None, "ImageNotFound")

    # -- mutations ---------------------------------------------------------
    def create_repository(self, ctx, p):
        name = p["repositoryName"]
        acct = p.get("registryId") or ctx.account
        if not REPO_NAME_RE.match(name):
            raise AwsError("InvalidParameterException",
                           "Invalid parameter at 'repositoryName' failed to satisfy constraint: "
                           "'must satisfy regular expression '%s''" % REPO_NAME_RE.pattern)
        if (acct, ctx.region, name) in self.repos:
            raise AwsError("RepositoryAlreadyExistsException",
                           "The repository with name '%s' already exists in the registry with id '%s'"
                           % (name, acct))
        r = Repository(acct, ctx.region, name, self.world.clock.sim_now(), p.get("imageTagMutability", "MUTABLE"))
        self.repos[(acct, ctx.region, name)] = r
        return {"repository": r.describe()}

    def put_image(self, ctx, p):
        repo = self._repo(ctx.account, ctx.region, p["repositoryName"], p.get("registryId"))
        manifest = p["imageManifest"]
        try:
            parsed = json.loads(manifest)
        except ValueError:
            raise AwsError("InvalidParameterException", "Invalid parameter at 'imageManifest': not valid JSON")
        media = p.get("imageManifestMediaType") or parsed.get("mediaType") or MANIFEST_V2
        image = Image(manifest, media, self.world.clock.sim_now())
        if p.get("imageDigest") and p["imageDigest"] != image.digest:
            raise AwsError("ImageDigestDoesNotMatchException",
                           "The specified digest '%s' does not match the manifest's digest '%s'"
                           % (p["imageDigest"], image.digest))
        tag = p.get("imageTag")
        existing = repo.images.get(image.digest)
        if existing and (tag is None or tag in existing.tags):
            raise AwsError("ImageAlreadyExistsException",
                           "Image with digest '%s' and tag '%s' already exists in the repository with name "
                           "'%s' in registry with id '%s'" % (image.digest, tag, repo.name, repo.account))
        if tag is not None and tag in repo.tags and repo.mutability.startswith("IMMUTABLE"):
            raise AwsError("ImageTagAlreadyExistsException",
                           "The image tag '%s' already exists in the '%s' repository and cannot be "
                           "overwritten because the repository is immutable." % (tag, repo.name))
        if existing:
            image = existing
            image.pushed_at = self.world.clock.sim_now()
        else:
            repo.images[image.digest] = image
        if tag is not None:
            old = repo.tags.get(tag)
            if old and old != image.digest:
                repo.images[old].tags.remove(tag)  # the old image stays, possibly untagged
            repo.tags[tag] = image.digest
            if tag not in image.tags:
                image.tags.insert(0, tag)
            self.world.on_push(repo, image, tag)
        return {"image": {"registryId": repo.account, "repositoryName": repo.name,
                          "imageId": self._image_id(image, tag), "imageManifest": image.manifest,
                          "imageManifestMediaType": image.media_type}}

    def batch_delete_image(self, ctx, p):
        """Removes each tag named (the image goes with its last tag) or each image named by digest
        (with all its tags); an "ECR Image Action" DELETE event per tag removed (an untagged image:
        one without image-tag)."""
        repo = self._repo(ctx.account, ctx.region, p["repositoryName"], p.get("registryId"))
        deleted, failures, removed = [], [], []
        for image_id in p["imageIds"]:
            image, failure = self._lookup(repo, image_id)
            if failure:
                reasons = {"ImageNotFound": "Requested image not found",
                           "MissingDigestAndTag": "Invalid request parameters: both tag and digest cannot be null",
                           "InvalidImageDigest": "Invalid request parameters: image digest should satisfy the regex",
                           "ImageTagDoesNotMatchDigest": "Invalid request parameters: image tag does not match digest"}
                failures.append({"imageId": image_id, "failureCode": failure, "failureReason": reasons[failure]})
                continue
            tags = [image_id["imageTag"]] if image_id.get("imageTag") is not None else list(image.tags)
            for t in tags:
                image.tags.remove(t)
                del repo.tags[t]
                deleted.append({"imageDigest": image.digest, "imageTag": t})
                removed.append((image.digest, t))
            if not tags:
                deleted.append({"imageDigest": image.digest})
                removed.append((image.digest, None))
            if not image.tags:
                repo.images.pop(image.digest, None)
        for digest, tag in removed:
            self.world.on_delete(repo, digest, tag)
        return {"imageIds": deleted, "failures": failures}

    # -- reads -------------------------------------------------------------
    def _detail(self, repo, image):
        return {
            "registryId": repo.account,
            "repositoryName": repo.name,
            "imageDigest": self._reply_digest(repo, image),
            **({"imageTags": list(image.tags)} if image.tags else {}),
            "imageSizeInBytes": image.size(),
            "imagePushedAt": image.pushed_at,
            "imageManifestMediaType": image.media_type,
            "imageStatus": "ACTIVE",
        }

    @staticmethod
    def _tag_filter(p):
        status = (p.get("filter") or {}).get("tagStatus", "ANY")
        return lambda image: status == "ANY" or (status == "TAGGED") == bool(image.tags)

    def describe_images(self, ctx, p):
        repo = self._repo(ctx.account, ctx.region, p["repositoryName"], p.get("registryId"))
        ids = p.get("imageIds")
        if ids is not None:
            if "nextToken" in p or "maxResults" in p:
                raise AwsError("InvalidParameterException",
                               "nextToken and maxResults cannot be used when imageIds are specified")
            out, seen = [], set()
            for image_id in ids:
                image, failure = self._lookup(repo, image_id)
                if failure:
                    raise AwsError("ImageNotFoundException",
                                   "The image with imageId {imageDigest:'%s', imageTag:'%s'} does not exist "
                                   "within the repository with name '%s' in the registry with id '%s'"
                                   % (image_id.get("imageDigest", "null"), image_id.get("imageTag", "null"),
                                      repo.name, repo.account))
                if image.digest not in seen:
                    seen.add(image.digest)
                    out.append(self._detail(repo, image))
            return {"imageDetails": out}
        keep = self._tag_filter(p)
        images = [i for i in repo.images.values() if keep(i)]
        if repo.arn in self.endless_pages:
            # A hostile listing: an empty page that always names the same next page.
            scope = ("DescribeImages", repo.arn, p.get("filter"))
            return {"imageDetails": [], "nextToken": self.world.pager.token(scope, 0)}
        return self.world.pager.reply("imageDetails",
                                      ("DescribeImages", repo.arn, p.get("filter")), images, p, 100,
                                      render=lambda i: self._detail(repo, i))

    def batch_get_image(self, ctx, p):
        repo = self._repo(ctx.account, ctx.region, p["repositoryName"], p.get("registryId"))
        images, failures = [], []
        for image_id in p["imageIds"]:
            image, failure = self._lookup(repo, image_id)
            if failure:
                reasons = {"ImageNotFound": "Requested image not found",
                           "MissingDigestAndTag": "Invalid request parameters: both tag and digest cannot be null",
                           "InvalidImageDigest": "Invalid request parameters: image digest should satisfy the regex",
                           "ImageTagDoesNotMatchDigest": "Invalid request parameters: image tag does not match digest"}
                failures.append({"imageId": image_id, "failureCode": failure, "failureReason": reasons[failure]})
                continue
            forced = self.image_failures.get((repo.arn, image.digest))
            if forced:
                failures.append({"imageId": image_id, "failureCode": forced,
                                 "failureReason": "awssim: failure set by the control API"})
                continue
            images.append({"registryId": repo.account, "repositoryName": repo.name,
                           "imageId": self._image_id(image, image_id.get("imageTag"), repo),
                           "imageManifest": image.manifest, "imageManifestMediaType": image.media_type})
        return {"images": images, "failures": failures}

    def list_images(self, ctx, p):
        repo = self._repo(ctx.account, ctx.region, p["repositoryName"], p.get("registryId"))
        keep = self._tag_filter(p)
        ids = []
        for image in repo.images.values():
            if not keep(image):
                continue
            if image.tags:
                ids.extend({"imageDigest": image.digest, "imageTag": t} for t in image.tags)
            else:
                ids.append({"imageDigest": image.digest})
        return self.world.pager.reply("imageIds", ("ListImages", repo.arn, p.get("filter")), ids, p, 100)

    def describe_repositories(self, ctx, p):
        acct = p.get("registryId") or ctx.account
        names = p.get("repositoryNames")
        if names is not None:
            if "nextToken" in p or "maxResults" in p:
                raise AwsError("InvalidParameterException",
                               "nextToken and maxResults cannot be used with repositoryNames")
            return {"repositories": [self._repo(acct, ctx.region, n).describe() for n in names]}
        repos = sorted((r for (a, reg, _), r in self.repos.items() if a == acct and reg == ctx.region),
                       key=lambda r: r.name)
        return self.world.pager.reply("repositories",
                                      ("DescribeRepositories", acct, ctx.region), repos, p, 100,
                                      render=lambda r: r.describe())

    def get_authorization_token(self, ctx, p):
        ids = p.get("registryIds") or [ctx.account]
        now = self.world.clock.sim_now()
        data = []
        for acct in ids:
            password = base64.b64encode(os.urandom(48)).decode()
            data.append({"authorizationToken": base64.b64encode(("AWS:" + password).encode()).decode(),
                         "expiresAt": now + 12 * 3600,
                         "proxyEndpoint": "https://%s.dkr.ecr.%s.amazonaws.com" % (acct, ctx.region)})
        return {"authorizationData": data}

    OPERATIONS = {
        "CreateRepository": create_repository,
        "PutImage": put_image,
        "BatchDeleteImage": batch_delete_image,
        "DescribeImages": describe_images,
        "BatchGetImage": batch_get_image,
        "ListImages": list_images,
        "DescribeRepositories": describe_repositories,
        "GetAuthorizationToken": get_authorization_token,
    }
