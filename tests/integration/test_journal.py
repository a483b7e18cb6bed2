# SPDX-License-Identifier: MIT
"""The journal sink against a real systemd-journald: a deploy and a failed
one (rolled back) are read back with `journalctl -o json`, every event with
its MESSAGE_ID and fields."""

import json
import os
import signal
import socket
import subprocess
import time

from harness import SIM_KEY, Sim, Skip, check, check_eq, daemon_path, wait_for
from test_daemon import daemon_env, write_config
from test_deploy import (ACCT, DEPLOY_COMPLETED, DEPLOY_FAILED, DEPLOY_STARTED, REPO_URI, ROLLBACK_COMPLETED,
                         ROLLBACK_STARTED, SKIPPED, running_image, target, world)

SOCKET = "/run/systemd/journal/socket"
STARTED = "ee6e35602fe74cadbc563c616de98d41"
API_ERROR = "0aea6f7260084453a1d3d7197fcf1ef2"


def journald_listening():
    """Whether a journald is bound to the socket. A socket file is not enough: one left behind by a
    journald that has since been killed (a session's processes end before CI runs) refuses."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(SOCKET)
        return True
    except OSError:
        return False
    finally:
        s.close()


def ensure_journald():
    """A journal to write to and read back: the machine's, or a systemd-journald started here when
    none listens (it stays running for the tests after this one). A probe line must round-trip."""
    if not journald_listening():
        if os.geteuid() != 0:
            raise Skip("no systemd-journald listening and not root, so none can be started")
        subprocess.Popen(["/lib/systemd/systemd-journald"], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for(journald_listening, 10, "systemd-journald on " + SOCKET)
    token = "ecr-deployd-journal-probe-%d-%d" % (os.getpid(), time.monotonic_ns())
    subprocess.run(["systemd-cat", "-t", "ecr-deployd-test", "echo", token], check=True, timeout=10)

    def seen():
        out = subprocess.run(["journalctl", "--no-pager", "-o", "cat", "SYSLOG_IDENTIFIER=ecr-deployd-test"],
                             capture_output=True, text=True, timeout=20)
        return token in out.stdout

    wait_for(seen, 10, "a probe line written with systemd-cat to be read back by journalctl")


def entries(pid, *matches):
    out = subprocess.run(["journalctl", "--no-pager", "-o", "json", "_PID=%d" % pid] + list(matches),
                         capture_output=True, text=True, timeout=20)
    return [json.loads(l) for l in out.stdout.splitlines() if l.strip()]


def with_id(pid, message_id):
    return entries(pid, "MESSAGE_ID=" + message_id)


def test_a_deploy_and_a_failure_read_back_from_the_journal(ctx):
    ensure_journald()
    sim = Sim(ctx, seed=world())
    watch = {"name": "web-journal", "repository": "team/web", "tag": "prod", "targets": [target("web")]}
    main = write_config(ctx, [watch], poll_interval="10s")
    p = ctx.spawn([daemon_path(), "-c", main, "--log-target=journal", "--log-level=debug"],
                  env=daemon_env(ctx, sim), name="ecr-deployd")
    wait_for(lambda: with_id(p.pid, STARTED), 15, "STARTED in the journal")
    wait_for(lambda: entries(p.pid, "WATCH=web-journal", "ECS_SERVICE=web"), 15, "the first-start inspection")
    good = sim.push("team/web", "prod", seed="v2")
    sim.fault("ecs.DescribeTaskDefinition", "500", count=3)  # one API_ERROR on the way
    p.signal(signal.SIGHUP)
    wait_for(lambda: with_id(p.pid, DEPLOY_COMPLETED), 40, "DEPLOY_COMPLETED in the journal")
    bad = sim.push("team/web", "prod", seed="bad")
    sim.bad_digest(bad, "exit")
    p.signal(signal.SIGHUP)
    wait_for(lambda: with_id(p.pid, ROLLBACK_COMPLETED), 40, "ROLLBACK_COMPLETED in the journal")
    check(p.read_stderr() == "", "nothing on stderr with --log-target=journal: %r" % p.read_stderr()[:300])

    started = with_id(p.pid, STARTED)[0]
    check_eq(started["SYSLOG_IDENTIFIER"], "ecr-deployd", "SYSLOG_IDENTIFIER")
    check_eq(started["CONFIG_FILE"], main, "CONFIG_FILE")
    check_eq(started["PRIORITY"], "5", "notice")

    done = with_id(p.pid, DEPLOY_COMPLETED)[0]
    want = {"WATCH": "web-journal", "ECR_REPOSITORY": "team/web", "IMAGE_TAG": "prod", "IMAGE_DIGEST": good,
            "ECS_CLUSTER": "prod", "ECS_SERVICE": "web", "ECS_CONTAINER": "app", "STRATEGY": "revision",
            "TASK_DEFINITION": "arn:aws:ecs:us-east-1:%s:task-definition/web:2" % ACCT,
            "PREVIOUS_TASK_DEFINITION": "arn:aws:ecs:us-east-1:%s:task-definition/web:1" % ACCT,
            "MESSAGE_ID": DEPLOY_COMPLETED, "PRIORITY": "5", "SYSLOG_IDENTIFIER": "ecr-deployd"}
    for k, v in want.items():
        check_eq(done.get(k), v, "DEPLOY_COMPLETED " + k)
    check(done["PREVIOUS_DIGEST"].startswith("sha256:") and done["PREVIOUS_DIGEST"] != good, "PREVIOUS_DIGEST")
    check(done["DEPLOYMENT_ID"].startswith("ecs-svc/"), "DEPLOYMENT_ID")
    check(int(done["DURATION_MS"]) > 0, "DURATION_MS")
    check(good in done["MESSAGE"], "MESSAGE: %s" % done["MESSAGE"])
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + good, "and it really deployed")

    err = with_id(p.pid, API_ERROR)
    check(err, "API_ERROR in the journal")
    check_eq((err[0]["AWS_OPERATION"], err[0]["AWS_ERROR_CODE"]), ("DescribeTaskDefinition", "ServerException"),
             "API_ERROR fields")
    check(err[0].get("AWS_REQUEST_ID"), "AWS_REQUEST_ID")

    # "Which deploys of web failed": one query.
    failed = entries(p.pid, "MESSAGE_ID=" + DEPLOY_FAILED, "ECS_SERVICE=web")
    check_eq(len(failed), 1, "one failed deploy of web")
    check_eq((failed[0]["IMAGE_DIGEST"], failed[0]["PRIORITY"]), (bad, "3"), "the bad digest, at error")
    check("circuit breaker" in failed[0]["REASON"], failed[0]["REASON"])
    check(with_id(p.pid, DEPLOY_STARTED) and with_id(p.pid, ROLLBACK_STARTED), "STARTED events too")
    wait_for(lambda: with_id(p.pid, SKIPPED), 20, "SKIPPED for the failed digest")
    check_eq(with_id(p.pid, SKIPPED)[0]["REASON"], "failed-before", "SKIPPED REASON")
    everything = json.dumps(entries(p.pid))
    check(SIM_KEY[1] not in everything and "Signature=" not in everything, "no secret in the journal")
    p.signal(signal.SIGTERM)
    check_eq(p.wait(10), 0, "clean stop")
    time.sleep(0.2)


def test_log_target_auto_follows_journal_stream(ctx):
    ensure_journald()
    main = write_config(ctx, [])
    # Under systemd, JOURNAL_STREAM names stderr's device and inode; elsewhere it does not match.
    env = dict(os.environ, JOURNAL_STREAM="1:1", HOME=ctx.path(), AWS_REGION="us-east-1",
               AWS_EC2_METADATA_DISABLED="true")
    p = ctx.spawn([daemon_path(), "-c", main], env=env, name="ecr-deployd")
    wait_for(lambda: "started:" in p.read_stderr(), 10, "stderr when JOURNAL_STREAM is not stderr")
    p.stop()
    # The harness opens <name>.<n>.err without replacing the file, so its inode is known before.
    err = ctx.path("ecr-deployd.%d.err" % len(ctx.procs))
    open(err, "w").close()
    st = os.stat(err)
    env["JOURNAL_STREAM"] = "%d:%d" % (st.st_dev, st.st_ino)
    p = ctx.spawn([daemon_path(), "-c", main], env=env, name="ecr-deployd")
    check_eq(p.stderr_path, err, "the file whose inode was taken")
    wait_for(lambda: with_id(p.pid, STARTED), 10, "the journal when JOURNAL_STREAM is stderr")
    check_eq(p.read_stderr(), "", "nothing on stderr")
    p.stop()
