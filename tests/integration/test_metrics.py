# SPDX-License-Identifier: MIT
"""Prometheus metrics (issue 15, docs/metrics.md) against awssim: the text exposition read from
metrics_file and from the control socket's `metrics` command, checked by a strict parser of the
text format 0.0.4 written here (and by `promtool check metrics` when it is installed); the counters
move as the simulator's request log says; a faulted call is counted with its outcome; the file is
replaced atomically (read in a loop while the daemon writes it); a deploy moves deploys_total and
the duration histogram."""

import json
import math
import os
import re
import shutil
import signal
import stat
import subprocess
import time

from harness import Failure, Sim, check, check_eq, ctl_request, daemon_path, wait_for
from test_daemon import daemon_env, lines_with, write_config
from test_deploy import DEPLOY_COMPLETED, service, settle_first_start, start, target, taskdef, world

NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


def parse_value(s, where):
    if s in ("+Inf", "-Inf", "NaN"):
        return float(s.replace("Inf", "inf").replace("NaN", "nan"))
    if not re.fullmatch(r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?", s):
        raise Failure("%s: value %r is not a number" % (where, s))
    return float(s)


def parse_labels(s, i, where):
    """Parses {name="value",...} from s[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    while True:
        if s[i:i + 1] == "}":
            return labels, i + 1
        m = re.match(r"[a-zA-Z_][a-zA-Z0-9_]*", s[i:])
        if not m:
            raise Failure("%s: a label name expected at %d" % (where, i))
        name = m.group(0)
        i += len(name)
        if s[i:i + 2] != '="':
            raise Failure("%s: '=\"' expected after label %s" % (where, name))
        i += 2
        value = []
        while True:
            if i >= len(s):
                raise Failure("%s: unterminated value of label %s" % (where, name))
            c = s[i]
            if c == "\\":
                nxt = s[i + 1:i + 2]
                if nxt not in ("\\", '"', "n"):
                    raise Failure("%s: bad escape \\%s in label %s" % (where, nxt, name))
                value.append("\n" if nxt == "n" else nxt)
                i += 2
            elif c == '"':
                i += 1
                break
            elif c == "\n":
                raise Failure("%s: raw newline in label %s" % (where, name))
            else:
                value.append(c)
                i += 1
        if name in labels:
            raise Failure("%s: label %s twice" % (where, name))
        labels[name] = "".join(value)
        if s[i:i + 1] == ",":
            i += 1
        elif s[i:i + 1] != "}":
            raise Failure("%s: ',' or '}' expected after label %s" % (where, name))


def family_of(name, types):
    for suffix in ("_bucket", "_sum", "_count"):
        if name.endswith(suffix) and types.get(name[:-len(suffix)]) == "histogram":
            return name[:-len(suffix)]
    return name


def parse(text):
    """The exposition, strictly: {"types", "help", "samples": [(name, labels, value)]}; raises
    Failure naming the line of anything out of the format or of Prometheus's conventions."""
    if not text.endswith("\n"):
        raise Failure("the exposition does not end with a newline (a partial file?)")
    types, helps, samples = {}, {}, []
    seen_series = set()
    done_families, current = set(), None
    for n, line in enumerate(text[:-1].split("\n"), 1):
        where = "line %d %r" % (n, line[:120])
        if line.startswith("#"):
            m = re.fullmatch(r"# (HELP|TYPE) (\S+) (.*)", line)
            if not m:
                raise Failure("%s: a comment that is neither # HELP nor # TYPE" % where)
            kind, name, rest = m.groups()
            if not NAME.match(name):
                raise Failure("%s: bad metric name" % where)
            if kind == "TYPE":
                if rest not in TYPES:
                    raise Failure("%s: unknown type" % where)
                if name in types:
                    raise Failure("%s: typed twice" % where)
                if any(family_of(s[0], types) == name for s in samples):
                    raise Failure("%s: TYPE after samples of the family" % where)
                types[name] = rest
            else:
                if name in helps:
                    raise Failure("%s: HELP twice" % where)
                if re.search(r"\\[^\\n]", rest) or rest.endswith("\\"):
                    raise Failure("%s: bad escape in HELP" % where)
                helps[name] = rest
            fam = name
        else:
            m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
            if not m:
                raise Failure("%s: not a sample" % where)
            name = m.group(0)
            i = len(name)
            labels = {}
            if line[i:i + 1] == "{":
                labels, i = parse_labels(line, i, where)
            rest = line[i:]
            if not rest.startswith(" "):
                raise Failure("%s: a space expected before the value" % where)
            parts = rest[1:].split(" ")
            if len(parts) not in (1, 2):
                raise Failure("%s: value [timestamp] expected" % where)
            value = parse_value(parts[0], where)
            fam = family_of(name, types)
            if fam not in types:
                raise Failure("%s: a sample of a family without # TYPE" % where)
            key = (name, tuple(sorted(labels.items())))
            if key in seen_series:
                raise Failure("%s: the same series twice" % where)
            seen_series.add(key)
            samples.append((name, labels, value))
        if fam != current:
            if fam in done_families:
                raise Failure("%s: family %s is not contiguous" % (where, fam))
            if current is not None:
                done_families.add(current)
            current = fam
    for name, t in types.items():
        if not name.startswith("ecr_deployd_"):
            raise Failure("%s: not ecr_deployd_ prefixed" % name)
        if (t == "counter") != name.endswith("_total"):
            raise Failure("%s: a %s; counters (and only they) end in _total" % (name, t))
        if name not in helps:
            raise Failure("%s: no # HELP" % name)
        if t == "histogram":
            check_histogram(name, samples)
    return {"types": types, "help": helps, "samples": samples}


def check_histogram(name, samples):
    series = {}
    for s_name, labels, value in samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        entry = series.setdefault(rest, {"buckets": [], "count": None, "sum": None})
        if s_name == name + "_bucket":
            if "le" not in labels:
                raise Failure("%s: a bucket without le" % name)
            entry["buckets"].append((parse_value(labels["le"], name), value))
        elif s_name == name + "_count":
            entry["count"] = value
        elif s_name == name + "_sum":
            entry["sum"] = value
    for rest, e in series.items():
        if not e["buckets"]:
            continue
        les = [le for le, _ in e["buckets"]]
        if les != sorted(les) or les[-1] != math.inf:
            raise Failure("%s%s: buckets not in order or no +Inf: %s" % (name, rest, les))
        counts = [v for _, v in e["buckets"]]
        if any(b < a for a, b in zip(counts, counts[1:])):
            raise Failure("%s%s: buckets not cumulative: %s" % (name, rest, counts))
        if e["count"] != counts[-1] or e["sum"] is None:
            raise Failure("%s%s: +Inf %s != _count %s" % (name, rest, counts[-1], e["count"]))


def value(parsed, name, **labels):
    """The value of the one sample of name whose labels include labels, or None."""
    hits = [v for n, l, v in parsed["samples"] if n == name and all(l.get(k) == x for k, x in labels.items())]
    if len(hits) > 1:
        raise Failure("%s%s: %d samples match" % (name, labels, len(hits)))
    return hits[0] if hits else None


def promtool(text):
    """Two independent readers besides parse(): the official Python client's parser
    (python3-prometheus-client, scripts/install-deps) must read every sample, and `promtool check
    metrics` must pass when it is installed (Debian ships it only in the 96 MB prometheus package,
    which scripts/install-deps does not install)."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        text_string_to_metric_families = None
    if text_string_to_metric_families:
        try:
            n = sum(len(f.samples) for f in text_string_to_metric_families(text))
        except Exception as e:  # noqa: BLE001 (any refusal of the client's parser is a failure)
            raise Failure("prometheus_client cannot parse the exposition: %r" % e)
        check_eq(n, len(parse(text)["samples"]), "samples prometheus_client read")
    tool = shutil.which("promtool")
    if not tool:
        return
    r = subprocess.run([tool, "check", "metrics"], input=text.encode(), capture_output=True, timeout=30)
    check(r.returncode == 0, "promtool check metrics: %s" % (r.stdout + r.stderr).decode(errors="replace"))


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None


def metrics_at(path, cond=None, timeout=20, what="the metrics file"):
    """The parsed file once it exists (and cond(parsed) holds)."""
    got = {}

    def ready():
        text = read(path)
        if text is None:
            return False
        got["p"] = parse(text)
        got["text"] = text
        return cond is None or cond(got["p"])
    wait_for(ready, timeout, what)
    return got["p"], got["text"]


def two_repos():
    """Two repositories (one with every odd character a repository name may have), a service each."""
    return {"settings": {"task_start_seconds": 0.3},
            "repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "v1"}]},
                             {"name": "team/api.v2_x-y", "images": [{"tag": "rel-1.0", "seed": "a1"}]}],
            "clusters": ["prod"],
            "task_definitions": [taskdef("web", "team/web"), taskdef("api", "team/api.v2_x-y", tag="rel-1.0")],
            "services": [service("web", "web"), service("api", "api")]}


def watches():
    return [{"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]},
            {"name": "api.v2-x_y", "repository": "team/api.v2_x-y", "tag": "rel-1.0", "targets": [target("api")]}]


def ecr_ok(sim, operation):
    return len([r for r in sim.requests(service="ecr", operation=operation) if r.get("status") == 200])


def test_metrics_file_format_and_counters_match_the_simulator(ctx):
    sim = Sim(ctx, seed=two_repos())
    path = ctx.path("metrics", "ecr-deployd.prom")
    os.makedirs(os.path.dirname(path))
    p = start(ctx, sim, watches(), metrics_file=path)
    parsed, text = metrics_at(path, lambda m: value(m, "ecr_deployd_poll_cycles_total") >= 1)
    promtool(text)
    types = parsed["types"]
    for name, t in (("ecr_deployd_info", "gauge"), ("ecr_deployd_start_time_seconds", "gauge"),
                    ("ecr_deployd_polls_total", "counter"), ("ecr_deployd_poll_failures_total", "counter"),
                    ("ecr_deployd_poll_cycles_total", "counter"),
                    ("ecr_deployd_last_successful_poll_timestamp_seconds", "gauge"),
                    ("ecr_deployd_aws_requests_total", "counter"), ("ecr_deployd_aws_retries_total", "counter"),
                    ("ecr_deployd_aws_retry_budget_tokens", "gauge"), ("ecr_deployd_deploys_total", "counter"),
                    ("ecr_deployd_rollout_duration_seconds", "histogram"),
                    ("ecr_deployd_watch_digest_info", "gauge")):
        check_eq(types.get(name), t, "the type of " + name)
    check_eq(value(parsed, "ecr_deployd_info", version="0.1.0"), 1.0, "ecr_deployd_info")
    check(abs(value(parsed, "ecr_deployd_start_time_seconds") - time.time()) < 120, "the start time")
    check(abs(value(parsed, "ecr_deployd_last_successful_poll_timestamp_seconds") - time.time()) < 60,
          "the last successful poll")
    check_eq(value(parsed, "ecr_deployd_aws_retry_budget_tokens"), 500.0, "a full retry budget")
    check_eq(value(parsed, "ecr_deployd_polls_total", repository="team/api.v2_x-y", region="us-east-1"), 1.0,
             "one read of the repository with odd characters")
    check_eq(value(parsed, "ecr_deployd_poll_failures_total", repository="team/web", region="us-east-1"), 0.0,
             "no failure, and a series at 0")
    # (both repositories are read at once: either request may come first)
    reads = {r["params"].get("repositoryName"): r for r in sim.requests(service="ecr", operation="DescribeImages")}
    check("team/web" in reads and "prod" in json.dumps(reads["team/web"]["params"]),
          "the watcher reads tags with DescribeImages: %s" % sorted(reads))
    digest = value(parsed, "ecr_deployd_watch_digest_info", watch="api.v2-x_y", tag="rel-1.0")
    check_eq(digest, 1.0, "the watch's digest info")
    d = [l for n, l, v in parsed["samples"] if n == "ecr_deployd_watch_digest_info" and l["watch"] == "web"]
    check(len(d) == 1 and re.fullmatch(r"sha256:[0-9a-f]{64}", d[0]["digest"]), "a digest label: %s" % d)
    # Stopped, the daemon writes the file one last time: every call it made is in it.
    settle_first_start(p, 2)
    p.stop()
    parsed, text = metrics_at(path)
    check_eq(value(parsed, "ecr_deployd_aws_requests_total", service="ecr", operation="DescribeImages",
                   outcome="ok"), float(ecr_ok(sim, "DescribeImages")),
             "DescribeImages ok as the simulator's request log counts them")
    ecs_ok = {}
    for r in sim.requests(service="ecs"):
        if r.get("status") == 200:
            ecs_ok[r["operation"]] = ecs_ok.get(r["operation"], 0) + 1
    check(ecs_ok, "the first start's inspection asked ECS")
    for op, n in ecs_ok.items():
        check_eq(value(parsed, "ecr_deployd_aws_requests_total", service="ecs", operation=op, outcome="ok"),
                 float(n), "ecs %s ok (%s; %s)" % (op, [l for l in text.splitlines() if "ecs" in l],
                                                  [(r["operation"], r.get("status")) for r in sim.requests()]))
    # No temporary file is left beside it, and the file is readable by a collector.
    check_eq(sorted(os.listdir(os.path.dirname(path))), ["ecr-deployd.prom"], "only the metrics file")
    check_eq(stat.S_IMODE(os.stat(path).st_mode), 0o644, "mode 0644")


def test_faulted_calls_are_counted_with_their_outcome(ctx):
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "v1"}]}]})
    path = ctx.path("ecr-deployd.prom")
    # The first read is throttled once (retried: one call, ok, one retry); the next is refused.
    sim.fault("ecr.DescribeImages", "throttle", count=1)
    p = start(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]}],
              metrics_file=path)
    parsed, _ = metrics_at(path, lambda m: value(m, "ecr_deployd_poll_cycles_total") >= 1)
    check_eq(value(parsed, "ecr_deployd_aws_requests_total", service="ecr", operation="DescribeImages",
                   outcome="ok"), 1.0, "the throttled call ended ok")
    check_eq(value(parsed, "ecr_deployd_aws_retries_total", service="ecr", operation="DescribeImages"), 1.0,
             "its retry counted")
    check_eq(value(parsed, "ecr_deployd_aws_retry_budget_tokens"), 500.0, "the retry paid back by its success")
    sim.fault("ecr.DescribeImages", "error", code="AccessDeniedException", message="no", count=1)
    p.signal(signal.SIGHUP)  # a reload polls at once
    parsed, text = metrics_at(path, lambda m: value(m, "ecr_deployd_poll_cycles_total") >= 2, what="cycle 2")
    promtool(text)
    check_eq(value(parsed, "ecr_deployd_aws_requests_total", service="ecr", operation="DescribeImages",
                   outcome="auth"), 1.0, "the refused call counted as auth")
    check_eq(value(parsed, "ecr_deployd_poll_failures_total", repository="team/web", region="us-east-1"), 1.0,
             "the failed read")
    check_eq(value(parsed, "ecr_deployd_polls_total", repository="team/web", region="us-east-1"), 2.0,
             "two reads")
    last = value(parsed, "ecr_deployd_last_successful_poll_timestamp_seconds")
    check(last is not None and last < time.time(), "the last successful poll is the first cycle's")
    p.stop()


def test_metrics_file_is_replaced_atomically(ctx):
    sim = Sim(ctx, seed=two_repos())
    path = ctx.path("ecr-deployd.prom")
    p = start(ctx, sim, watches(), metrics_file=path)
    metrics_at(path, lambda m: value(m, "ecr_deployd_poll_cycles_total") >= 1)
    inode = os.stat(path).st_ino
    cycles, reads, began = 1, 0, time.time()
    versions = set()
    while time.time() < began + 6:
        if reads % 50 == 0:
            p.signal(signal.SIGHUP)  # a cycle now; the file is written at most once a second
        try:
            versions.add(os.stat(path).st_mtime_ns)
        except FileNotFoundError:
            raise Failure("the file disappeared")
        text = read(path)
        check(text is not None, "the file never disappears")
        parsed = parse(text)  # never a partial file
        check(value(parsed, "ecr_deployd_info") == 1.0, "a whole file")
        cycles = max(cycles, value(parsed, "ecr_deployd_poll_cycles_total"))
        reads += 1
    check(cycles >= 3, "the daemon wrote while the file was read (%d cycles)" % cycles)
    check(reads > 100, "read in a loop (%d)" % reads)
    elapsed = time.time() - began
    check(len(versions) <= elapsed + 2, "at most one write a second: %d in %.1fs" % (len(versions), elapsed))
    check(cycles > len(versions), "cycles coalesced into fewer writes (%d cycles, %d writes)"
          % (cycles, len(versions)))
    check(os.stat(path).st_ino != inode, "replaced by a rename, not rewritten in place")
    writes = len(lines_with(p, "reloading the configuration"))
    check(writes >= 3, "reloads happened")
    p.stop()
    check_eq(sorted(f for f in os.listdir(ctx.path()) if "prom" in f), ["ecr-deployd.prom"],
             "no temporary file left")


def test_metrics_file_that_cannot_be_written_is_reported_once(ctx):
    sim = Sim(ctx, seed=two_repos())
    path = ctx.path("missing-dir", "ecr-deployd.prom")
    p = start(ctx, sim, watches(), metrics_file=path)
    wait_for(lambda: lines_with(p, "metrics: cannot create a temporary file beside"), 20, "the failure said")
    p.signal(signal.SIGHUP)
    wait_for(lambda: p.read_stderr().count("poll cycle:") >= 2, 20, "a second cycle")
    check_eq(len(lines_with(p, "metrics: cannot")), 1, "said once, not at every cycle")
    check("'%s'" % path in lines_with(p, "metrics: cannot")[0], "the path named")
    os.makedirs(os.path.dirname(path))
    p.signal(signal.SIGHUP)
    wait_for(lambda: read(path) is not None, 20, "written once the directory exists")
    wait_for(lambda: lines_with(p, "written again"), 5, "the recovery said")
    parse(read(path))
    p.stop()


def test_a_deploy_moves_deploys_total_and_the_histogram(ctx):
    sim = Sim(ctx, seed=world())
    path = ctx.path("ecr-deployd.prom")
    p = start(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]}],
              metrics_file=path)
    settle_first_start(p)
    sim.push("team/web", "prod", seed="v2")
    p.signal(signal.SIGHUP)
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    parsed, text = metrics_at(
        path, lambda m: value(m, "ecr_deployd_deploys_total", watch="web", target="web/web",
                              result="completed") == 1.0, what="the deploy counted")
    promtool(text)
    check_eq(value(parsed, "ecr_deployd_rollout_duration_seconds_count", result="completed"), 1.0,
             "one duration observed")
    check_eq(value(parsed, "ecr_deployd_rollout_duration_seconds_bucket", result="completed", le="+Inf"), 1.0,
             "+Inf bucket")
    check_eq(value(parsed, "ecr_deployd_rollout_duration_seconds_bucket", result="completed", le="60"), 1.0,
             "a quick rollout within 60 s")
    check(0 < value(parsed, "ecr_deployd_rollout_duration_seconds_sum", result="completed") < 60, "its sum")
    check_eq(value(parsed, "ecr_deployd_aws_requests_total", service="ecs", operation="UpdateService",
                   outcome="ok"), 1.0, "one UpdateService")
    p.stop()


def test_metrics_command_answers_the_exposition(ctx):
    sim = Sim(ctx, seed=two_repos())
    sock = ctx.control_socket()
    p = start(ctx, sim, watches())
    wait_for(lambda: p.read_stderr().count("poll cycle:") >= 1 and os.path.exists(sock), 20, "a cycle")
    reply = ctl_request(sock, "metrics", id=7)
    check(reply.get("ok") is True and reply.get("id") == 7, "ok: %s" % str(reply)[:300])
    text = reply["result"]["text"]
    parsed = parse(text)
    promtool(text)
    check(value(parsed, "ecr_deployd_poll_cycles_total") >= 1, "the cycle counted")
    check(value(parsed, "ecr_deployd_polls_total", repository="team/web", region="us-east-1") >= 1,
          "a read counted")
    check_eq(os.path.exists(ctx.path("ecr-deployd.prom")), False, "no metrics_file: no file")
    bad = ctl_request(sock, "metrics", args={"format": "json"})
    check(bad.get("ok") is False and bad["error"]["code"] == "bad-argument", "unknown args refused: %s" % bad)
    check("format" in bad["error"]["message"], "the key named")
    p.stop()


def test_target_gauges_and_rollouts_in_progress(ctx):
    w = world(services=("web", "web2"))
    w["settings"]["task_start_seconds"] = 2.0  # a rollout lasts long enough to be seen
    sim = Sim(ctx, seed=w)
    path = ctx.path("ecr-deployd.prom")
    sock = ctx.control_socket()
    p = start(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]},
                         {"name": "web2", "repository": "team/web", "tag": "prod",
                          "targets": [target("web2", paused=True)]}], metrics_file=path)
    settle_first_start(p)
    # The file is written from the start (info, start time), the watch's digest after the first cycle.
    first = metrics_at(path, lambda m: any(n == "ecr_deployd_watch_digest_info" for n, l, v in m["samples"]),
                       what="the watch's digest in the file")[0]
    old = [l for n, l, v in first["samples"] if n == "ecr_deployd_watch_digest_info"][0]["digest"]

    def now():
        reply = ctl_request(sock, "metrics")
        check(reply.get("ok") is True, "metrics answered: %s" % str(reply)[:300])
        return parse(reply["result"]["text"])
    wait_for(lambda: value(now(), "ecr_deployd_target_deployed_info", target="web/web") == 1.0, 10,
             "what web runs known")
    m = now()
    check_eq(value(m, "ecr_deployd_target_deployed_info", target="web/web", digest=old), 1.0,
             "web runs the first digest")
    check_eq(value(m, "ecr_deployd_target_paused", target="web/web"), 0.0, "web not paused")
    check_eq(value(m, "ecr_deployd_target_paused", target="web2/web2"), 1.0, "web2 paused by its config")
    check_eq(value(m, "ecr_deployd_target_pinned", target="web/web"), 0.0, "not pinned")
    check_eq(value(m, "ecr_deployd_target_blocked", target="web/web"), 0.0, "not blocked")
    check_eq(value(m, "ecr_deployd_rollouts_in_progress"), 0.0, "no rollout yet")
    new = sim.push("team/web", "prod", seed="v2")
    p.signal(signal.SIGHUP)
    wait_for(lambda: value(now(), "ecr_deployd_rollouts_in_progress") == 1.0, 15, "the rollout in progress")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    wait_for(lambda: value(now(), "ecr_deployd_rollouts_in_progress") == 0.0, 10, "the rollout over")
    m = now()
    td = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2"
    check_eq(value(m, "ecr_deployd_target_deployed_info", target="web/web", digest=new, task_definition=td),
             1.0, "web runs the new digest in its new task definition")
    check_eq(len([1 for n, l, v in m["samples"] if n == "ecr_deployd_target_deployed_info"
                  and l["target"] == "web/web"]), 1, "one series per target: replaced, not accumulated")
    check_eq(value(m, "ecr_deployd_watch_digest_info", watch="web", digest=new, tag="prod"), 1.0,
             "the watch's digest replaced")
    p.stop()


def test_the_file_follows_a_rollout_between_poll_cycles(ctx):
    """The file is rewritten when a rollout starts and ends, not only at the end of a poll cycle: a
    rollout that an operator's resume starts (no cycle runs; poll interval 10 minutes) shows as 1
    in progress while it runs, then 0."""
    w = world()
    w["settings"]["task_start_seconds"] = 3.0  # a rollout that lasts while the file is read
    sim = Sim(ctx, seed=w)
    path = ctx.path("ecr-deployd.prom")
    sock = ctx.control_socket()
    p = start(ctx, sim, [{"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]}],
              metrics_file=path, poll_interval="10m")
    settle_first_start(p)
    check(ctl_request(sock, "pause", {"name": "web/web"}).get("ok"), "paused")
    sim.push("team/web", "prod", seed="v2")
    p.signal(signal.SIGHUP)  # polls once: the new digest waits for the resume
    wait_for(lambda: [l for l in lines_with(p, "1826f1f7cb0c46f9bbff8b94c93dace0") if "REASON=paused" in l], 20,
             "SKIPPED paused")
    metrics_at(path, lambda m: value(m, "ecr_deployd_polls_total", repository="team/web", region="us-east-1") == 2.0,
               what="the cycle's write")
    time.sleep(1.5)  # past the once-a-second limit: what follows is a write of its own
    check(ctl_request(sock, "resume", {"name": "web/web"}).get("ok"), "resumed")
    metrics_at(path, lambda m: value(m, "ecr_deployd_rollouts_in_progress") == 1.0, timeout=10,
               what="the file says a rollout is in progress")
    check(not lines_with(p, DEPLOY_COMPLETED), "while it was in progress")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED")
    metrics_at(path, lambda m: value(m, "ecr_deployd_rollouts_in_progress") == 0.0, timeout=10,
               what="the file says it is over")
    p.stop()


def test_event_messages_are_counted_per_queue(ctx):
    import test_events
    sim = Sim(ctx, seed=test_events.world())
    p = test_events.start_events(ctx, sim)
    sim.push("team/web", "prod", seed="v2")
    wait_for(lambda: lines_with(p, DEPLOY_COMPLETED), 30, "DEPLOY_COMPLETED from the event")
    wait_for(lambda: test_events.queue_empty(sim), 10, "the messages deleted")
    sock = ctx.control_socket()

    def counted():
        m = parse(ctl_request(sock, "metrics")["result"]["text"])
        return m, value(m, "ecr_deployd_events_messages_total", queue=test_events.QUEUE_URL)

    def delivered():
        evs = sim.control("GET", "/events")
        evs = evs.get("events", evs) if isinstance(evs, dict) else evs
        return len([e for e in evs if e.get("fate") == "delivered"])
    # Every message the simulator delivered to the queue (the push's ECR event, the deployment's
    # ECS events) is received once (nothing is faulted) and counted once.
    wait_for(lambda: delivered() >= 1 and counted()[1] == delivered(), 10,
             "every delivered message counted")
    m, got = counted()
    check_eq(m["types"].get("ecr_deployd_events_messages_total"), "counter", "its type")
    p.stop()


def test_once_leaves_the_metrics_of_its_pass(ctx):
    """--once (a cron job with a textfile collector): the file holds its one cycle when it exits."""
    sim = Sim(ctx, seed=two_repos())
    path = ctx.path("ecr-deployd.prom")
    main = write_config(ctx, watches(), metrics_file=path)
    status, _, err = ctx.run([daemon_path(), "-c", main, "--once"], timeout=40, env=daemon_env(ctx, sim))
    check_eq(status, 0, "--once succeeded: %s" % err[-500:])
    parsed = parse(read(path))
    check_eq(value(parsed, "ecr_deployd_poll_cycles_total"), 1.0, "its one cycle")
    check_eq(value(parsed, "ecr_deployd_aws_requests_total", service="ecr", operation="DescribeImages",
                   outcome="ok"), float(ecr_ok(sim, "DescribeImages")), "every DescribeImages counted")


def test_strict_parser_refuses_what_prometheus_refuses(ctx):
    """The parser the tests rely on fails on each kind of broken exposition."""
    good = ('# HELP ecr_deployd_x_total X.\n# TYPE ecr_deployd_x_total counter\n'
            'ecr_deployd_x_total{a="q\\"b\\\\c\\nd"} 1\n')
    p = parse(good)
    check_eq(p["samples"][0][1]["a"], 'q"b\\c\nd', "escapes read back")
    bad = [
        good[:-1],  # no final newline (a partial file)
        good.replace("counter", "gauge"),  # a gauge named _total
        good + "# TYPE ecr_deployd_x_total counter\n",  # typed twice
        good + "# HELP ecr_deployd_y Y.\n# TYPE ecr_deployd_y gauge\necr_deployd_y 1\necr_deployd_x_total{a=\"z\"} 2\n",
        good.replace('\\"b', '"b'),  # an unescaped quote
        good.replace("\\\\c", "\\c"),  # a bad escape
        good + 'ecr_deployd_x_total{a="q\\"b\\\\c\\nd"} 2\n',  # the same series twice
        good.replace(" 1\n", " one\n"),
        "ecr_deployd_z 1\n",  # untyped sample
        "# a comment\n" + good,
        ('# HELP ecr_deployd_h H.\n# TYPE ecr_deployd_h histogram\n'
         'ecr_deployd_h_bucket{le="1"} 2\necr_deployd_h_bucket{le="+Inf"} 1\n'
         'ecr_deployd_h_sum 1\necr_deployd_h_count 1\n'),  # not cumulative
        ('# HELP ecr_deployd_h H.\n# TYPE ecr_deployd_h histogram\n'
         'ecr_deployd_h_bucket{le="1"} 1\necr_deployd_h_bucket{le="+Inf"} 2\n'
         'ecr_deployd_h_sum 1\necr_deployd_h_count 3\n'),  # +Inf != count
    ]
    for i, text in enumerate(bad):
        try:
            parse(text)
        except Failure:
            continue
        raise Failure("bad exposition %d was accepted: %r" % (i, text))
