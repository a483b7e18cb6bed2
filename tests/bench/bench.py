#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""make bench: ecr-deployd at scale against awssim, each figure next to what it is compared with,
measured in the same run. Prints figures; asserts nothing (issue 19's targets are said beside them).

World: 1,000 repositories x 10 watched tags, 1,000 ECS services (each running its repository's
current digest, pinned), one watch (a list of 10 tags) and one target per repository; the
simulator serves it over HTTP and HTTPS (its own test CA).

In order, on that world (nothing is pushed until the polling run's pushes):
- anonymous memory at the small size: a daemon watching a tenth of the repositories (1,000 tags),
  RssAnon after its quiet cycles;
- TLS: a daemon over the simulator's HTTPS port (HTTP/1.1: the simulator offers no h2), then over
  nghttpx (TLS, HTTP/2 frontend; the simulator behind it, Host kept for SigV4): CPU per quiet
  cycle and the connections it holds, with httpfloor over the same path at the same connections
  and requests in flight after each window;
- the polling run (HTTP): three measurement runs, each a window of quiet cycles (CPU per cycle,
  connections held, RssAnon after it), httpfloor right after at the daemon's connection count,
  in-flight count and requests per cycle, then the boto3 script's reconcile pass; min and median
  of each figure and of the ratios. Then pushes at random moments: push -> UpdateService latency.
- state writes: tests/bench/statebench at 1,000 and 100,000 tags (daemon/state.h only).
- events mode (issue 14) in the same world made afresh (the pushes moved services off their
  first tag): an EventBridge rule sends ECR and ECS events to an SQS queue, a new daemon (its own
  state directory) reads it, poll_interval 10 minutes. Measured: push -> UpdateService latency
  with events, and API requests per hour at this scale with events (the simulator's log over a
  quiet window, plus one full cycle's requests x 6 safety polls an hour) against polling every
  60 s (the requests of a quiet poll cycle of the polling run x 60).
The last line is the one the issues fix.
"""

import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from harness import SIM_KEY, Context, Sim, wait_for  # noqa: E402

REPOS, TAGS = int(os.environ.get("BENCH_REPOS", 1000)), int(os.environ.get("BENCH_TAGS", 10))
SMALL = max(1, int(os.environ.get("BENCH_SMALL_REPOS", REPOS // 10)))  # the memory's second size
TLS_REPOS = min(REPOS, int(os.environ.get("BENCH_TLS_REPOS", REPOS)))
CYCLES = 3  # cycles with pushes
QUIET = int(os.environ.get("BENCH_QUIET", 4))  # quiet cycles in each measurement window
TLS_QUIET = int(os.environ.get("BENCH_TLS_QUIET", 1))  # the same over TLS
RUNS = 3  # measurement runs: min and median of each figure
IN_FLIGHT = int(os.environ.get("BENCH_IN_FLIGHT", 64))  # the daemon's max_requests_in_flight
STATE_CHANGES = int(os.environ.get("BENCH_STATE_CHANGES", 40))  # per round of statebench
EVENTS_QUIET = float(os.environ.get("BENCH_EVENTS_QUIET", 100))  # seconds without pushes, events mode
SAFETY_POLL = 600  # seconds: poll_interval of the events-mode run
QUEUE = "ecr-events"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/" + QUEUE
B = os.environ.get("B", "build")
CLK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """CPU seconds pid's threads have run: se.sum_exec_runtime of /proc/PID/task/*/sched (in ms to
    the ns; the quantity utime + stime are scaled to, as getrusage's figures in httpfloor are), so a
    window of a few cycles is not read to the clock tick (10 ms, a tenth of a quiet cycle here);
    utime + stime of /proc/PID/stat when the kernel has no sched files (CONFIG_SCHED_DEBUG)."""
    try:
        total = 0.0
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/sched" % (pid, task)) as f:
                total += next(float(l.split(":")[1]) for l in f if l.startswith("se.sum_exec_runtime"))
        return total / 1000.0
    except (OSError, StopIteration, ValueError, IndexError):
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK


def status_kb(pid, name):
    """A "Name: N kB" field of /proc/PID/status (VmHWM: peak RSS; RssAnon: anonymous memory,
    what a cgroup's MemoryMax is charged for), 0 when missing."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    return 0


def peak_rss_kb(pid):
    return status_kb(pid, "VmHWM")


def connections_to(pid, port):
    """How many established TCP connections process pid holds to port (ss)."""
    out = subprocess.run(["ss", "-Htnp", "state", "established", "( dport = :%d )" % port],
                         capture_output=True, text=True, timeout=30).stdout
    return sum("pid=%d," % pid in line for line in out.splitlines())


def free_port():
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        return so.getsockname()[1]


def boto3_versions():
    import boto3
    import botocore
    return "boto3 %s, botocore %s" % (boto3.__version__, botocore.__version__)


def boto3_cycle_cpu(sim):
    """CPU seconds of one reconcile pass written the obvious way with boto3: read every watched tag,
    compare with what was deployed (nothing moved, so no deploy)."""
    ecr = sim.client("ecr")
    tags = ["t%d" % t for t in range(TAGS)]
    deployed = {}
    ecr.describe_images(repositoryName="r0000", imageIds=[{"imageTag": t} for t in tags])  # warm up
    t0 = time.process_time()
    for r in range(REPOS):
        # The same calls the daemon makes: DescribeImages of the 10 tags, no manifests.
        out = ecr.describe_images(repositoryName="r%04d" % r, imageIds=[{"imageTag": t} for t in tags])
        now = {t: i["imageDigest"] for i in out["imageDetails"] for t in i.get("imageTags", [])}
        moved = [t for t in tags if deployed.get((r, t)) not in (None, now.get(t))]
        for t in tags:
            deployed[(r, t)] = now.get(t)
        del moved
    return time.process_time() - t0


def http_floor(ctx, url, requests, in_flight, connections, ca=None, http2=False, cycles=1):
    """CPU of the HTTP layer alone (libcurl multi on libev, loopback TCP, TLS for an https URL):
    the daemon's DescribeImages of one repository's 10 tags, signed once here for url's host, sent
    by tests/bench/httpfloor with in_flight requests in flight over at most `connections`
    connections, offering HTTP/2 over TLS when http2 (as the daemon does with aws.http_version
    "2"). It measures requests x cycles of them (the daemon's window: `cycles` cycles of
    `requests`), after in_flight more that open the connections and are not measured. Returns its
    figures: cpu_s (per `requests`, a cycle's worth: its CPU over the measured requests times
    requests / measured), rss_kb, anon_kb, connections, http_version."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    body = json.dumps({"repositoryName": "r0000", "imageIds": [{"imageTag": "t%d" % t} for t in range(TAGS)]})
    req = AWSRequest(method="POST", url=url + "/", data=body, headers={
        "Content-Type": "application/x-amz-json-1.1",
        "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.DescribeImages"})
    SigV4Auth(Credentials(*SIM_KEY[:2]), "ecr", "us-east-1").add_auth(req)
    headers = ctx.write("floor.headers", "".join("%s: %s\n" % kv for kv in req.headers.items()))
    body_file = ctx.write("floor.body", body)
    argv = [os.path.join(ROOT, B, "httpfloor"), "-c", str(connections)] + (["-a", ca] if ca else []) + (["-2"] if http2 else [])
    out = subprocess.run(argv + [url + "/", str(requests * cycles + in_flight), str(in_flight), headers, body_file],
                         capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        raise SystemExit("bench: httpfloor failed: %s %s" % (out.stdout, out.stderr))
    f = dict(kv.split("=") for kv in out.stdout.split(": ", 1)[1].split())
    return {"cpu_s": float(f["cpu_s"]) * requests / int(f["requests"]), "rss_kb": int(f["rss_kb"]), "anon_kb": int(f["anon_kb"]),
            "connections": int(f["connections"]), "http_version": int(f["http_version"])}


def ratio(a, b):
    """a / b, NaN when b is 0 (a CPU time under the clock tick of /proc/PID/stat, in a small world)."""
    return a / b if b else float("nan")


def mm(values, fmt="%.4f"):
    """"min X median Y" of the runs' values."""
    return ("min " + fmt + ", median " + fmt) % (min(values), statistics.median(values))


def pct(values, p):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))] if v else float("nan")


def last_seq(sim):
    """The sequence number of the newest entry of the simulator's request log."""
    return sim.control("GET", "/requests?since=%d" % (1 << 62))["last"]


def by_operation(entries):
    """{"service.Operation": count} of request log entries."""
    out = {}
    for e in entries:
        k = "%s.%s" % (e["service"], e["operation"])
        out[k] = out.get(k, 0) + 1
    return out


def fmt_ops(ops):
    return ", ".join("%s %d" % (k, v) for k, v in sorted(ops.items(), key=lambda kv: (-kv[1], kv[0]))) or "none"


def timed_pushes(sim, order, pushes_for, tick=lambda: None):
    """Pushes to distinct repositories (taken from `order`) at random moments for `pushes_for` seconds;
    each is timed from just before the push (the simulator emits its event during the call) until the
    simulator records the UpdateService of its service. tick() is called every 50 ms while pushing and
    every 0.5 s after. Returns ({service: push time}, {service: UpdateService time}, the log seq the
    run started after)."""
    pushes, updated = {}, {}
    since = last_seq(sim)
    t_start = time.monotonic()
    push_until, next_push = t_start + pushes_for, t_start
    while True:
        now = time.monotonic()
        if now < push_until and not order:
            push_until = now  # a small world (BENCH_REPOS) ran out of repositories not pushed yet
        if now < push_until and now >= next_push:
            r = order.pop()
            t = time.time()
            sim.push("r%04d" % r, "t%d" % random.randrange(TAGS), seed="bench-%f" % random.random())
            pushes["s%04d" % r] = t
            next_push = now + random.uniform(0.3, 2.0)
        tick()
        if now >= push_until:
            for e in sim.requests(since=since, service="ecs"):
                svc = (e.get("params") or {}).get("service")
                if e["operation"] == "UpdateService" and e["status"] == 200 and svc in pushes:
                    updated.setdefault(svc, e["time"])
            if len(updated) == len(pushes):
                return pushes, updated, since
        if now > push_until + 60:
            raise SystemExit("bench: pushes not deployed within a minute: %d of %d"
                             % (len(updated), len(pushes)))
        time.sleep(0.05 if now < push_until else 0.5)


class Tail:
    """The lines a process has written to its stderr since the last call."""

    def __init__(self, proc):
        self.path, self.pos = proc.stderr_path, 0

    def lines(self):
        with open(self.path) as f:
            f.seek(self.pos)
            chunk = f.read()
        # Only whole lines: a line being written is read next time.
        end = chunk.rfind("\n") + 1
        self.pos += len(chunk[:end].encode())
        return chunk[:end].splitlines()


def cycle_lines(lines):
    return [l for l in lines if "poll cycle:" in l]


def wait_settled(d, tail, services=None, timeout=float(os.environ.get("BENCH_SETTLE", 300))):
    """Waits for the first poll cycle and for every service's first-start inspection (one
    DescribeServices and one DescribeTaskDefinition each, after the cycle); services: how many
    targets the daemon has (REPOS)."""
    services = REPOS if services is None else services
    seen = {"cycle": [], "inspected": 0}

    def settled():
        lines = tail.lines()
        seen["cycle"] += cycle_lines(lines)
        seen["inspected"] += sum("already runs" in l for l in lines)
        return seen["cycle"] and seen["inspected"] >= services

    try:
        wait_for(settled, timeout, "the first cycle and every service inspected", interval=0.2)
    except Exception:
        sys.stderr.write("bench: %d of %d services inspected; the daemon's last lines:\n%s\n"
                         % (seen["inspected"], services, "\n".join(d.read_stderr().splitlines()[-40:])))
        raise
    return seen["cycle"][0]


def quiet_window(d, tail, port, cycles, sim=None):
    """One measurement window of quiet cycles: from a fresh cycle boundary, `cycles` cycles. Returns
    the daemon's CPU seconds per cycle, the requests of its last cycle, the most established
    connections it held to port meanwhile (sampled with ss), (sim given) the simulator's log
    sequence numbers at its start and end (the next cycle starts 10 s after the last one did), and
    the largest RssAnon sampled meanwhile (every 50 ms: within the cycles, not only between them)."""
    tail.lines()  # a boundary already passed is not fresh: the next cycle may have begun
    wait_for(lambda: cycle_lines(tail.lines()), 120, "a cycle boundary", interval=0.05)
    cpu0, seen = cpu_seconds(d.pid), []
    seq0 = last_seq(sim) if sim else 0
    conns, next_look, peak_anon = 0, 0.0, 0
    while len(seen) < cycles:
        seen += cycle_lines(tail.lines())
        peak_anon = max(peak_anon, status_kb(d.pid, "RssAnon"))
        if time.monotonic() >= next_look:
            conns, next_look = max(conns, connections_to(d.pid, port)), time.monotonic() + 0.25
        time.sleep(0.05)
    cpu = (cpu_seconds(d.pid) - cpu0) / len(seen)
    seq1 = last_seq(sim) if sim else 0
    conns = max(conns, connections_to(d.pid, port))
    return cpu, cycle_requests(seen[-1])[0], conns, (seq0, seq1), peak_anon


def daemon_config(ctx, name, n_repos, ca=None, http2=False):
    """The bench daemon's configuration, watching the first n_repos repositories, its state in a
    directory of its own (name); http2: aws.http_version "2" (the default is HTTP/1.1)."""
    aws = {"region": "us-east-1"}
    if ca:
        aws["ca_bundle"] = ca
    if http2:
        aws["http_version"] = "2"
    return {"aws": aws, "poll_interval": "10s", "log_level": "debug", "max_concurrent_deploys": 20,
            "max_requests_in_flight": IN_FLIGHT, "state_directory": ctx.path("state-" + name),
            "control": {"socket": ctx.control_socket()},
            "watches": [{"name": "w%04d" % r, "repository": "r%04d" % r, "tags": ["t%d" % t for t in range(TAGS)],
                         "targets": [{"cluster": "prod", "service": "s%04d" % r, "container": "app"}]}
                        for r in range(n_repos)]}


def start_daemon(ctx, name, cfg, env, endpoint):
    conf = ctx.write("ecr-deployd-%s.json" % name, json.dumps(cfg))
    d = ctx.spawn([os.path.join(ROOT, B, "ecr-deployd"), "-c", conf, "--config-dir", ctx.path("none")],
                  env=dict(env, AWS_ENDPOINT_URL=endpoint), name="ecr-deployd-" + name)
    tail = Tail(d)
    wait_settled(d, tail, len(cfg["watches"]))
    return d, tail


def small_run(ctx, sim, env):
    """Anonymous memory at the small size: a daemon watching SMALL repositories (SMALL x TAGS
    tags), RssAnon after each of RUNS consecutive quiet cycles (kB), and the largest sampled every
    50 ms meanwhile, within the cycles too."""
    d, tail = start_daemon(ctx, "small", daemon_config(ctx, "small", SMALL), env, sim.url)
    anon, peak = [], 0
    tail.lines()
    while len(anon) < RUNS:  # consecutive cycles: only memory is measured here
        anon += [status_kb(d.pid, "RssAnon") for _ in cycle_lines(tail.lines())]
        peak = max(peak, status_kb(d.pid, "RssAnon"))
        time.sleep(0.05)
    d.stop()
    return anon, peak


def start_nghttpx(ctx, sim):
    """nghttpx in front of the simulator: a TLS frontend offering HTTP/2 (ALPN), its certificate
    from the simulator's test CA; backend the simulator's plain HTTP port. Host and :authority are
    passed through as they came (no --host-rewrite), so the simulator checks SigV4 against the host
    the client signed. Returns (proc, port)."""
    port = free_port()
    tls = os.path.dirname(sim.ca)
    p = ctx.spawn(["nghttpx", "--conf=/dev/null", "--frontend=127.0.0.1,%d" % port,
                   "--backend=127.0.0.1,%d" % sim.port, "--workers=1", "--no-ocsp", "--no-via",
                   "--frontend-http2-max-concurrent-streams=%d" % max(100, IN_FLIGHT),
                   "--backend-connections-per-host=16", "--errorlog-file=" + ctx.path("nghttpx.log"),
                   os.path.join(tls, "server.key"), os.path.join(tls, "server.pem")], name="nghttpx")

    def listening():
        if not p.alive():
            raise SystemExit("bench: nghttpx exited: %s" % open(ctx.path("nghttpx.log")).read()[-2000:])
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            return False

    wait_for(listening, 20, "nghttpx to listen", interval=0.1)
    return p, port


def tls_run(ctx, sim, env, name, url, port, http2=False):
    """A daemon over TLS to url (port: where it connects), watching TLS_REPOS repositories: RUNS
    windows of TLS_QUIET quiet cycles, httpfloor over the same path at the daemon's connections,
    in-flight count and requests after each. Returns lists of the runs' figures."""
    d, tail = start_daemon(ctx, name, daemon_config(ctx, name, TLS_REPOS, ca=sim.ca, http2=http2), env, url)
    out = {"cpu": [], "floor": [], "conns": [], "floor_conns": [], "requests": 0, "version": 0}
    for _ in range(RUNS):
        cpu, requests, conns, _, _ = quiet_window(d, tail, port, TLS_QUIET)
        fl = http_floor(ctx, url, requests, IN_FLIGHT, conns or IN_FLIGHT, ca=sim.ca,
                        http2=http2, cycles=TLS_QUIET)
        out["cpu"].append(cpu)
        out["conns"].append(conns)
        out["floor"].append(fl["cpu_s"])
        out["floor_conns"].append(fl["connections"])
        out["requests"], out["version"] = requests, fl["http_version"]
    d.stop()
    return out


def state_writes(ctx):
    """tests/bench/statebench at 1,000 and 100,000 tags (10 a watch): {tags: {figure: [per round]}}."""
    out = {}
    for tags in (1000, 100000):
        r = subprocess.run([os.path.join(ROOT, B, "statebench"), ctx.path("statebench-%d" % tags),
                            str(tags // 10), "10", str(STATE_CHANGES), str(RUNS)],
                           capture_output=True, text=True, timeout=900)
        if r.returncode != 0:
            raise SystemExit("bench: statebench failed: %s %s" % (r.stdout, r.stderr))
        rounds = [dict(kv.split("=") for kv in line.split(": ", 1)[1].split()) for line in r.stdout.splitlines()]
        out[tags] = {k: [float(x[k]) for x in rounds] for k in rounds[0] if k not in ("round", "tags", "changes")}
    return out


def cycle_requests(line):
    """(requests, minimum) of a "poll cycle:" line."""
    m = line.split("poll cycle: ")[1]
    return int(m.split(" requests")[0].split(", ")[-1]), int(m.split("(minimum ")[1].rstrip(")"))


def events_run(ctx, cfg, env):
    """The same world, made afresh (the polling run's pushes moved 1 service in 40 off its
    repository's first tag, which a new daemon would deploy back), read by a new daemon (its own
    state directory) with events on and a 10-minute safety poll. Returns a dict of what was
    measured."""
    sim = make_world(ctx)
    env = dict(env, AWS_ENDPOINT_URL=sim.url)
    order = random.sample(range(REPOS), REPOS)
    sim.seed({"queues": [{"name": QUEUE}],
              "event_rules": [{"queue": QUEUE, "sources": ["aws.ecr", "aws.ecs"]}]})
    cfg = dict(cfg, poll_interval="%ds" % SAFETY_POLL, state_directory=ctx.path("state-events"),
               events=[{"queue_url": QUEUE_URL}])
    conf = ctx.write("ecr-deployd-events.json", json.dumps(cfg))
    seq0 = last_seq(sim)
    d = ctx.spawn([os.path.join(ROOT, B, "ecr-deployd"), "-c", conf, "--config-dir", ctx.path("none")],
                  env=env, name="ecr-deployd-events")
    tail = Tail(d)
    first = wait_settled(d, tail)
    own_count = cycle_requests(first)[0]
    # Quiet window: nothing pushed; whatever the daemon asks now it asks all the time.
    seq1, t1 = last_seq(sim), time.monotonic()
    time.sleep(EVENTS_QUIET)  # a measurement window, not a wait for a condition
    seq2, t2 = last_seq(sim), time.monotonic()
    log = sim.requests(since=seq0)
    start = [e for e in log if e["seq"] <= seq1]
    quiet = [e for e in log if seq1 < e["seq"] <= seq2]
    # One full cycle: every ECR request of the start (no push yet, so no hinted read: all of
    # them are the first cycle's).
    cycle = [e for e in start if e["service"] == "ecr"]
    cpu0 = cpu_seconds(d.pid)
    cycles = []
    pushes, updated, since = timed_pushes(sim, order, 10 * CYCLES, lambda: cycles.extend(cycle_lines(tail.lines())))
    cpu_push = cpu_seconds(d.pid) - cpu0
    during = sim.requests(since=since)
    rss = peak_rss_kb(d.pid)
    d.stop()
    polls = [e["time"] for e in quiet if e["operation"] == "ReceiveMessage"]
    times = [e["time"] for e in quiet]
    return {"start_ops": by_operation(start), "cycle": len(cycle), "own_count": own_count,
            "quiet_ops": by_operation(quiet), "quiet_n": len(quiet), "quiet_s": t2 - t1,
            "poll_period": (polls[-1] - polls[0]) / (len(polls) - 1) if len(polls) > 1 else float("nan"),
            "span": (len(times) - 1, times[-1] - times[0]) if len(times) > 2 else None,
            "lat": [(updated[s] - pushes[s]) * 1000 for s in pushes], "push_ops": by_operation(during),
            "cycles_during": len(cycles), "cpu_push": cpu_push, "rss": rss}


def make_world(ctx, tls=False):
    """A simulator holding the world: REPOS repositories of TAGS tags, one service each running its
    repository's t0 digest, pinned. tls: also served over HTTPS (sim.tls_url, CA sim.ca)."""
    seed = {"settings": {"task_start_seconds": 0.5},
            "repositories": [{"name": "r%04d" % r, "images": [{"tag": "t%d" % t, "seed": "%d-%d" % (r, t)}
                                                             for t in range(TAGS)]} for r in range(REPOS)],
            "clusters": ["prod"]}
    sim = Sim(ctx, seed=seed, tls=tls)
    ecr = sim.client("ecr")
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/"
    first = {}
    for r in range(REPOS):
        out = ecr.batch_get_image(repositoryName="r%04d" % r, imageIds=[{"imageTag": "t0"}])
        first[r] = out["images"][0]["imageId"]["imageDigest"]
    sim.seed({"task_definitions": [{"family": "s%04d" % r, "containerDefinitions": [
                  {"name": "app", "image": uri + "r%04d@%s" % (r, first[r]), "memory": 128}]}
                  for r in range(REPOS)],
              "services": [{"cluster": "prod", "serviceName": "s%04d" % r, "taskDefinition": "s%04d" % r,
                            "desiredCount": 1} for r in range(REPOS)]})
    return sim


def main():
    ctx = Context("bench")
    t_start = time.monotonic()
    try:
        sim = make_world(ctx, tls=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update(AWS_ACCESS_KEY_ID=SIM_KEY[0], AWS_SECRET_ACCESS_KEY=SIM_KEY[1],
                   AWS_EC2_METADATA_DISABLED="true", HOME=ctx.path())
        print("bench: world %d repositories x %d tags, %d services; %d requests in flight (max_requests_in_flight); "
              "a connection per request in flight (daemon.c), HTTP/1.1 unless aws.http_version is \"2\"; "
              "%d measurement runs; this machine: %d CPUs" % (REPOS, TAGS, REPOS, IN_FLIGHT, RUNS, os.cpu_count()))
        sys.stdout.flush()

        # Anonymous memory at the small size first (nothing pushed yet, a daemon of its own).
        small_anon, small_peak = small_run(ctx, sim, env)

        # TLS, HTTP/1.1 (the simulator's HTTPS port offers only http/1.1) and HTTP/2 (nghttpx).
        h1 = tls_run(ctx, sim, env, "tls-h1", sim.tls_url, sim.tls_port)
        ng, ng_port = start_nghttpx(ctx, sim)
        h2 = tls_run(ctx, sim, env, "tls-h2", "https://127.0.0.1:%d" % ng_port, ng_port, http2=True)
        ng.stop()

        # The polling run over HTTP: RUNS windows of quiet cycles, each followed by httpfloor at the
        # daemon's settings and the boto3 script's reconcile pass (nothing is pushed, so each cycle
        # is exactly that pass: read every watched tag, compare, deploy nothing).
        cfg = daemon_config(ctx, "main", REPOS)
        d, tail = start_daemon(ctx, "main", cfg, env, sim.url)
        runs = []
        for _ in range(RUNS):
            cpu, requests, conns, seqs, peak_anon = quiet_window(d, tail, sim.port, QUIET, sim)
            anon = status_kb(d.pid, "RssAnon")
            fl = http_floor(ctx, sim.url, requests, IN_FLIGHT, conns or IN_FLIGHT, cycles=QUIET)
            boto = boto3_cycle_cpu(sim)
            runs.append({"cpu": cpu, "requests": requests, "conns": conns, "anon": anon, "peak_anon": peak_anon,
                         "floor": fl, "boto": boto,
                         "log": seqs})
        seq0, seq1 = runs[-1]["log"]
        quiet_log = [e for e in sim.requests(since=seq0) if e["seq"] <= seq1]  # the last window's cycles
        quiet_n = QUIET
        rss_quiet = peak_rss_kb(d.pid)
        # Pushes to distinct repositories at random moments over several cycles.
        order = random.sample(range(REPOS), REPOS)
        cycles = []
        cpu0 = cpu_seconds(d.pid)
        pushes, updated, _ = timed_pushes(sim, order, 10 * CYCLES, lambda: cycles.extend(cycle_lines(tail.lines())))
        cpu_cycle = (cpu_seconds(d.pid) - cpu0) / max(1, len(cycles))
        requests, minimum = cycle_requests(cycles[-1])
        rss = peak_rss_kb(d.pid)
        d.stop()
        lat = [(updated[s] - pushes[s]) * 1000 for s in pushes]

        cpu = [r["cpu"] for r in runs]
        floor = [r["floor"]["cpu_s"] for r in runs]
        boto = [r["boto"] for r in runs]
        floor_ratio = [ratio(r["cpu"], r["floor"]["cpu_s"]) for r in runs]
        boto_ratio = [ratio(r["boto"], r["cpu"]) for r in runs]
        print("bench: requests per cycle %d (API minimum %d = %d repositories x ceil(%d/100))"
              % (requests, minimum, REPOS, TAGS))
        print("bench: ecr-deployd CPU per quiet cycle over %d runs of %d cycles: %s s; connections held (ss): %s"
              % (RUNS, QUIET, mm(cpu), ", ".join(str(r["conns"]) for r in runs)))
        print("bench: HTTP floor (tests/bench/httpfloor: libcurl multi + libev + loopback TCP, nothing signed, parsed "
              "or decided) run right after each window at the daemon's settings, %d x %d requests measured (as many as the "
              "window's) after %d that open the connections, %d in flight over at most %s connections (it opened %s): "
              "%s s CPU per %d requests; its peak RSS %s kB, RssAnon %s kB"
              % (QUIET, runs[-1]["requests"], IN_FLIGHT, IN_FLIGHT, "/".join(str(r["conns"]) for r in runs),
                 "/".join(str(r["floor"]["connections"]) for r in runs), mm(floor), runs[-1]["requests"],
                 mm([r["floor"]["rss_kb"] for r in runs], "%d"), mm([r["floor"]["anon_kb"] for r in runs], "%d")))
        print("bench: ecr-deployd / HTTP floor, CPU per quiet cycle (same run): %s (issue 19's target: <= 1.3)"
              % mm(floor_ratio, "%.2f"))
        print("bench: boto3 script, the same reconcile pass (%s): %s s CPU; boto3 / ecr-deployd: %s"
              % (boto3_versions(), mm(boto, "%.3f"), mm(boto_ratio, "%.1f")))
        print("bench: ecr-deployd CPU %.4fs per cycle over %d cycles with %d deploys among them"
              % (cpu_cycle, len(cycles), len(pushes)))
        print("bench: ecr-deployd peak RSS %d kB after the quiet cycles, %d kB after the deploys" % (rss_quiet, rss))

        # Anonymous memory: the daemon's RssAnon less httpfloor's at the same connections.
        floor_anon = statistics.median(r["floor"]["anon_kb"] for r in runs)
        big = [r["anon"] for r in runs]
        tags_small, tags_big = SMALL * TAGS, REPOS * TAGS
        own_big = statistics.median(big) - floor_anon
        own_small = statistics.median(small_anon) - floor_anon
        slope = ((statistics.median(big) - statistics.median(small_anon)) * 1024.0 / (tags_big - tags_small)
                 if tags_big > tags_small else float("nan"))
        print("bench: anonymous memory (RssAnon) after quiet cycles: %d tags %s kB, %d tags %s kB; httpfloor's at %s "
              "connections %s kB" % (tags_small, mm(small_anon, "%d"), tags_big, mm(big, "%d"),
                                     runs[-1]["conns"], mm([r["floor"]["anon_kb"] for r in runs], "%d")))
        print("bench: ecr-deployd's own anonymous memory (RssAnon less httpfloor's, medians): %.0f kB at %d tags, "
              "%.0f kB at %d tags; slope %.0f bytes per watched tag (issue 19's target: <= 300, <= 3 MB at "
              "10,000 tags)" % (own_small, tags_small, own_big, tags_big, slope))
        big_peak = max(r["peak_anon"] for r in runs)
        own_big_peak = big_peak - floor_anon
        slope_peak = ((big_peak - small_peak) * 1024.0 / (tags_big - tags_small)
                      if tags_big > tags_small else float("nan"))
        print("bench: the same within the cycles (the largest RssAnon sampled every 50 ms over every window): %d kB "
              "at %d tags, %d kB at %d tags; own (less httpfloor's) %.0f kB at %d tags, %.0f kB at %d tags; slope "
              "%.0f bytes per watched tag"
              % (small_peak, tags_small, big_peak, tags_big, small_peak - floor_anon, tags_small, own_big_peak,
                 tags_big, slope_peak))
        if SMALL < IN_FLIGHT:
            print("bench: note: the small size (%d repositories) keeps fewer than %d requests in flight, so its share "
                  "less httpfloor's is understated (the slope is not: httpfloor's share cancels)" % (SMALL, IN_FLIGHT))

        # TLS side by side.
        for label, t in (("HTTP/1.1 (awssim's TLS port)", h1), ("HTTP/2 (nghttpx in front of awssim)", h2)):
            print("bench: TLS %s, %d repositories x %d tags, %d requests a cycle, runs of %d cycle(s): ecr-deployd "
                  "%s s CPU per quiet cycle over %s connection(s); httpfloor at those connections (it opened %s, "
                  "HTTP version %d) %s s; ratio %s"
                  % (label, TLS_REPOS, TAGS, t["requests"], TLS_QUIET, mm(t["cpu"]),
                     "/".join(map(str, t["conns"])), "/".join(map(str, t["floor_conns"])), t["version"],
                     mm(t["floor"]), mm([ratio(a, b) for a, b in zip(t["cpu"], t["floor"])], "%.2f")))
        def per_request_us(t, k):
            return statistics.median(t[k]) * 1e6 / t["requests"]

        print("bench: TLS CPU per request (medians): ecr-deployd HTTP/1.1 %.0f us, HTTP/2 %.0f us; httpfloor HTTP/1.1 "
              "%.0f us, HTTP/2 %.0f us; HTTP/2 / HTTP/1.1 per run: ecr-deployd %s, httpfloor %s%s"
              % (per_request_us(h1, "cpu"), per_request_us(h2, "cpu"), per_request_us(h1, "floor"),
                 per_request_us(h2, "floor"), mm([ratio(a, b) for a, b in zip(h2["cpu"], h1["cpu"])], "%.2f"),
                 mm([ratio(a, b) for a, b in zip(h2["floor"], h1["floor"])], "%.2f"),
                 "" if TLS_REPOS == REPOS else " (a smaller world over TLS: BENCH_TLS_REPOS=%d)" % TLS_REPOS))

        # State writes.
        sw = state_writes(ctx)
        for tags in (1000, 100000):
            f = sw[tags]
            print("bench: state at %d tags, per change made durable: a sighting + state_save %s ms CPU (wall %s ms, "
                  "fsync included), %s bytes written; a rollout step (state_rollout_save) %s ms CPU, %s bytes; a "
                  "rollout's end (state_set_deployed + state_save) %s ms CPU, %s bytes"
                  % (tags, mm(f["sighting_cpu_ms"], "%.3f"), mm(f["sighting_wall_ms"], "%.2f"),
                     mm(f["sighting_wchar"], "%.0f"), mm(f["rollout_cpu_ms"], "%.3f"),
                     mm(f["rollout_wchar"], "%.0f"), mm(f["deployed_cpu_ms"], "%.3f"),
                     mm(f["deployed_wchar"], "%.0f")))
        med = {k: statistics.median(sw[100000][k]) / statistics.median(sw[1000][k]) if statistics.median(sw[1000][k])
               else float("nan") for k in sw[1000]}
        print("bench: state, 100,000 tags / 1,000 tags (medians; issue 19's target: about 1): sighting CPU %.1fx, "
              "bytes %.1fx; rollout step CPU %.1fx, bytes %.1fx; rollout's end CPU %.1fx, bytes %.1fx"
              % (med["sighting_cpu_ms"], med["sighting_wchar"], med["rollout_cpu_ms"], med["rollout_wchar"],
                 med["deployed_cpu_ms"], med["deployed_wchar"]))
        print("bench: push -> UpdateService over %d pushes: p50 %.0f ms, p99 %.0f ms (poll interval 10 s)"
              % (len(lat), pct(lat, 50), pct(lat, 99)))
        sys.stdout.flush()

        # Events mode (issue 14).
        sim.proc.stop()
        os.remove(ctx.path("sim.port"))  # the next simulator writes its own
        ev = events_run(ctx, cfg, env)
        elat = ev["lat"]
        print("bench: events mode (EventBridge -> SQS, poll_interval %d s): first cycle %d ECR requests in the "
              "simulator's log (the daemon counted %d), with the first-start inspections: %s"
              % (SAFETY_POLL, ev["cycle"], ev["own_count"], fmt_ops(ev["start_ops"])))
        print("bench: events mode push -> UpdateService over %d pushes: p50 %.0f ms, p99 %.0f ms (the issue's "
              "target: p99 <= 1000 ms); polling every 10 s (above) took %.1fx as long at p50, %.1fx at p99"
              % (len(elat), pct(elat, 50), pct(elat, 99), pct(lat, 50) / pct(elat, 50) if elat else 0,
                 pct(lat, 99) / pct(elat, 99) if elat else 0))
        print("bench: events mode while pushing: %s; %d poll cycles; CPU %.4fs for %d deploys; peak RSS %d kB"
              % (fmt_ops(ev["push_ops"]), ev["cycles_during"], ev["cpu_push"], len(elat), ev["rss"]))
        # Requests per hour, nothing pushed (each push costs its deploy's requests in either mode).
        # A long poll is answered every 20 s: counting them in a window is off by up to one, so the rate
        # is taken from the first to the last request of the window when there are enough.
        if ev["span"] and ev["span"][1] > 0:
            quiet_rate = ev["span"][0] * 3600.0 / ev["span"][1]
            how = "%d intervals in the %.1f s from the first to the last of them" % ev["span"]
        else:
            quiet_rate = ev["quiet_n"] * 3600.0 / ev["quiet_s"]
            how = "the count over the window"
        per_hour_events = quiet_rate + ev["cycle"] * 3600.0 / SAFETY_POLL
        per_cycle_poll = len(quiet_log) / float(quiet_n)
        per_hour_poll = per_cycle_poll * 60
        print("bench: events mode, nothing pushed: %d requests in %.1f s (%s; a ReceiveMessage answered every "
              "%.1f s) = %.0f an hour (from %s), plus %d safety cycles an hour (every %d s) x %d requests (its "
              "first cycle, measured) = %.0f requests an hour"
              % (ev["quiet_n"], ev["quiet_s"], fmt_ops(ev["quiet_ops"]), ev["poll_period"], quiet_rate, how,
                 3600 // SAFETY_POLL, SAFETY_POLL, ev["cycle"], per_hour_events))
        print("bench: polling every 60 s, nothing pushed: %d requests in %d quiet cycles of the polling run above "
              "(%s) = %.1f a cycle x 60 cycles = %.0f requests an hour (a cycle's requests do not depend on the "
              "interval)" % (len(quiet_log), quiet_n, fmt_ops(by_operation(quiet_log)), per_cycle_poll,
                             per_hour_poll))
        print("bench: polling every 60 s makes %.1fx the requests of events mode (the issue's target: at least "
              "10x)" % (per_hour_poll / per_hour_events if per_hour_events else 0))
        print("bench: requests_per_cycle=%d minimum=%d cpu_s_per_cycle=%.4f boto3_cpu_s_per_cycle=%.4f "
              "cpu_ratio=%.1f rss_kb=%d latency_p50_ms=%.0f latency_p99_ms=%.0f events_latency_p50_ms=%.0f "
              "events_latency_p99_ms=%.0f requests_per_hour_events=%.0f requests_per_hour_poll=%.0f "
              "floor_ratio=%.2f anon_kb=%.0f anon_bytes_per_tag=%.0f state_write_ms_100k=%.3f "
              "anon_peak_kb=%.0f anon_peak_bytes_per_tag=%.0f"
              % (requests, minimum, statistics.median(cpu), statistics.median(boto), statistics.median(boto_ratio),
                 rss, pct(lat, 50), pct(lat, 99), pct(elat, 50), pct(elat, 99), per_hour_events, per_hour_poll,
                 statistics.median(floor_ratio), own_big, slope, statistics.median(sw[100000]["sighting_cpu_ms"]),
                 own_big_peak, slope_peak))
        print("bench: took %.0f s (ctlbench follows)" % (time.monotonic() - t_start), file=sys.stderr)
        return 0
    finally:
        ctx.cleanup()


if __name__ == "__main__":
    sys.exit(main())
