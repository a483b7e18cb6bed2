# SPDX-License-Identifier: MIT
"""The chaos test: pushes (some of them bad digests) at random moments,
kill -9 of the daemon at random moments and a restart, and injected faults
(throttling, 5xx, slow replies, dropped connections, lost replies of calls
that were carried out), over two watches and three services (one watch with
two targets). What must hold is then read from the simulator's request log.

A run is a number of iterations: 12 by default (the quick mode, so that
`make check` stays under 10 minutes; about 30-45 s here), 25 with
CHAOS_QUICK=0 (the full run, 60-110 s), or CHAOS_ITERATIONS. Each iteration, by
the seeded dice:

- with p=0.3, replaces the injected faults: 1-3 rates of 5-30 % on ecr.*
  or ecs.* (throttling, 500, 503, slow replies of 0.2-2 s, connections
  closed before the call, replies cut or reset after the call was carried
  out) and 1-3 single hits on RegisterTaskDefinition, UpdateService,
  DescribeServices, DescribeTaskDefinition or DescribeImages (the same
  kinds, malformed JSON, slow replies of 0.5-3 s);
- with p=0.7, pushes a new digest to a watch's tag, bad with p=0.3 on web
  (ECS's circuit breaker rolls web-a and web-b back) and p=0.12 on api (no
  circuit breaker: ecr-deployd's 10 s rollout timeout and its own rollback
  do), and then (p=0.75) asks for a poll by SIGHUP; else the 10 s poll
  interval finds it;
- waits 0-1.5 s;
- with p=0.45, kill -9s the daemon (half of the time once an AWS call is
  being served, so that the kill lands on a call in flight) and starts it
  again at once or after up to 1 s (p=0.12: after 7 s, time for ECS to
  finish and forget what was in flight), then waits 0-0.8 s;
- with p=0.2, and always in the last iteration, settles (below).

**Settle point.** Some iterations (about one in five, and always the last)
end with a settle: the faults are cleared, no more pushes are made, the
daemon (started again if it was killed) is asked to poll by SIGHUP (again
every few seconds while a poll cycle that began before the last push
hides it), and the test waits, with a deadline, until

- for every watch, the state file's `want` is the newest digest of its tag
  (a poll that started after the last push has been evaluated), and
- for every target, that digest is `deployed` or in `failed` in the state
  file, and no rollout file is left under `rollouts/` (the daemon is idle),
  and
- every service is stable in ECS: its primary deployment COMPLETED, running
  == desired, nothing pending, no task of another deployment running.

The settle point is the moment that condition first holds. The newest
digest of each tag at that moment is said to be "newest at a settle
point". A digest pushed and superseded between two settle points may be
skipped (the daemon never saw it, or saw it while the service was busy).

At each settle point, every service runs (its task definition's app image
pins) the newest digest of its tag when that digest is good; when it is
bad, the newest good digest that was deployed to the service (that it ran
before the failed rollout).

At the end, from the request log (`GET /requests`) and ECS:

- exactly one RegisterTaskDefinition per (digest, service) for every digest
  that was newest at a settle point (none for the seeded ones), and at most
  one for every other digest: never the same digest twice for one service,
  across kill -9s and lost replies; the registrations the log shows as
  carried out are exactly the revisions ECS holds;
- a bad digest is registered at most once (rolled back, never retried);
- every UpdateService names a task definition, and that task definition
  pins `<registry>/<repository>@sha256:<64 hex>` (no tag-named image);
- a bad digest is deployed (an UpdateService that makes a new deployment
  of it) at most once per service, also across restarts after ECS rolled
  it back; UpdateService calls that repeat a deployment already made (the
  simulator logs the PRIMARY deployment each one left) are counted and
  printed (issue 11 case 13) and fail the test (CHAOS_STRICT=0 only prints
  them);
- every daemon process was alive when it was killed (none exited on its
  own), no state file was set aside as unusable, the last one stops with
  status 0 on SIGTERM, and no process printed a sanitizer report (the runner
  checks stderr).

The seed (CHAOS_SEED, else random) is printed first. It replays the test's
choices (what, in which order, how long to wait) and the simulator's
fault dice; the daemon's timing is not replayed, so a replay explores the
same scenario, not the same interleaving."""

import json
import os
import random
import re
import signal
import sys
import time

from harness import Failure, Sim, check, check_eq, daemon_path, wait_for
from test_daemon import daemon_env, write_config

ACCT = "123456789012"
REGISTRY = ACCT + ".dkr.ecr.us-east-1.amazonaws.com/"
PINNED = re.compile(r"^" + re.escape(REGISTRY) + r"[a-z0-9/_.-]+@sha256:[0-9a-f]{64}$")
EVENT_STARTED = "started: "

# watch name -> (repository, tag, services, ECS circuit breaker on those services)
WATCHES = {
    "web": ("team/web", "prod", ("web-a", "web-b"), True),
    "api": ("team/api", "prod", ("api",), False),
}
SERVICES = {s: w for w, (_, _, svcs, _) in WATCHES.items() for s in svcs}

FAULT_KINDS_RATE = ("throttle", "500", "503", "delay", "close-before", "close-mid", "truncated")
FAULT_KINDS_HIT = ("close-mid", "truncated", "malformed-json", "close-before", "500", "throttle", "delay",
                   "delay")
FAULT_HIT_OPS = ("ecs.RegisterTaskDefinition", "ecs.RegisterTaskDefinition", "ecs.UpdateService",
                 "ecs.UpdateService", "ecs.DescribeServices", "ecs.DescribeTaskDefinition", "ecr.DescribeImages")


def taskdef(family, image):
    return {"family": family, "networkMode": "awsvpc", "requiresCompatibilities": ["FARGATE"],
            "cpu": "256", "memory": "512",
            "containerDefinitions": [{"name": "app", "image": image, "essential": True}]}


def service(name, breaker):
    return {"cluster": "prod", "serviceName": name, "taskDefinition": name, "desiredCount": 2,
            "deploymentConfiguration": {"maximumPercent": 200, "minimumHealthyPercent": 100,
                                        "deploymentCircuitBreaker": {"enable": breaker, "rollback": breaker}}}


def target(svc, breaker):
    t = {"cluster": "prod", "service": svc, "container": "app"}
    if not breaker:
        t["rollout_timeout"] = "10s"
    return t


def watches_config():
    return [{"name": w, "repository": repo, "tag": tag, "targets": [target(s, cb) for s in svcs]}
            for w, (repo, tag, svcs, cb) in WATCHES.items()]


def digest_of(image):
    return image.rsplit("@", 1)[1] if "@" in image else None


class Chaos:
    def __init__(self, ctx, seed, iterations):
        self.ctx = ctx
        self.rng = random.Random(seed)
        self.iterations = iterations
        self.sim = Sim(ctx)
        self.sim.control("POST", "/fault-seed", {"seed": seed})
        imgs = self.sim.seed({"settings": {"task_start_seconds": 0.3, "circuit_breaker_threshold": 2},
                              "repositories": [{"name": repo, "images": [{"tag": tag, "seed": w + "-0"}]}
                                               for w, (repo, tag, _, _) in WATCHES.items()]})["images"]
        # Services start pinned to the digest their tag has (as after an earlier deploy).
        self.pushes = {w: [(imgs["%s:%s" % (repo, tag)], True)] for w, (repo, tag, _, _) in WATCHES.items()}
        self.seeded = {w: p[0][0] for w, p in self.pushes.items()}
        self.sim.seed({"clusters": ["prod"],
                       "task_definitions": [taskdef(s, REGISTRY + WATCHES[w][0] + "@" + self.seeded[w])
                                            for s, w in SERVICES.items()],
                       "services": [service(s, WATCHES[w][3]) for s, w in SERVICES.items()]})
        self.env = daemon_env(ctx, self.sim)
        self.config = write_config(ctx, watches_config(), poll_interval="10s")
        self.procs = []
        self.settles = []  # per settle point: {watch: newest digest}
        self.expected = {s: self.seeded[w] for s, w in SERVICES.items()}  # running at the last settle
        self.log = []
        self.n_push = 0
        self.p = None

    def note(self, text):
        line = "chaos %s %6.2fs: %s" % (time.strftime("%H:%M:%S"), time.monotonic() - self.t0, text)
        self.log.append(line)

    # -- the daemon ---------------------------------------------------------
    def start(self):
        self.p = self.ctx.spawn([daemon_path(), "-c", self.config], env=self.env, name="ecr-deployd")
        self.procs.append(self.p)
        self.note("started pid %d" % self.p.pid)

    def ready(self):
        """The daemon said it started: its signal handlers are in place."""
        if not self.p.alive():
            raise Failure("the daemon (pid %d) exited by itself with status %s:\n%s"
                          % (self.p.pid, self.p.popen.returncode, self.p.read_stderr()[-3000:]))
        return EVENT_STARTED in self.p.read_stderr()

    def poll_now(self):
        wait_for(self.ready, 20, "the daemon to start")
        self.p.signal(signal.SIGHUP)

    def wait_inflight(self, limit):
        """Waits up to `limit` seconds for an AWS call being served (a slow reply, most likely), so
        that the kill lands while a call is in flight."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.sim.control("GET", "/health")["inflight"]:
                self.note("a call is in flight")
                return
            time.sleep(0.01)

    def kill(self):
        if not self.p.alive():
            raise Failure("the daemon (pid %d) exited by itself with status %s before its kill -9:\n%s"
                          % (self.p.pid, self.p.popen.returncode, self.p.read_stderr()[-3000:]))
        self.p.signal(signal.SIGKILL)
        self.p.wait(10)
        self.note("kill -9 pid %d" % self.p.pid)

    # -- the world ----------------------------------------------------------
    def push(self, w, good):
        repo, tag = WATCHES[w][0], WATCHES[w][1]
        self.n_push += 1
        d = self.sim.push(repo, tag, seed="%s-%d-%s" % (w, self.n_push, "good" if good else "bad"))
        if not good:
            self.sim.bad_digest(d, "exit")
        self.pushes[w].append((d, good))
        self.note("push %s %s:%s %s" % ("good" if good else "BAD", repo, tag, d[:19]))

    def set_faults(self):
        self.sim.control("DELETE", "/faults")
        rules = []
        for _ in range(self.rng.randint(1, 3)):
            kind = self.rng.choice(FAULT_KINDS_RATE)
            r = {"match": self.rng.choice(("ecr.*", "ecs.*", "ecs.*")), "kind": kind,
                 "rate": round(self.rng.uniform(0.05, 0.3), 3)}
            if kind == "delay":
                r["delay"] = round(self.rng.uniform(0.2, 2.0), 2)
            rules.append(r)
        for _ in range(self.rng.randint(1, 3)):
            kind = self.rng.choice(FAULT_KINDS_HIT)
            r = {"match": self.rng.choice(FAULT_HIT_OPS), "kind": kind, "count": 1}
            if kind == "delay":
                r["delay"] = round(self.rng.uniform(0.5, 3.0), 2)
            rules.append(r)
        self.sim.control("POST", "/faults", {"rules": rules})
        self.note("faults %s" % ", ".join("%s %s %s" % (r["match"], r["kind"], r.get("rate", "once"))
                                          for r in rules))

    # -- settling -----------------------------------------------------------
    def state(self):
        try:
            with open(self.ctx.path("state", "state.json")) as f:
                return json.load(f)
        except (OSError, ValueError):
            return None

    def rollout_files(self):
        d = self.ctx.path("state", "rollouts")
        return [n for n in os.listdir(d) if n.endswith(".json")] if os.path.isdir(d) else []

    def ecs_view(self):
        ecs = self.sim.client("ecs")
        out = {}
        for s in ecs.describe_services(cluster="prod", services=list(SERVICES))["services"]:
            td = ecs.describe_task_definition(taskDefinition=s["taskDefinition"])["taskDefinition"]
            out[s["serviceName"]] = (s, [c["image"] for c in td["containerDefinitions"] if c["name"] == "app"][0])
        return out

    def idle_and_stable(self):
        """None when settled, else what is still missing (for the timeout message)."""
        st = self.state()
        if st is None:
            return "no readable state file"
        text = json.dumps(st)
        for w, pushes in self.pushes.items():
            newest = pushes[-1][0]
            if newest not in text:
                return "watch %s: the state file does not know %s yet" % (w, newest[:19])
        files = self.rollout_files()
        if files:
            return "rollouts in flight: %s" % files
        wants, targets = find_wants_and_targets(st)
        for w, pushes in self.pushes.items():
            newest = pushes[-1][0]
            if wants.get(w) != newest:
                return "watch %s wants %s, not the newest %s" % (w, wants.get(w), newest[:19])
            for svc in WATCHES[w][2]:
                rec = targets.get((w, svc))
                failed = [f.get("digest") if isinstance(f, dict) else f for f in rec.get("failed") or []] \
                    if rec else []
                if rec is None or (rec.get("deployed") != newest and newest not in failed):
                    return "target %s of %s: %s" % (svc, w, rec)
        for name, (s, image) in self.ecs_view().items():
            prim = s["deployments"][0]
            others = [d for d in s["deployments"][1:] if d["runningCount"] or d["pendingCount"]]
            if (prim.get("rolloutState") != "COMPLETED" or s["runningCount"] != s["desiredCount"]
                    or s["pendingCount"] or others):
                return "service %s not stable: %s, running %d/%d" % (
                    name, [(d["status"], d.get("rolloutState")) for d in s["deployments"]],
                    s["runningCount"], s["desiredCount"])
        return None

    def settle(self, final=False):
        self.sim.control("DELETE", "/faults")
        if not self.p.alive():
            raise Failure("the daemon (pid %d) exited by itself with status %s:\n%s"
                          % (self.p.pid, self.p.popen.returncode, self.p.read_stderr()[-3000:]))
        t0 = time.monotonic()
        missing = [None]
        last_hup = [0.0]

        def settled():
            if time.monotonic() - last_hup[0] > 3.0:
                self.poll_now()
                last_hup[0] = time.monotonic()
            missing[0] = self.idle_and_stable()
            return missing[0] is None

        try:
            wait_for(settled, 90, "the settle", interval=0.1)
        except Failure:
            raise Failure("no settle within 90 s: %s" % missing[0])
        newest = {w: p[-1] for w, p in self.pushes.items()}
        self.settles.append({w: d for w, (d, _) in newest.items()})
        regs = self.registrations_now()
        view = self.ecs_view()
        for svc, w in SERVICES.items():
            d, good = newest[w]
            if good:
                want = d
            else:
                # The newest good digest deployed to it: the last good one registered for it since the
                # previous settle point, else what it ran then.
                order = [x for x, ok in self.pushes[w] if ok]
                since = order.index(self.expected[svc])
                deployed = [x for x in order[since:] if regs.get((svc, x))]
                want = deployed[-1] if deployed else self.expected[svc]
            image = view[svc][1]
            check_eq(image, REGISTRY + WATCHES[w][0] + "@" + want,
                     "settle point %d: service %s runs (newest of %s is %s %s)"
                     % (len(self.settles), svc, w, "good" if good else "bad", d[:19]))
            self.expected[svc] = want
        self.note("settled in %.1fs: %s" % (time.monotonic() - t0,
                                           ", ".join("%s=%s" % (s, e[7:19]) for s, e in self.expected.items())))

    # -- the request log ----------------------------------------------------
    def registrations_now(self):
        """(service, digest) -> number of RegisterTaskDefinition calls carried out, from the request log."""
        counts = {}
        for r in self.sim.requests(service="ecs", operation="RegisterTaskDefinition"):
            if not carried_out(r):
                continue
            fam = r["params"]["family"]
            imgs = [c["image"] for c in r["params"]["containerDefinitions"] if c["name"] == "app"]
            key = (fam, digest_of(imgs[0]) if imgs else None)
            counts[key] = counts.get(key, 0) + 1
        return counts

    def run(self):
        self.t0 = time.monotonic()
        self.start()
        self.set_faults()
        for i in range(self.iterations):
            if self.rng.random() < 0.3:
                self.set_faults()
            if self.rng.random() < 0.7:
                # api's bad digests cost its 10 s rollout timeout: fewer of them.
                w = self.rng.choice(("web", "web", "api"))
                self.push(w, self.rng.random() >= (0.3 if w == "web" else 0.12))
                if self.rng.random() < 0.75:
                    self.poll_now()
            time.sleep(self.rng.uniform(0, 1.5))
            if self.rng.random() < 0.45:
                if self.rng.random() < 0.5:
                    self.wait_inflight(1.5)
                self.kill()
                if self.rng.random() < 0.12:
                    # Down long enough for ECS to finish what was in flight (a circuit breaker's
                    # rollback included) and forget a failed deployment (5 s).
                    time.sleep(7.0)
                else:
                    time.sleep(self.rng.choice((0, 0, self.rng.uniform(0, 1.0))))
                self.start()
                time.sleep(self.rng.uniform(0, 0.8))
            if i == self.iterations - 1 or self.rng.random() < 0.2:
                self.settle()


def carried_out(r):
    """Whether a logged call was carried out (the simulator marks the calls that reached their
    handler and succeeded there, whatever became of the reply)."""
    return bool(r.get("carried_out"))


def find_wants_and_targets(st):
    """{watch: wanted digest}, {(watch, service): target record} from the state file (targets are
    keyed region/cluster/service)."""
    wants, targets = {}, {}
    for name, w in (st.get("watches") or {}).items():
        wants[name] = (w.get("want") or {}).get("digest")
        for svc in WATCHES.get(name, (None, None, ()))[2]:
            rec = (w.get("targets") or {}).get("us-east-1/prod/" + svc)
            if rec is not None:
                targets[(name, svc)] = rec
    return wants, targets


def ecs_revisions(sim, family):
    """Every revision ECS holds of family (ACTIVE or not): [(revision, app image)]."""
    import botocore.exceptions
    ecs = sim.client("ecs")
    out = []
    n = 1
    while True:
        try:
            td = ecs.describe_task_definition(taskDefinition="%s:%d" % (family, n))["taskDefinition"]
        except botocore.exceptions.ClientError:
            return out
        out.append((n, [c["image"] for c in td["containerDefinitions"] if c["name"] == "app"][0]))
        n += 1


def explain(chaos, svc, digest):
    """The request log's ECS calls for svc from a few before the first registration of digest to
    some after the last (the last 40 when there is none), and what each daemon process logged
    about it: for a failure report."""
    mine = [r for r in chaos.sim.requests(service="ecs") if svc in json.dumps(r.get("params") or {})]
    at = [i for i, r in enumerate(mine)
          if r["operation"] == "RegisterTaskDefinition" and digest in json.dumps(r["params"])]
    lo, hi = (max(0, at[0] - 4), at[-1] + 25) if at else (max(0, len(mine) - 40), len(mine))
    out = ["-- %s %s: its ECS calls (seq, time, call, status, fault)%s" % (
        svc, digest, "" if at else "; no registration of it in the log")]
    for r in mine[lo:hi]:
        params = r["params"] or {}
        what = params.get("taskDefinition") or params.get("family") or ""
        if r["operation"] == "RegisterTaskDefinition":
            what += " " + ",".join((digest_of(c.get("image", "")) or "?")[7:19]
                                   for c in params.get("containerDefinitions", []))
        out.append("  %5d %s%s %s %s %s %s%s%s" % (
            r["seq"], time.strftime("%H:%M:%S", time.localtime(r["time"])), ("%.3f" % (r["time"] % 1))[1:],
            r["operation"], what, r.get("status"), r.get("fault") or "", " " + r["error"] if r.get("error") else "",
            " deployment " + r["deployment"] if r.get("deployment") else ""))
    for p in chaos.procs:
        lines = [l[:240] for l in p.read_stderr().splitlines() if digest in l and "'" + svc + "'" in l]
        if lines:
            out.append("-- daemon pid %d:" % p.pid)
            out += ["  " + l for l in lines[:6]]
    return "\n".join(out)


def verify(chaos):
    sim = chaos.sim
    regs = chaos.registrations_now()
    good = {d: ok for pushes in chaos.pushes.values() for d, ok in pushes}
    # The log's registrations carried out are ECS's revisions (beyond the seeded revision 1).
    for svc in SERVICES:
        held = {}
        for n, image in ecs_revisions(sim, svc)[1:]:
            held[digest_of(image)] = held.get(digest_of(image), 0) + 1
        logged = {d: c for (s, d), c in regs.items() if s == svc}
        check_eq(held, logged, "service %s: revisions ECS holds (by digest) vs registrations in the log" % svc)
    dup = {k: c for k, c in regs.items() if c > 1}
    check(not dup, "a digest registered more than once for one service: %s\n%s" % (
        ", ".join("%s %s x%d (%s)" % (s, d, c, "good" if good.get(d) else "bad") for (s, d), c in dup.items()),
        "\n".join(explain(chaos, s, d) for s, d in dup)))
    unknown = [k for k in regs if k[1] not in good]
    check(not unknown, "registrations of digests never pushed: %s" % unknown)
    for i, point in enumerate(chaos.settles):
        for w, d in point.items():
            for svc in WATCHES[w][2]:
                want = 0 if d == chaos.seeded[w] else 1
                check_eq(regs.get((svc, d), 0), want, "RegisterTaskDefinition of %s (newest of %s at settle "
                         "point %d) for %s" % (d, w, i + 1, svc))
    # No tag-named image: every UpdateService pins a digest.
    ecs = sim.client("ecs")
    ups = sim.requests(service="ecs", operation="UpdateService")
    # A bad digest is deployed once: an UpdateService that made a new deployment (the simulator logs
    # the PRIMARY deployment each one left) of a bad digest, at most once per service. One that left
    # the deployment an earlier one made is a repeat (case 13), counted apart.
    pins, seen, bad_deploys, repeats = {}, {}, {}, []
    for r in ups:
        td = r["params"].get("taskDefinition")
        check(td, "UpdateService without a task definition: %s" % r["params"])
        if td not in pins:
            images = [c["image"] for c in ecs.describe_task_definition(taskDefinition=td)["taskDefinition"]
                      ["containerDefinitions"]]
            check(all(PINNED.match(i) for i in images), "UpdateService to %s, which runs %s" % (td, images))
            pins[td] = digest_of(images[0])
        svc, dep = r["params"]["service"], r.get("deployment")
        if not carried_out(r) or dep is None:
            continue
        if dep in seen.setdefault(svc, set()):
            repeats.append(r)
            continue
        seen[svc].add(dep)
        if not good.get(pins[td], True):
            bad_deploys[(svc, pins[td])] = bad_deploys.get((svc, pins[td]), 0) + 1
    again = [k for k, n in bad_deploys.items() if n > 1]
    check(not again, "a bad digest deployed again after its failure: %s\n%s" % (
        again, "\n".join(explain(chaos, s, d) for s, d in again)))
    for name, (s, image) in chaos.ecs_view().items():
        check(PINNED.match(image), "service %s ends on %s" % (name, image))
    # Restarts were clean: no state file set aside, every process lived until killed (checked at
    # each kill), and the last one stops cleanly.
    bad = [n for n in os.listdir(chaos.ctx.path("state")) if ".bad-" in n]
    check(not bad, "state files set aside as unusable: %s" % bad)
    chaos.p.signal(signal.SIGTERM)
    check_eq(chaos.p.wait(15), 0, "the last daemon's exit status on SIGTERM")
    return regs, ups, repeats


def test_chaos(ctx):
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(1, 2 ** 31))
    # make check runs the quick mode (it must stay under 10 minutes); CHAOS_QUICK=0 the full run.
    quick = os.environ.get("CHAOS_QUICK", "1") == "1"
    iterations = int(os.environ.get("CHAOS_ITERATIONS") or (12 if quick else 25))
    print("chaos: CHAOS_SEED=%d, %d iterations" % (seed, iterations))
    sys.stdout.flush()
    chaos = Chaos(ctx, seed, iterations)
    t0 = time.monotonic()
    try:
        chaos.run()
        regs, ups, again = verify(chaos)
    except BaseException:
        print("chaos: CHAOS_SEED=%d failed; what it did:" % seed)
        print("\n".join(chaos.log))
        raise
    reqs = chaos.sim.requests()
    faulted = sum(1 for r in reqs if r.get("fault"))
    pushes = sum(len(p) - 1 for p in chaos.pushes.values())
    print("chaos: CHAOS_SEED=%d passed in %.1fs: %d pushes (%d bad), %d kill -9s, %d settle points, "
          "%d registrations, %d UpdateService (%d repeating one that was made), "
          "%d of %d calls faulted"
          % (seed, time.monotonic() - t0, pushes, sum(1 for p in chaos.pushes.values() for _, ok in p[1:] if not ok),
             len(chaos.procs) - 1, len(chaos.settles), sum(regs.values()), len(ups), len(again), faulted, len(reqs)))
    check(not (again and os.environ.get("CHAOS_STRICT", "1") == "1"), "UpdateService repeated: %s" % [
        (r["seq"], r["params"]["taskDefinition"], r.get("fault")) for r in again])
    for r in again:
        print("chaos: UpdateService of %s repeated deployment %s (request %d)"
              % (r["params"]["taskDefinition"], r["deployment"], r["seq"]))
    if os.environ.get("CHAOS_VERBOSE"):
        print("\n".join(chaos.log))
        print(json.dumps(chaos.state(), indent=1))
