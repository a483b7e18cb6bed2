# SPDX-License-Identifier: MIT
"""Push events (issue 14): EventBridge -> SQS -> the daemon. A push is deployed
from its event without waiting for a poll; the poll catches what events miss;
duplicates and reordering deploy the newest once; an unwatched repository
costs no ECR request; a kill -9 between receive and delete loses nothing and
deploys once; a malformed message is deleted and said once; a failing queue is
said once and polling goes on; an ECS deployment event makes tracking look at
once."""

import json
import re
import signal
import time

from harness import Sim, check, check_eq, wait_for
from test_daemon import lines_with
from test_deploy import (DEPLOY_COMPLETED, DEPLOY_STARTED, REPO_URI, TRACKING, mutations, rollout_step,
                         running_image, service, settle_first_start, start, target, taskdef)

QUEUE = "ecr-events"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/" + QUEUE
QUEUE_FAILED = "e088d4ba400d45888cd84c0785483d69"
QUEUE_RECOVERED = "c93c71a5cd7b4ac1bb9d84d246022d78"
MESSAGE_MALFORMED = "b0844cb3e7a0405abaad5d0ec6be3015"
IMAGE_DELETED = "fc14236d7bea4d94b09b89b53d16759c"


def world(queue=True, task_start=0.3, repos=("team/web",)):
    w = {"settings": {"task_start_seconds": task_start},
         "repositories": [{"name": r, "images": [{"tag": "prod", "seed": "v1-" + r}]} for r in repos],
         "clusters": ["prod"],
         "task_definitions": [taskdef("web", "team/web")],
         "services": [service("web", "web", 2, True)]}
    if queue:
        w["queues"] = [{"name": QUEUE, "attributes": {"VisibilityTimeout": "5"}}]
        w["event_rules"] = [{"queue": QUEUE}]
    return w


def web_watch():
    return {"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]}


def start_events(ctx, sim, poll="10m", queue_url=QUEUE_URL, **kw):
    p = start(ctx, sim, [web_watch()], poll_interval=poll, events=[{"queue_url": queue_url}], **kw)
    settle_first_start(p)
    return p


def ecr_requests(sim, since):
    return [r for r in sim.requests(since=since, service="ecr")]


def last_seq(sim):
    reqs = sim.requests()
    return reqs[-1]["seq"] if reqs else 0


def queue_empty(sim):
    return sim.queue_messages(QUEUE) == []


def test_push_deploys_from_its_event_without_a_poll(ctx):
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim)
    cycles = p.read_stderr().count("poll cycle:")
    new = sim.push("team/web", "prod", seed="v2")
    t0 = time.time()
    wait_for(lambda: lines_with(p, DEPLOY_STARTED), 10, "the deploy started from the event")
    started = time.time() - t0
    check(started < 5, "push -> deploy in %.1fs, not a poll interval (10 min)" % started)
    check_eq(p.read_stderr().count("poll cycle:"), cycles, "no poll cycle ran: the event did it")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")
    wait_for(lambda: queue_empty(sim), 10, "the message deleted once the sighting was durable")
    recv = [r for r in sim.requests(service="sqs") if r["operation"] == "ReceiveMessage"]
    check(recv, "ReceiveMessage was called")
    params = recv[0]["params"]
    check_eq((params.get("WaitTimeSeconds"), params.get("MaxNumberOfMessages"), params.get("QueueUrl")),
             (20, 10, QUEUE_URL), "a long poll of up to 10 messages")
    check(any(r["operation"] == "DeleteMessageBatch" for r in sim.requests(service="sqs")),
          "deleted with DeleteMessageBatch")
    with open(ctx.path("state", "state.json")) as f:
        check(new in f.read(), "the sighting is in state.json")
    # GetQueueAttributes at start: what the queue's settings mean, said once.
    check(lines_with(p, "queue 'ecr-events': visibility timeout 5 s"), "the visibility timeout said")
    check_eq(len(lines_with(p, "has no dead-letter queue")), 1, "a queue without a DLQ is warned of once")


def test_a_queue_with_a_dead_letter_queue_says_where_messages_go(ctx):
    w = world()
    w["queues"] = [{"name": "ecr-dlq"}, {"name": QUEUE, "attributes": {"VisibilityTimeout": "60", "RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:123456789012:ecr-dlq", "maxReceiveCount": 5})}}]
    sim = Sim(ctx, seed=w)
    p = start_events(ctx, sim)
    wait_for(lambda: lines_with(p, "visibility timeout 60 s; a message received 5 times goes to "
                                   "arn:aws:sqs:us-east-1:123456789012:ecr-dlq"), 10, "the DLQ said")
    check_eq(lines_with(p, "has no dead-letter queue"), [], "no warning")


def test_a_dropped_event_is_caught_by_the_poll(ctx):
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim, poll="10s")
    sim.event_faults(drop=1, source="aws.ecr")
    new = sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 40, "the poll found the push whose event was lost")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")
    check_eq(len(lines_with(p, DEPLOY_STARTED)), 1, "one deploy")


def test_duplicate_and_reordered_events_deploy_the_newest_once(ctx):
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim)
    sim.event_faults(duplicate=2, reorder=4, source="aws.ecr")  # four deliveries held, then reversed
    sim.push("team/web", "prod", seed="v2")
    newest = sim.push("team/web", "prod", seed="v3")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    wait_for(lambda: queue_empty(sim), 10, "every copy deleted")
    starts = lines_with(p, DEPLOY_STARTED)
    check_eq(len(starts), 1, "one deploy for four messages")
    check(newest in starts[0], "of the newest digest: %s" % starts[0][:200])
    regs = [r for r in mutations(sim) if r["operation"] == "RegisterTaskDefinition"]
    check_eq(len(regs), 1, "one registration")


def test_an_unwatched_repository_or_tag_costs_no_ecr_request(ctx):
    sim = Sim(ctx, seed=world(repos=("team/web", "team/other")))
    p = start_events(ctx, sim)
    before = last_seq(sim)
    sim.push("team/other", "prod", seed="o2")
    sim.push("team/web", "dev", seed="d2")  # a tag no watch follows
    wait_for(lambda: len([r for r in sim.requests(since=before, service="sqs")
                          if r["operation"] == "DeleteMessageBatch"]) >= 1 and queue_empty(sim), 10,
             "both messages deleted at once")
    check_eq(ecr_requests(sim, before), [], "no ECR request for what no watch follows")
    check_eq(lines_with(p, DEPLOY_STARTED), [], "nothing deployed")


def test_kill_9_after_receive_and_before_delete_deploys_exactly_once(ctx):
    sim = Sim(ctx, seed=world(task_start=3.0))
    p = start_events(ctx, sim)
    # Every delete is slow: the daemon is killed after it acted on the message, before SQS
    # deleted it.
    sim.fault("sqs.DeleteMessageBatch", "delay", delay=30)
    new = sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: lines_with(p, DEPLOY_STARTED), 10, "the deploy started from the event")
    wait_for(lambda: rollout_step(ctx) in TRACKING, 10, "the rollout is tracked")
    time.sleep(1.0)  # the delete is sent (the simulator logs it only when it answers, 30 s on)
    p.signal(signal.SIGKILL)
    p.wait(5)
    sim.control("DELETE", "/faults")
    pushes = [m for m in sim.queue_messages(QUEUE) if "ECR Image Action" in m["body"]]
    check_eq(len(pushes), 1, "the push's message is still in the queue")
    p = start(ctx, sim, [web_watch()], poll_interval="10m", events=[{"queue_url": QUEUE_URL}])
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "the rollout resumed and completed")
    wait_for(lambda: queue_empty(sim), 20, "the message came back after its visibility timeout, and was deleted")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")
    regs = [r for r in mutations(sim) if r["operation"] == "RegisterTaskDefinition"]
    check_eq(len(regs), 1, "registered once across the kill")
    check_eq(lines_with(p, DEPLOY_STARTED), [], "not deployed again after the restart")


def test_kill_9_before_the_read_loses_no_push(ctx):
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim)
    sim.fault("ecr.*", "delay", delay=5, count=100)  # the read the event asks for is slow
    new = sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: any(m["in_flight"] for m in sim.queue_messages(QUEUE)), 10, "the message received")
    p.signal(signal.SIGKILL)
    p.wait(5)
    sim.control("DELETE", "/faults")
    with open(ctx.path("state", "state.json")) as f:
        check(new not in f.read(), "nothing of the push was durable yet")
    p = start(ctx, sim, [web_watch()], poll_interval="10m", events=[{"queue_url": QUEUE_URL}])
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "the push deployed after the restart")
    wait_for(lambda: queue_empty(sim), 20, "the message came back and was deleted")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")
    check_eq(len([r for r in mutations(sim) if r["operation"] == "RegisterTaskDefinition"]), 1, "once")


def test_a_malformed_message_is_deleted_and_said_once(ctx):
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim)
    bad = json.dumps({"version": "0", "id": "x", "detail-type": "ECR Image Action", "source": "aws.ecr",
                      "account": "123456789012", "region": "us-east-1", "time": "2026-11-30T12:00:00Z",
                      "resources": [], "detail": {"result": "SUCCESS", "action-type": "PUSH",
                                                  "repository-name": "team/web", "image-tag": "prod",
                                                  "image-digest": "sha256:\x1b[31mnot-a-digest"}})
    ids = [sim.send_raw(QUEUE, "not json at all {"), sim.send_raw(QUEUE, bad)]
    wait_for(lambda: queue_empty(sim), 10, "both deleted")
    time.sleep(1)
    warned = lines_with(p, MESSAGE_MALFORMED)
    check_eq(len(warned), 2, "one warning each")
    for i in ids:
        check(len([w for w in warned if i in w]) == 1, "the warning names message %s" % i)
    check(all("\x1b" not in w for w in warned), "the hostile value is escaped")
    new = sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "a good event still deploys")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")


def test_a_failing_queue_is_said_once_and_polling_goes_on(ctx):
    sim = Sim(ctx, seed=world())
    sim.fault("sqs.ReceiveMessage", "error", code="AccessDenied", status=403, count=1000,
              message="User: arn:aws:iam::123456789012:user/d is not authorized to perform: "
                      "sqs:receivemessage on resource: arn:aws:sqs:us-east-1:123456789012:ecr-events")
    p = start(ctx, sim, [web_watch()], poll_interval="10s", events=[{"queue_url": QUEUE_URL}])
    settle_first_start(p)
    wait_for(lambda: len([r for r in sim.requests(service="sqs") if r["operation"] == "ReceiveMessage"]) >= 3,
             20, "the queue tried again")
    failed = lines_with(p, QUEUE_FAILED)
    check_eq(len(failed), 1, "said once while it lasts")
    check("AccessDenied" in failed[0] and QUEUE in failed[0], failed[0][:300])
    new = sim.push("team/web", "prod", seed="v2")
    p.signal(signal.SIGHUP)  # a reload polls at once
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 40, "polling deployed the push meanwhile")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")
    sim.control("DELETE", "/faults")
    wait_for(lambda: lines_with(p, QUEUE_RECOVERED), 70, "said once when it clears")
    check_eq(len(lines_with(p, QUEUE_FAILED)), 1, "still said once")


def test_a_missing_queue_is_said_once(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()], poll_interval="10s",
              events=[{"queue_url": QUEUE_URL.replace(QUEUE, "no-such-queue")}])
    settle_first_start(p)
    wait_for(lambda: lines_with(p, QUEUE_FAILED), 10, "the missing queue said")
    time.sleep(3)
    failed = lines_with(p, QUEUE_FAILED)
    check_eq(len(failed), 1, "once")
    check("QueueDoesNotExist" in failed[0] or "NonExistentQueue" in failed[0], failed[0][:300])


def test_an_image_delete_is_said_and_deploys_nothing(ctx):
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim)
    before = len(mutations(sim))
    sim.delete_image("team/web", "prod")
    wait_for(lambda: lines_with(p, IMAGE_DELETED), 10, "IMAGE_DELETED")
    check("WATCH=web" in lines_with(p, IMAGE_DELETED)[0], "names the watch")
    wait_for(lambda: queue_empty(sim), 10, "deleted")
    check_eq(len(mutations(sim)), before, "nothing deployed")


def test_tracking_looks_at_once_on_a_deployment_event(ctx):
    sim = Sim(ctx, seed=world(task_start=10.0))
    p = start_events(ctx, sim)
    sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: lines_with(p, DEPLOY_STARTED), 10, "the deploy started")
    t0 = time.time()
    since = last_seq(sim)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 40, "DEPLOY_COMPLETED")
    took = time.time() - t0
    looks = [r for r in sim.requests(since=since, service="ecs") if r["operation"] == "DescribeServiceDeployments"]
    # With events flowing, tracking looks every 30 s as a safety net: the deployment (about
    # 20 s here) ends well before, so the look that saw the end came from ECS's event; without
    # events it would back off from 1 s and look six times or more.
    check(took < 28, "the end was seen %.1fs after the start, not after a 30 s safety interval" % took)
    check(len(looks) <= 3, "few looks while events flow: %d (without events: 5 or more)" % len(looks))


def test_status_says_whether_events_flow(ctx):
    from test_daemon import daemon_env
    from test_notify import NotifySocket
    sim = Sim(ctx, seed=world())
    ns = NotifySocket(ctx.path("notify.sock"))
    try:
        env = daemon_env(ctx, sim, NOTIFY_SOCKET=ctx.path("notify.sock"))
        p = start(ctx, sim, [web_watch()], env=env, poll_interval="10m", events=[{"queue_url": QUEUE_URL}])
        wait_for(lambda: [m for m in ns.having("STATUS") if "events: 1 queue, no message yet" in m["STATUS"]],
                 15, "STATUS= before any message")
        sim.push("team/web", "prod", seed="v2")
        wait_for(lambda: [m for m in ns.having("STATUS") if "events: 1 queue, last message" in m["STATUS"]],
                 15, "STATUS= after a message")
        wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
        sim.fault("sqs.ReceiveMessage", "error", code="AccessDenied", status=403, count=1000)
        sim.push("team/web", "prod", seed="v3")  # ends the long poll in flight
        wait_for(lambda: [m for m in ns.having("STATUS") if "(1 failing: AccessDenied)" in m["STATUS"]],
                 30, "STATUS= names a failing queue")
    finally:
        ns.close()


def test_a_dry_run_leaves_the_queue_to_the_daemon_that_acts(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()], poll_interval="10s", events=[{"queue_url": QUEUE_URL}], dry_run=True)
    wait_for(lambda: lines_with(p, "the events queues are not read"), 10, "said at start")
    # The first poll must see the old digest, or the push is a first sighting, not a new digest.
    wait_for(lambda: lines_with(p, "nothing to deploy"), 15, "the first poll found the service up to date")
    sim.push("team/web", "prod", seed="v2")
    p.signal(signal.SIGHUP)  # a reload polls at once
    wait_for(lambda: lines_with(p, "new digest of"), 30, "the poll saw the push (and deployed nothing)")
    time.sleep(1)
    check_eq([r for r in sim.requests(service="sqs") if r["operation"] != "SendMessage"], [], "no SQS call")
    check_eq(len(sim.queue_messages(QUEUE)), 1, "the message waits for the daemon that acts")


def push_event(account, region="us-east-1", repo="team/web", tag="prod", digest="sha256:" + "ab" * 32,
               action="PUSH"):
    return json.dumps({"version": "0", "id": "6f0d3a52-1c1e-4f0e-9a0e-000000000001",
                       "detail-type": "ECR Image Action", "source": "aws.ecr", "account": account,
                       "region": region, "time": "2026-11-30T12:00:00Z", "resources": [],
                       "detail": {"result": "SUCCESS", "action-type": action, "repository-name": repo,
                                  "image-tag": tag, "image-digest": digest}})


def test_events_of_another_account_concern_no_watch(ctx):
    """The watch names no registry: it reads the caller's account (ECR says which). A push or a
    delete of the same repository name in another account costs no request and says nothing."""
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim)
    before = last_seq(sim)
    sim.send_raw(QUEUE, push_event("999999999999"))
    sim.send_raw(QUEUE, push_event("999999999999", action="DELETE"))
    wait_for(lambda: queue_empty(sim), 10, "the messages deleted")
    check_eq([r["operation"] for r in ecr_requests(sim, before)], [], "no ECR request")
    check_eq(lines_with(p, IMAGE_DELETED), [], "nothing said of watch 'web'")


def test_a_zero_visibility_timeout_does_not_spin_receive(ctx):
    """A queue whose VisibilityTimeout is 0 hands a held message out again at once: the daemon
    asks for a few seconds of its own and never asks in a loop."""
    w = world()
    w["queues"][0]["attributes"]["VisibilityTimeout"] = "0"
    sim = Sim(ctx, seed=w)
    p = start_events(ctx, sim)
    sim.fault("ecr.*", "delay", delay=3, count=100)  # the read the event asks for takes 3 s
    before = last_seq(sim)
    sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: lines_with(p, DEPLOY_STARTED), 20, "the deploy started from the event")
    recv = [r for r in sim.requests(since=before, service="sqs") if r["operation"] == "ReceiveMessage"]
    check(len(recv) <= 10, "ReceiveMessage called %d times during one 3 s read" % len(recv))
    check(any(r["params"].get("VisibilityTimeout") == 5 for r in recv), "asked for 5 s of visibility")


def test_a_refused_delete_is_said_once(ctx):
    """DeleteMessageBatch refused (a policy without sqs:DeleteMessage): QUEUE_FAILED names the
    operation, once, and STATUS= counts the queue as failing."""
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim)
    sim.fault("sqs.DeleteMessageBatch", "error", code="AccessDenied", status=403, count=1000,
              message="User: arn:aws:iam::123456789012:user/d is not authorized to perform: "
                      "sqs:deletemessage on resource: arn:aws:sqs:us-east-1:123456789012:ecr-events")
    sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: lines_with(p, DEPLOY_STARTED), 10, "the deploy started from the event")
    wait_for(lambda: len([r for r in sim.requests(service="sqs") if r["operation"] == "DeleteMessageBatch"]) >= 3,
             20, "the delete tried again")
    failed = lines_with(p, QUEUE_FAILED)
    check_eq(len(failed), 1, "said once")
    check("DeleteMessageBatch" in failed[0] and "sqs:deletemessage" in failed[0], failed[0][:300])
    sim.control("DELETE", "/faults")
    wait_for(lambda: lines_with(p, QUEUE_RECOVERED), 30, "said once when it clears")
    wait_for(lambda: queue_empty(sim), 30, "deleted at last")


def test_a_failure_whose_code_changes_is_said_once(ctx):
    sim = Sim(ctx, seed=world())
    sim.fault("sqs.ReceiveMessage", "error", code="AccessDenied", status=403, count=1000)
    p = start_events(ctx, sim, poll="10s")
    wait_for(lambda: lines_with(p, QUEUE_FAILED), 10, "the failure said")
    sim.control("DELETE", "/faults")
    sim.fault("sqs.ReceiveMessage", "error", code="ServiceUnavailable", status=503, count=1000)
    wait_for(lambda: len([r for r in sim.requests(service="sqs")
                          if r["operation"] == "ReceiveMessage" and r.get("error") == "ServiceUnavailable"]) >= 2,
             30, "the queue failed again, with another code")
    check_eq(len(lines_with(p, QUEUE_FAILED)), 1, "one outage, said once")


def test_a_push_during_a_slow_poll_cycle_deploys_at_once(ctx):
    """A hinted read runs beside a full cycle in progress: a slow repository of the cycle does not
    hold back the push."""
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim)
    sim.fault("ecr.*", "delay", delay=6, count=1)  # the next cycle's read of the repository is slow
    p.signal(signal.SIGHUP)  # a reload starts a full cycle now
    wait_for(lambda: lines_with(p, "reloading the configuration"), 5, "the reload")
    time.sleep(0.5)  # the cycle's request is in flight (the simulator logs it only when it answers)
    sim.push("team/web", "prod", seed="v2")
    t0 = time.time()
    wait_for(lambda: lines_with(p, DEPLOY_STARTED), 20, "the deploy started")
    took = time.time() - t0
    check(took < 3, "push -> deploy took %.1fs: the event waited for the slow full cycle" % took)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    check_eq(len(lines_with(p, DEPLOY_STARTED)), 1, "one deploy")


def test_two_queues_one_read_with_an_assumed_role(ctx):
    """events[] with two queues: one of the daemon's account, one in another account read through
    its role_arn (the AssumeRole is made; every call on it signed with the role's keys)."""
    other = "210987654321"
    role = "arn:aws:iam::%s:role/events-reader" % other
    w = world()
    w["queues"] = [{"name": QUEUE}, {"name": "forwarded", "account": other}]
    w["event_rules"] = [{"queue": QUEUE, "sources": ["aws.ecs"]}]
    sim = Sim(ctx, seed=w)
    # ECR pushes reach the other account's queue (a cross-account forwarding rule, as docs/events.md shows).
    sim.event_rule(QUEUE_URL.replace("123456789012", other).replace(QUEUE, "forwarded"), sources=["aws.ecr"])
    url2 = "https://sqs.us-east-1.amazonaws.com/%s/forwarded" % other
    p = start(ctx, sim, [web_watch()], poll_interval="10m",
              events=[{"queue_url": QUEUE_URL}, {"queue_url": url2, "role_arn": role}])
    settle_first_start(p)
    new = sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "deployed from the forwarded event")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")
    sts = [r for r in sim.requests(service="sts") if r["operation"] == "AssumeRole"]
    check(sts and all(r["params"]["RoleArn"] == role for r in sts), "the queue's role was assumed")
    on2 = [r for r in sim.requests(service="sqs") if r["params"].get("QueueUrl") == url2]
    check(on2 and all(r["access_key"].startswith("ASIA") for r in on2), "the second queue read with the role's keys")
    on1 = [r for r in sim.requests(service="sqs") if r["params"].get("QueueUrl") == QUEUE_URL]
    check(on1 and not any(r["access_key"].startswith("ASIA") for r in on1), "the first with the daemon's own")
    wait_for(lambda: sim.queue_messages("forwarded", account=other) == [], 10, "deleted from the second queue")


def test_the_old_event_queue_key_still_works(ctx):
    sim = Sim(ctx, seed=world())
    p = start(ctx, sim, [web_watch()], poll_interval="10m", event_queue=QUEUE_URL)
    settle_first_start(p)
    check(lines_with(p, "'event_queue' is the old name of one queue of 'events'"), "the migration is said")
    new = sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "deployed from the event")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")


def test_an_event_wrapped_by_sns_is_read(ctx):
    """EventBridge -> SNS -> SQS delivers the event inside an SNS notification."""
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim)
    sim.event_faults(drop=1, source="aws.ecr")  # EventBridge's own delivery is lost...
    new = sim.push("team/web", "prod", seed="v2")
    body = json.loads(push_event("123456789012", digest=new))
    sim.send_raw(QUEUE, json.dumps({"Type": "Notification", "MessageId": "m-1", "TopicArn":
                                    "arn:aws:sns:us-east-1:123456789012:ecr", "Message": json.dumps(body)}))
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 20, "...and the SNS copy deploys")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")


def test_a_hook_event_makes_tracking_look_at_once(ctx):
    """Blue/green with a PAUSE hook, events on: once ECS says the hook awaits action the rollout
    looks (AWAITING_APPROVAL), and once the operator continues it, ECS's events end the
    rollout without waiting for the 30 s safety look."""
    from test_strategies import AWAITING_APPROVAL, daemon_calls, ecs, make_sim, pause_cfg, svc, wait_awaiting
    sim = make_sim(ctx, [svc("web", pause_cfg(minutes=60))])
    sim.seed({"queues": [{"name": QUEUE}], "event_rules": [{"queue": QUEUE}]})
    p = start_events(ctx, sim)
    sim.push("team/web", "prod", seed="v2")
    f, hook, arn = wait_awaiting(sim, p)
    check(lines_with(p, "HOOK_AWAITING_ACTION): looking at its rollout"), "the hook's event was read")
    check_eq(len(lines_with(p, AWAITING_APPROVAL)), 1, "said once")
    t0 = time.time()
    since = last_seq(sim)
    ecs(sim).continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"], action="CONTINUE")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 40, "DEPLOY_COMPLETED")
    looks = daemon_calls(sim, since, "DescribeServiceDeployments")
    check(time.time() - t0 < 25, "ended %.1fs after the approval" % (time.time() - t0))
    check(len(looks) <= 6, "looks after the approval: %d (events flow)" % len(looks))


def receives(sim, since=0):
    return [r for r in sim.requests(since=since, service="sqs") if r["operation"] == "ReceiveMessage"]


def test_a_quiet_queue_is_long_polled_without_a_cut(ctx):
    """Nothing arrives: SQS holds each ReceiveMessage the whole 20 s. The daemon's HTTP timeout for it
    (30 s) is above the wait, so no long poll is cut, retried or said failed; with the 10 s of every
    other call each would be cut at 10 s and tried again (two more requests per 20 s, then a
    QUEUE_FAILED RequestTimeout)."""
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim)
    wait_for(lambda: len(receives(sim)) >= 2, 50, "two long polls answered")
    recv = receives(sim)
    check_eq(len(recv), 2, "two ReceiveMessage in two long polls (no retry)")
    check_eq([(r["status"], r.get("error")) for r in recv], [(200, None)] * 2, "both answered")
    gap = recv[1]["time"] - recv[0]["time"]
    check(19.0 <= gap <= 25.0, "the second long poll ended %.1fs after the first: held 20 s, not cut" % gap)
    held = [float(ms) for ms in re.findall(r"sqs\.ReceiveMessage 200 ([0-9.]+)ms", sim.proc.read_stderr())]
    check(len(held) >= 2 and all(19500 <= ms <= 21500 for ms in held[:2]), "each held ~20 s: %s" % held)
    check_eq(lines_with(p, QUEUE_FAILED), [], "no queue failure")
    check_eq(lines_with(p, "RequestTimeout"), [], "no timeout")


def test_a_message_is_deleted_only_once_its_push_is_on_disk(ctx):
    """The read the event asks for fails: the message is not deleted, and comes back after its
    visibility timeout (5 s here). Once ECR answers, the push is read, saved and deployed, and only
    then is the message deleted."""
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim)
    sim.fault("ecr.*", "error", code="ServerException", status=500, count=1000, message="injected")
    before = last_seq(sim)
    new = sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: any(m["receive_count"] >= 2 for m in sim.queue_messages(QUEUE)), 20,
             "the message came back after its visibility timeout")
    check(len([r for r in ecr_requests(sim, before) if r.get("error") == "ServerException"]) >= 1,
          "the event asked for a read, which failed")
    check_eq([r for r in sim.requests(since=before, service="sqs") if r["operation"] == "DeleteMessageBatch"],
             [], "nothing deleted while the read fails")
    with open(ctx.path("state", "state.json")) as f:
        check(new not in f.read(), "the push is not on disk")
    check_eq(lines_with(p, DEPLOY_STARTED), [], "nothing deployed")
    sim.control("DELETE", "/faults")
    healed = last_seq(sim)
    wait_for(lambda: lines_with(p, DEPLOY_STARTED), 20, "the push deployed once ECR answers")
    wait_for(lambda: queue_empty(sim), 20, "then the message deleted")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")
    read = [r for r in ecr_requests(sim, healed) if r["status"] == 200]
    deletes = [r for r in sim.requests(since=before, service="sqs") if r["operation"] == "DeleteMessageBatch"]
    check(read and deletes and deletes[0]["seq"] > read[0]["seq"],
          "the first delete (seq %s) after the read that worked (seq %s)"
          % (deletes[0]["seq"] if deletes else None, read[0]["seq"] if read else None))


def two_services_world(repos=(("team/web", "prod"), ("team/api", "prod"))):
    w = world(repos=())
    w["repositories"] = [{"name": r, "images": [{"tag": t, "seed": "v1-" + r}]} for r, t in repos]
    w["task_definitions"] = [taskdef(r.split("/")[1], r, tag=t) for r, t in repos]
    w["services"] = [service(r.split("/")[1], r.split("/")[1], 2, True) for r, _ in repos]
    return w


def test_a_push_event_reads_only_its_repository(ctx):
    sim = Sim(ctx, seed=two_services_world())
    watches = [web_watch(), {"name": "api", "repository": "team/api", "tag": "prod", "targets": [target("api")]}]
    p = start(ctx, sim, watches, poll_interval="10m", events=[{"queue_url": QUEUE_URL}])
    settle_first_start(p, n=2)
    cycles = p.read_stderr().count("poll cycle:")
    before = last_seq(sim)
    sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: lines_with(p, DEPLOY_STARTED), 10, "the deploy started from the event")
    wait_for(lambda: queue_empty(sim), 10, "the message deleted")
    check_eq([(r["operation"], r["params"].get("repositoryName")) for r in ecr_requests(sim, before)],
             [("DescribeImages", "team/web")], "one read, of the pushed repository only")
    check_eq(p.read_stderr().count("poll cycle:"), cycles, "no poll cycle ran")


def test_glob_and_semver_watches_follow_their_events(ctx):
    """A tag the rule matches deploys at once; a tag of the same repository it does not match costs
    no ECR request, and its message is deleted."""
    sim = Sim(ctx, seed=two_services_world((("team/web", "v1.0.0"), ("team/api", "release-1"))))
    watches = [{"name": "web", "repository": "team/web", "semver": "^1", "targets": [target("web")]},
               {"name": "api", "repository": "team/api", "tag_glob": "release-*", "targets": [target("api")]}]
    p = start(ctx, sim, watches, poll_interval="10m", events=[{"queue_url": QUEUE_URL}])
    settle_first_start(p, n=2)
    before = last_seq(sim)
    sim.push("team/web", "v2.0.0", seed="w2")
    sim.push("team/web", "latest", seed="w3")
    sim.push("team/api", "nightly-7", seed="a2")
    wait_for(lambda: queue_empty(sim) and len(receives(sim, before)) >= 1, 10, "the three messages deleted")
    check_eq(ecr_requests(sim, before), [], "no ECR request for tags the rules do not match")
    check_eq(lines_with(p, DEPLOY_STARTED), [], "nothing deployed")
    new_web = sim.push("team/web", "v1.1.0", seed="w4")
    new_api = sim.push("team/api", "release-2", seed="a3")
    wait_for(lambda: len(lines_with(p, DEPLOY_STARTED)) >= 2, 10, "both deploys started from their events")
    check_eq(p.read_stderr().count("poll cycle:"), 1, "no poll cycle but the first")
    wait_for(lambda: len(lines_with(p, DEPLOY_COMPLETED)) >= 2, 30, "both completed")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new_web, "^1 moved to v1.1.0")
    check_eq(running_image(sim, "api"), REPO_URI + "team/api@" + new_api, "release-* moved to release-2")
    wait_for(lambda: queue_empty(sim), 10, "the messages deleted")


def test_a_late_event_after_the_poll_deploys_nothing_twice(ctx):
    """The poll saw the push before its event came (EventBridge delivers it 6 s late): the event only
    makes the daemon read again, finds what it deployed, and is deleted."""
    sim = Sim(ctx, seed=world())
    p = start_events(ctx, sim)
    sim.event_faults(delay=6, source="aws.ecr")
    before = last_seq(sim)
    new = sim.push("team/web", "prod", seed="v2")
    p.signal(signal.SIGHUP)  # a reload polls at once
    wait_for(lambda: lines_with(p, DEPLOY_STARTED), 10, "the poll deployed the push")
    fates = [e["fate"] for e in sim.control("GET", "/events")["events"] if e["source"] == "aws.ecr"]
    check_eq(fates, ["delayed"], "the event not delivered yet")

    def delivered():
        return [e["at"] for e in sim.control("GET", "/events")["events"]
                if e["source"] == "aws.ecr" and e["fate"] == "delivered"]
    wait_for(lambda: delivered() and queue_empty(sim), 20, "the late message delivered, received and deleted")
    check([r for r in ecr_requests(sim, before) if r["time"] > delivered()[0]], "the late event made one more read")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")
    check_eq(len([r for r in mutations(sim, before) if r["operation"] == "UpdateService"]), 1, "one UpdateService")
    check_eq(len(lines_with(p, DEPLOY_STARTED)), 1, "one deploy")


def test_a_throttled_queue_is_said_once_and_once_when_it_clears(ctx):
    """ReceiveMessage answered RequestThrottled (as SQS throttles): said once while it lasts, once when
    it clears, and polling ECR deploys meanwhile."""
    sim = Sim(ctx, seed=world())
    sim.fault("sqs.ReceiveMessage", "throttle", count=1000)
    p = start_events(ctx, sim, poll="10m")
    wait_for(lambda: lines_with(p, QUEUE_FAILED), 15, "the throttling said")
    new = sim.push("team/web", "prod", seed="v2")
    p.signal(signal.SIGHUP)  # a reload polls at once
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "polling deployed the push meanwhile")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")
    # One ReceiveMessage is up to 3 attempts: more than 3 throttled is the queue tried again.
    wait_for(lambda: len([r for r in receives(sim) if r.get("error") == "RequestThrottled"]) > 3, 15,
             "the queue tried again")
    failed = lines_with(p, QUEUE_FAILED)
    check_eq(len(failed), 1, "said once while it lasts")
    check("RequestThrottled" in failed[0] and QUEUE in failed[0], failed[0][:300])
    sim.control("DELETE", "/faults")
    newer = sim.push("team/web", "prod", seed="v3")  # its message ends the next long poll at once
    wait_for(lambda: lines_with(p, QUEUE_RECOVERED), 40, "said when it clears")
    wait_for(lambda: len(lines_with(p, DEPLOY_COMPLETED)) >= 2, 30, "events flow again: the push deployed")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + newer, "the pushed digest runs")
    check_eq((len(lines_with(p, QUEUE_FAILED)), len(lines_with(p, QUEUE_RECOVERED))), (1, 1), "once each")


def test_a_missing_queue_that_appears_clears_with_one_line(ctx):
    """QueueDoesNotExist is said once; once the queue is made, one line says it works again, and
    events deploy."""
    sim = Sim(ctx, seed=world(queue=False))
    p = start_events(ctx, sim)
    wait_for(lambda: len([r for r in receives(sim) if r.get("error") == "QueueDoesNotExist"]) >= 2, 15,
             "the queue tried again, still missing")
    check_eq(len(lines_with(p, QUEUE_FAILED)), 1, "said once while it is missing")
    sim.seed({"queues": [{"name": QUEUE, "attributes": {"VisibilityTimeout": "5"}}], "event_rules": [{"queue": QUEUE}]})
    # A quiet queue answers a long poll after 20 s: a push ends it, so that the recovery shows now.
    new = sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: lines_with(p, QUEUE_RECOVERED), 10, "said when it appears")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "events flow: the push deployed from its event")
    check_eq(running_image(sim, "web"), REPO_URI + "team/web@" + new, "the pushed digest runs")
    check_eq((len(lines_with(p, QUEUE_FAILED)), len(lines_with(p, QUEUE_RECOVERED))), (1, 1), "once each")
