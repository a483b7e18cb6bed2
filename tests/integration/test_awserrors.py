# SPDX-License-Identifier: MIT
"""AWS error replies as the daemon and common/aws read them (issue 12, case 5): an
AccessDenied answered in XML (as some endpoints and proxies answer even for JSON
services) is reported with its code and its whole message, and a message longer
than the bound is cut at a word boundary with the mark, never silently."""

import json
import os

from harness import ROOT, SIM_KEY, Sim, check, check_eq, daemon_path, wait_for

AWSCALL = os.path.join(os.path.dirname(os.environ.get("ECR_DEPLOYD_BIN") or
                                       os.path.join(ROOT, "build", "ecr-deployd")), "awscall")
EVENT_POLL_FAILED = "551228da42b8448f961a49f2d4aa3870"
CUT_MARK = "... (cut)"  # AWS_ERROR_CUT_MARK of common/aws.h
MESSAGE_BOUND = 1023    # sizeof(struct aws_error.message) - 1
REPO_ARN = "arn:aws:ecr:us-east-1:123456789012:repository/team/web"
# Over 300 bytes, as AccessDenied messages with long ARNs are; 'ecs:RegisterTaskDefin' was
# where the old reader cut such a message, mid-word.
ACCESS_DENIED = ("User: arn:aws:sts::123456789012:assumed-role/ecr-deployd-production-deployer/"
                 "i-0123456789abcdef0 is not authorized to perform: ecr:BatchGetImage on resource: "
                 + REPO_ARN + " because no identity-based policy allows the ecr:BatchGetImage action "
                 "(the session policy and the permissions boundary of the role "
                 "arn:aws:iam::123456789012:role/ecr-deployd-production-deployer were evaluated too)")


def env_for(ctx, sim):
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID=SIM_KEY[0], AWS_SECRET_ACCESS_KEY=SIM_KEY[1], AWS_ENDPOINT_URL=sim.url,
               AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", HOME=ctx.path())
    return env


def awscall(ctx, sim, *args):
    status, out, err = ctx.run([AWSCALL, "--retry-base-ms", "20"] + [str(a) for a in args],
                               env=env_for(ctx, sim), timeout=60)
    return status, [json.loads(l) for l in out.splitlines() if l.strip()], err


def batch_get(ctx, sim):
    return awscall(ctx, sim, "ecr", "BatchGetImage",
                   json.dumps({"repositoryName": "team/web", "imageIds": [{"imageTag": "prod"}]}))


def test_xml_access_denied_is_reported_whole_by_the_daemon(ctx):
    check(len(ACCESS_DENIED) > 300, "a long message")
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    sim.fault("ecr.BatchGetImage", "error", code="AccessDeniedException", message=ACCESS_DENIED,
              status=403, format="xml", rate=1.0)
    os.makedirs(ctx.path("etc"), exist_ok=True)
    main = ctx.write(os.path.join("etc", "ecr-deployd.json"), json.dumps({
        "aws": {"region": "us-east-1"}, "poll_interval": "10s", "log_level": "debug",
        "state_directory": ctx.path("state"),
        "control": {"socket": ctx.control_socket()},
        "watches": [{"name": "web", "repository": "team/web", "tag": "prod",
                     "targets": [{"cluster": "prod", "service": "web", "container": "app"}]},
                    # a missing tag: the repository is read with BatchGetImage, which says which
                    {"name": "old", "repository": "team/web", "tag": "gone",
                     "targets": [{"cluster": "prod", "service": "old", "container": "app"}]}]}))
    p = ctx.spawn([daemon_path(), "-c", main], env=env_for(ctx, sim), name="ecr-deployd")

    def failed():
        return [l for l in p.read_stderr().splitlines() if EVENT_POLL_FAILED in l]
    wait_for(failed, 20, "POLL_FAILED")
    line = failed()[0]
    check([r for r in sim.requests(operation="BatchGetImage") if r["fault"] == "error"],
          "the tags were read with BatchGetImage, which answered the XML error")
    check("AWS_ERROR_CODE=AccessDeniedException" in line, "the code of the XML body: %s" % line)
    check(ACCESS_DENIED in line, "the whole message: %s" % line)
    check("<Code>" not in line and "HTTP403" not in line and CUT_MARK not in line,
          "not the raw XML, not cut: %s" % line)
    check(p.alive(), "still running")


def test_xml_and_long_json_errors_through_the_client(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    # XML, whatever the content type says
    sim.fault("ecr.BatchGetImage", "error", code="AccessDeniedException", message=ACCESS_DENIED,
              status=403, format="xml", count=1)
    status, res, err = batch_get(ctx, sim)
    check_eq(status, 1, "the call failed: %s" % err)
    check_eq((res[0]["ok"], res[0]["code"], res[0]["http_status"], res[0]["attempts"]),
             (False, "AccessDeniedException", 403, 1), "code, status, not retried: %s" % res[0])
    check_eq(res[0]["message"], ACCESS_DENIED, "the whole message")
    # XML with entities: decoded
    sim.fault("ecr.BatchGetImage", "error", code="AccessDenied", message="a <b> & 'c' \"d\" \u00e9",
              status=403, format="xml", count=1)
    status, res, err = batch_get(ctx, sim)
    check_eq((res[0]["code"], res[0]["message"]), ("AccessDenied", "a <b> & 'c' \"d\" \u00e9"), "entities")
    # JSON, longer than the bound: cut at a word boundary and marked
    words = " ".join("word%03d" % i for i in range(250))
    sim.fault("ecr.BatchGetImage", "error", code="AccessDeniedException", message=words,
              status=400, format="json", count=1)
    status, res, err = batch_get(ctx, sim)
    msg = res[0]["message"]
    check_eq(res[0]["code"], "AccessDeniedException", "JSON code")
    check(msg.endswith(CUT_MARK), "marked as cut: %r" % msg[-40:])
    check(MESSAGE_BOUND - 40 < len(msg.encode()) <= MESSAGE_BOUND, "near the bound: %d" % len(msg.encode()))
    kept = msg[:-len(CUT_MARK)]
    check(words.startswith(kept) and words[len(kept)] == " ", "cut after a whole word: %r" % kept[-20:])
    # the same through XML
    sim.fault("ecr.BatchGetImage", "error", code="AccessDeniedException", message=words,
              status=400, format="xml", count=1)
    status, res, err = batch_get(ctx, sim)
    check_eq(res[0]["message"], msg, "XML cut the same way")
