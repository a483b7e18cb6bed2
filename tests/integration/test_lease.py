# SPDX-License-Identifier: MIT
"""The HA lease (daemon/lease + daemon/ddb) against awssim's DynamoDB, through build/leasecall
(one lease instance on its own, no daemon around it), each instance with its own access key:
one leader of three started at once, kill -9 and SIGTERM failovers and their times, a partition
(the leader suspends before anyone can take over; a write forced past the local gate is refused
by the fence in DynamoDB; the local gate keeps ECS calls off the wire), a throttling storm
(never two instances acting at once). Lines carry CLOCK_MONOTONIC ms, shared by the processes
of the host, so that the instances' events can be ordered."""

import errno
import json
import os
import signal
import time

from harness import ROOT, SIM_KEY, Failure, Sim, check, check_eq, wait_for

LEASECALL = os.path.join(os.path.dirname(os.environ.get("ECR_DEPLOYD_BIN") or
                                         os.path.join(ROOT, "build", "ecr-deployd")), "leasecall")
TABLE = "ecr-deployd-ha"
KEYS = {
    "a": ("AKIDLEASEINSTANCEA01", "lease/secret/of/instance/a/0123456789"),
    "b": ("AKIDLEASEINSTANCEB02", "lease/secret/of/instance/b/0123456789"),
    "c": ("AKIDLEASEINSTANCEC03", "lease/secret/of/instance/c/0123456789"),
}
LEASE_MS = 3000


def setup(ctx):
    sim = Sim(ctx, keys=(SIM_KEY,) + tuple(KEYS.values()))
    sim.control("POST", "/dynamodb/tables", {"name": TABLE})
    return sim


def start(ctx, sim, name, probe_ms=None, no_gate=False, table=TABLE, role=None):
    key = KEYS[name]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=ctx.path(), AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_ENDPOINT_URL=sim.url, AWS_ACCESS_KEY_ID=key[0], AWS_SECRET_ACCESS_KEY=key[1])
    env.pop("ECR_DEPLOYD_TEST_HA_NO_GATE", None)
    if no_gate:
        env["ECR_DEPLOYD_TEST_HA_NO_GATE"] = "1"
    argv = [LEASECALL, "--table", table, "--group", "prod", "--instance", name,
            "--lease-ms", str(LEASE_MS)]
    if role:
        argv += ["--role-arn", role]
    if probe_ms:
        argv += ["--probe-ms", str(probe_ms)]
    return ctx.spawn(argv, env=env, name="lease-" + name)


def lines(p):
    out = []
    for line in p.read_stdout().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def events(p, kind):
    return [l for l in lines(p) if l.get("event") == kind]


def roles(p):
    return [l for l in lines(p) if l.get("event") == "change"]


def first(p, pred, timeout, what):
    def find():
        if not p.alive() and not [l for l in lines(p) if pred(l)]:
            raise Failure("%s exited: %s" % (what, p.read_stderr()[-2000:]))
        found = [l for l in lines(p) if pred(l)]
        return found[0] if found else None
    return wait_for(find, timeout, what)


def role_is(role):
    return lambda l: l.get("event") == "change" and l.get("role") == role


def lease_item(sim):
    for i in sim.control("GET", "/dynamodb/items?table=%s" % TABLE)["items"]:
        if i.get("sk") == "lease":
            return i
    return None


def acting_intervals(p, end):
    """The spans (mono ms) during which the instance could act: from a change to leading to the
    next change away from it."""
    spans, since = [], None
    for l in roles(p):
        if l["role"] == "leading" and since is None:
            since = l["mono"]
        elif l["role"] != "leading" and since is not None:
            spans.append((since, l["mono"]))
            since = None
    if since is not None:
        spans.append((since, end))
    return spans


def test_lease_one_leader_of_three(ctx):
    """Three instances started at once: exactly one leads, the others stand by naming it; the
    item in the table names the same holder, term 1."""
    sim = setup(ctx)
    procs = {n: start(ctx, sim, n) for n in "abc"}
    leader = wait_for(lambda: [n for n, p in procs.items() if events(p, "leading")], 10,
                      "one instance to lead")
    check_eq(len(leader), 1, "one leader")
    leader = leader[0]
    for n, p in procs.items():
        if n != leader:
            line = first(p, role_is("standby"), 5, "%s to stand by" % n)
            check_eq(line["leader"], leader, "%s names the leader" % n)
    time.sleep(2 * LEASE_MS / 1000.0)  # two leases of renewals: nothing changes
    check_eq(sorted(n for n, p in procs.items() if events(p, "leading")), [leader], "still one leader")
    item = lease_item(sim)
    check_eq((item["owner"], item["term"]), (leader, 1), "the lease item")
    check(int(item["version"]) >= 4, "renewed every third of the lease: version %s" % item["version"])


def test_lease_kill9_failover(ctx):
    """kill -9 of the leader: a standby takes over after the same version for a whole lease (not
    before lease - lease/3 from the kill, the most the last renewal can precede it) and within
    lease + a read + slack; term 2, previous owner named."""
    sim = setup(ctx)
    a = start(ctx, sim, "a")
    first(a, lambda l: l.get("event") == "leading", 10, "a to lead")
    b = start(ctx, sim, "b")
    first(b, role_is("standby"), 5, "b to stand by")
    time.sleep(1.0)
    t_kill = time.clock_gettime(time.CLOCK_MONOTONIC) * 1000
    a.signal(signal.SIGKILL)
    lead = first(b, lambda l: l.get("event") == "leading", 10, "b to take over")
    took = lead["mono"] - t_kill
    check(took >= LEASE_MS - LEASE_MS / 3 - 100, "not before the lease ran out: %d ms" % took)
    check(took <= LEASE_MS + 1000 + 1500, "within lease + a read: %d ms" % took)
    check_eq((lead["term"], lead["previous"]), (2, "a"), "term and previous owner")
    check_eq(lease_item(sim)["owner"], "b", "the item")


def test_lease_sigterm_failover_under_a_second(ctx):
    """SIGTERM of the leader releases the lease (bounded to a second); a standby takes it at its
    next read, well under a second later."""
    sim = setup(ctx)
    a = start(ctx, sim, "a")
    first(a, lambda l: l.get("event") == "leading", 10, "a to lead")
    b = start(ctx, sim, "b")
    first(b, role_is("standby"), 5, "b to stand by")
    a.signal(signal.SIGTERM)
    rel = first(a, lambda l: l.get("event") == "released", 5, "a to release")
    check_eq(rel["r"], 0, "released")
    check(rel["took_ms"] <= 1000, "the release bounded to a second: %d ms" % rel["took_ms"])
    check_eq(a.wait(5), 0, "a's exit status")
    lead = first(b, lambda l: l.get("event") == "leading", 5, "b to take over")
    check(lead["mono"] - rel["mono"] < 1000, "failover in %d ms" % (lead["mono"] - rel["mono"]))


def test_lease_partition_fenced(ctx):
    """The leader's lease calls are blackholed (its other calls pass): it suspends at lease -
    margin, before the standby can take over; with the local gate off (the test setting), its
    writes still reach DynamoDB and are refused there by the fence (-ESTALE), and the refused
    write changed nothing; when its DynamoDB answers again, its renewal is refused: lost."""
    sim = setup(ctx)
    a = start(ctx, sim, "a", probe_ms=200, no_gate=True)
    first(a, lambda l: l.get("event") == "leading", 10, "a to lead")
    b = start(ctx, sim, "b")
    first(b, role_is("standby"), 5, "b to stand by")
    first(a, lambda l: l.get("event") == "probe" and l["write"] == 0, 5, "a's fenced write to pass")
    for op in ("GetItem", "UpdateItem"):
        sim.fault("dynamodb." + op, "blackhole", access_key=KEYS["a"][0], rate=1.0, hold=30)
    susp = first(a, role_is("suspended"), 10, "a to suspend")
    lead = first(b, lambda l: l.get("event") == "leading", 10, "b to take over")
    check(susp["mono"] < lead["mono"], "a suspended (%d) before b led (%d)" % (susp["mono"], lead["mono"]))
    check(lead["mono"] - susp["mono"] >= LEASE_MS / 4 - 300,
          "by about the margin: %d ms" % (lead["mono"] - susp["mono"]))
    # a, ungated, still writes: DynamoDB refuses it by the fence
    refused = first(a, lambda l: l.get("event") == "probe" and l["mono"] > lead["mono"] + 300, 5,
                    "a probe after b leads")
    check_eq(refused["write"], -errno.ESTALE, "refused by the fence: %s" % refused["why"])
    check("ConditionalCheckFailed" in refused["why"], "the reason named: %s" % refused["why"])
    ok = [l for l in events(a, "probe") if l["write"] == 0]
    item = [i for i in sim.control("GET", "/dynamodb/items?table=%s" % TABLE)["items"]
            if i["sk"] == "g/probe-a"][0]
    check(all(l["mono"] < lead["mono"] for l in ok), "no write of a passed after b led")
    check_eq(json.loads(item["doc"])["n"], len(ok), "the item holds a's last accepted write")
    check_eq(item["term"], 1, "written under term 1")
    sim.control("DELETE", "/faults")
    first(a, lambda l: l.get("event") == "lost", 10, "a to find it lost")
    check_eq(a.wait(5), 3, "a's exit status after lost")
    check_eq(lease_item(sim)["owner"], "b", "b holds it")


def test_lease_partition_gate(ctx):
    """With the local gate (production), a suspended leader makes no mutating call: its fenced
    writes are refused locally (not acting) and its ECS UpdateService never leaves (NotLeader),
    from the suspension on, while reads of the lease go on."""
    sim = setup(ctx)
    a = start(ctx, sim, "a", probe_ms=200)
    first(a, lambda l: l.get("event") == "leading", 10, "a to lead")
    first(a, lambda l: l.get("event") == "ecs", 5, "a's ECS call while leading")
    for op in ("GetItem", "UpdateItem"):
        sim.fault("dynamodb." + op, "blackhole", access_key=KEYS["a"][0], rate=1.0, hold=30)
    susp = first(a, role_is("suspended"), 10, "a to suspend")
    n_ecs = len(sim.requests(access_key=KEYS["a"][0], operation="UpdateService"))
    time.sleep(1.5)
    check_eq(len(sim.requests(access_key=KEYS["a"][0], operation="UpdateService")), n_ecs,
             "no UpdateService reached the simulator after the suspension")
    late = [l for l in events(a, "probe") if l["mono"] > susp["mono"] + 50]
    check(late and all(l["write"] == -errno.EAGAIN and "not acting" in l["why"] for l in late),
          "fenced writes refused locally: %s" % late[:2])
    late_ecs = [l for l in events(a, "ecs") if l["mono"] > susp["mono"] + 300]
    check(late_ecs and all(l["code"] == "NotLeader" for l in late_ecs), "ECS calls: %s" % late_ecs[:2])
    sim.control("DELETE", "/faults")
    resumed = first(a, lambda l: role_is("leading")(l) and l["mono"] > susp["mono"], 10, "a to resume")
    check(resumed["term"] == 1, "the same term")


def test_lease_throttling_storm(ctx):
    """Half of every DynamoDB call throttled for everyone: leaders come and go, but never two act
    at once (spans of acting, in the shared monotonic clock, never overlap), and the term only
    grows."""
    sim = setup(ctx)
    sim.control("POST", "/fault-seed", {"seed": 18})
    sim.fault("dynamodb.*", "throttle", rate=0.5)
    procs = {n: start(ctx, sim, n) for n in "abc"}
    time.sleep(12)
    end = time.clock_gettime(time.CLOCK_MONOTONIC) * 1000
    spans = sorted((s, e, n) for n, p in procs.items() for s, e in acting_intervals(p, end))
    check(spans, "someone led")
    for (s1, e1, n1), (s2, e2, n2) in zip(spans, spans[1:]):
        check(e1 <= s2, "%s acted until %d, %s from %d: overlap" % (n1, e1, n2, s2))
    terms = sorted((l["mono"], l["term"]) for p in procs.values() for l in events(p, "leading"))
    check([t for _, t in terms] == sorted(t for _, t in terms), "terms grow: %s" % terms)


def test_lease_role_and_table_arn(ctx):
    """ha.role_arn and a table ARN: every DynamoDB call is made with the assumed role's
    credentials (an ASIA key), to the table the ARN names in the role's account; the fenced write
    too (the private client of the blocking calls shares the role)."""
    role = "arn:aws:iam::210987654321:role/ecr-deployd-ha"
    arn = "arn:aws:dynamodb:us-east-1:210987654321:table/%s" % TABLE
    sim = setup(ctx)
    sim.control("POST", "/dynamodb/tables", {"name": TABLE, "account": "210987654321"})
    a = start(ctx, sim, "a", probe_ms=300, table=arn, role=role)
    first(a, lambda l: l.get("event") == "leading", 10, "a to lead")
    first(a, lambda l: l.get("event") == "probe" and l["write"] == 0, 5, "a fenced write")
    calls = sim.control("GET", "/dynamodb/log")["calls"]
    check(calls, "calls logged")
    check(all(c["access_key"] != KEYS["a"][0] for c in calls), "no call with the base key: %s" % calls[:2])
    check({"GetItem", "PutItem", "TransactWriteItems"} <= {c["op"] for c in calls}, "ops: %s" % calls)
    items = sim.control("GET", "/dynamodb/items?table=%s&account=210987654321" % TABLE)["items"]
    check([i for i in items if i["sk"] == "lease" and i["owner"] == "a"], "the lease in the role's account: %s" % items)
    check(not [i for i in sim.control("GET", "/dynamodb/items?table=%s" % TABLE)["items"]],
          "nothing in the base account's table")
