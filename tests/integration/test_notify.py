# SPDX-License-Identifier: MIT
"""The systemd notify protocol, seen from a socket of the test's own:
READY, STATUS updates, RELOADING/READY around SIGHUP, WATCHDOG pings at
half the interval, and STOPPING on SIGTERM."""

import signal
import socket
import time

from harness import Sim, check, check_eq, wait_for
from test_daemon import daemon_env, start, watch


class NotifySocket:
    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setblocking(False)
        self.messages = []  # (monotonic time, {key: value})

    def drain(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return self.messages
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            self.messages.append((time.monotonic(), fields))

    def having(self, key, value=None):
        return [m for t, m in self.drain() if key in m and (value is None or m[key] == value)]

    def close(self):
        self.sock.close()


def test_notify_protocol(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    ns = NotifySocket(ctx.path("notify.sock"))
    env = daemon_env(ctx, sim, NOTIFY_SOCKET=ctx.path("notify.sock"), WATCHDOG_USEC="600000")
    p, main = start(ctx, sim, [watch("web", "team/web", tag="prod")], env=env)
    try:
        wait_for(lambda: ns.having("READY", "1"), 10, "READY=1")
        wait_for(lambda: [m for m in ns.having("STATUS") if "last poll at" in m["STATUS"]], 15,
                 "a STATUS after the first poll")
        status = [m["STATUS"] for m in ns.having("STATUS") if "last poll at" in m["STATUS"]][-1]
        check("watching 1 tag rules in 1 repositories" in status and "0 repositories failing" in status, status)

        # Watchdog: pings every 0.3 s while the loop turns.
        t0 = time.monotonic()
        time.sleep(2.1)  # a measuring window, not a synchronisation
        pings = [t for t, m in ns.drain() if m.get("WATCHDOG") == "1" and t >= t0]
        check(5 <= len(pings) <= 9, "about 7 pings in 2.1 s at half of 0.6 s (got %d)" % len(pings))

        # Reload: RELOADING=1 with MONOTONIC_USEC, then READY=1.
        ready_before = len(ns.having("READY", "1"))
        p.signal(signal.SIGHUP)
        reloading = wait_for(lambda: ns.having("RELOADING", "1"), 10, "RELOADING=1")
        check(int(reloading[0]["MONOTONIC_USEC"]) > 0, "MONOTONIC_USEC with RELOADING")
        wait_for(lambda: len(ns.having("READY", "1")) > ready_before, 10, "READY=1 after the reload")

        p.signal(signal.SIGTERM)
        check_eq(p.wait(5), 0, "exit status")
        check(ns.having("STOPPING", "1"), "STOPPING=1")
    finally:
        ns.close()


def test_no_notify_socket_changes_nothing(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")],
                 env=daemon_env(ctx, sim, NOTIFY_SOCKET=None, WATCHDOG_USEC=None))
    wait_for(lambda: "poll cycle:" in p.read_stderr(), 15, "a poll without systemd")
    p.signal(signal.SIGTERM)
    check_eq(p.wait(5), 0, "exit status")


def test_status_names_the_rollouts_in_progress(ctx):
    from test_deploy import start as start_deploy, web_watch, world
    sim = Sim(ctx, seed=world())
    sim.settings(task_start_seconds=2.0)
    ns = NotifySocket(ctx.path("notify.sock"))
    try:
        p = start_deploy(ctx, sim, [web_watch()], env=daemon_env(ctx, sim, NOTIFY_SOCKET=ctx.path("notify.sock")))
        wait_for(lambda: [m for m in ns.having("STATUS") if "no rollout in progress" in m["STATUS"]
                          and "last poll at" in m["STATUS"]], 15, "a STATUS after the first poll")
        sim.push("team/web", "prod", seed="v2")
        p.signal(signal.SIGHUP)
        busy = wait_for(lambda: [m["STATUS"] for m in ns.having("STATUS")
                                 if "1 rollout in progress (web " in m["STATUS"]], 20, "the rollout in STATUS")
        check(" tasks)" in busy[0], busy[0])
        wait_for(lambda: "no rollout in progress" in ns.having("STATUS")[-1]["STATUS"], 30, "back to none")
    finally:
        ns.close()


def test_status_shows_the_stage_traffic_and_an_approval_awaited(ctx):
    """A blue/green deploy with a PAUSE hook: STATUS= names the lifecycle stage and the production
    traffic on the new revision, and says when it awaits approval; after the approval, it completes."""
    from test_deploy import start as start_deploy, target, web_watch
    from test_strategies import TEST_KEY, ecs, make_sim, pause_cfg, svc
    cfg = pause_cfg(minutes=60)
    cfg["bakeTimeInMinutes"] = 8  # 16 s here: longer than the longest look interval (10 s)
    sim = make_sim(ctx, [svc("web", cfg)])
    ns = NotifySocket(ctx.path("notify.sock"))
    try:
        p = start_deploy(ctx, sim, [web_watch(target("web"))],
                         env=daemon_env(ctx, sim, NOTIFY_SOCKET=ctx.path("notify.sock")))
        wait_for(lambda: [m for m in ns.having("STATUS") if "no rollout in progress" in m["STATUS"]
                          and "last poll at" in m["STATUS"]], 15, "a STATUS after the first poll")
        sim.push("team/web", "prod", seed="v2")
        p.signal(signal.SIGHUP)
        waiting = wait_for(lambda: [m["STATUS"] for m in ns.having("STATUS")
                                    if "(web awaiting approval at POST_TEST_TRAFFIC_SHIFT)" in m["STATUS"]],
                           30, "awaiting approval in STATUS")
        check("1 rollout in progress" in waiting[0], waiting[0])
        arn = sim.client("ecs", key=TEST_KEY).describe_services(cluster="prod", services=["web"])[
            "services"][0]["currentServiceDeployment"]
        sd = ecs(sim).describe_service_deployments(serviceDeploymentArns=[arn])["serviceDeployments"][0]
        hook = [h for h in sd["lifecycleHookDetails"] if h["status"] == "AWAITING_ACTION"][0]
        ecs(sim).continue_service_deployment(serviceDeploymentArn=arn, hookId=hook["hookId"], action="CONTINUE")
        traffic = wait_for(lambda: [m["STATUS"] for m in ns.having("STATUS")
                                    if "% traffic" in m["STATUS"] and "(web " in m["STATUS"]],
                           30, "a stage with its traffic in STATUS")
        wait_for(lambda: [m for m in ns.having("STATUS") if "(web BAKE_TIME 100% traffic)" in m["STATUS"]], 30,
                 "the bake time with all production traffic on the new revision")
        wait_for(lambda: "no rollout in progress" in ns.having("STATUS")[-1]["STATUS"], 40, "back to none")
    finally:
        ns.close()


def test_a_fatal_start_error_tells_systemd_why(ctx):
    sim = Sim(ctx)
    ns = NotifySocket(ctx.path("notify.sock"))
    try:
        ctx.write("not-a-dir", "x")
        p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")], state_directory=ctx.path("not-a-dir", "s"),
                     env=daemon_env(ctx, sim, NOTIFY_SOCKET=ctx.path("notify.sock")))
        check_eq(p.wait(10), 73, "EX_CANTCREAT")
        msg = [m for m in ns.having("EXIT_STATUS")]
        check_eq(len(msg), 1, "one message: %s" % msg)
        check_eq((msg[0]["EXIT_STATUS"], msg[0]["ERRNO"]), ("73", "20"), "EXIT_STATUS and ERRNO (ENOTDIR)")
        check(msg[0]["STATUS"].startswith("cannot start: cannot create the state directory"), msg[0]["STATUS"])
        check(not ns.having("READY"), "never READY")
    finally:
        ns.close()
