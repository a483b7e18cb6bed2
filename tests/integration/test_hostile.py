# SPDX-License-Identifier: MIT
"""Hostile bytes and hostile timing (issue 11): strings from AWS with CR, LF, ESC and invalid
UTF-8 stay one line per event on stderr and in the journal; malformed digests from ECR are refused
and never recorded; a SIGHUP in the first milliseconds after exec does not kill the daemon."""

import ctypes
import json
import os
import re
import select
import signal
import time

from harness import Sim, check, check_eq, daemon_path, wait_for
from test_daemon import daemon_env, watch, write_config

STARTED = "ee6e35602fe74cadbc563c616de98d41"
STOPPING = "86682dd8e48845cd8b0c1447238a5012"


class OpenWatch:
    """Tells when a file is opened (inotify IN_OPEN): here, that the daemon's main() is running,
    since its first open is that of its configuration file."""

    IN_OPEN = 0x20

    def __init__(self, path):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self.libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
        check(self.fd >= 0, "inotify_init1: errno %d" % ctypes.get_errno())
        wd = self.libc.inotify_add_watch(self.fd, os.fsencode(path), self.IN_OPEN)
        check(wd >= 0, "inotify_add_watch: errno %d" % ctypes.get_errno())

    def wait_opened(self, timeout):
        r, _, _ = select.select([self.fd], [], [], timeout)
        check(r, "the file was not opened within %ss" % timeout)
        os.read(self.fd, 4096)

    def close(self):
        os.close(self.fd)


def test_sighup_in_the_first_milliseconds_does_not_kill(ctx):
    """SIGHUP at 0, 1, ..., 10 ms after the daemon's main() began (it opened its configuration
    file), three times each, while it reads a configuration of 1,000 drop-ins, before the loop and
    its handlers exist: the daemon stays up (the signals are blocked from the first line of main()
    until the loop handles them), reloads once it runs (the signal is not lost), and stops cleanly
    on SIGTERM. The dynamic loader's time before main() (about 8 ms here, 41 libraries) is a window
    no code in the program can close (see docs/architecture.md)."""
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    main = write_config(ctx, [watch("web", "team/web", tag="prod")], poll_interval="60s", log_level="info",
                        dry_run=True)
    for i in range(1000):
        ctx.write(os.path.join("etc", "conf.d", "w%04d.json" % i),
                  json.dumps({"watches": [watch("w%04d" % i, "team/web", tag="prod")]}))
    env = daemon_env(ctx, sim)
    died = []
    for delay_ms in range(0, 11):
        for attempt in range(3):
            opened = OpenWatch(main)
            try:
                p = ctx.spawn([daemon_path(), "-c", main], env=env, name="early-%d-%d" % (delay_ms, attempt))
                opened.wait_opened(10)
            finally:
                opened.close()
            time.sleep(delay_ms / 1000.0)  # the moment under test, not a wait for a condition
            p.signal(signal.SIGHUP)
            wait_for(lambda: not p.alive() or "configuration reloaded" in p.read_stderr(), 20,
                     "the start and the reload the SIGHUP asked for")
            if not p.alive():
                died.append("%d ms #%d: exit %s" % (delay_ms, attempt, p.popen.returncode))
                continue
            check(STARTED in p.read_stderr(), "started before reloading")
            p.signal(signal.SIGTERM)
            status = p.wait(10)
            if status != 0 or STOPPING not in p.read_stderr():
                died.append("%d ms #%d: SIGTERM gave exit %s" % (delay_ms, attempt, status))
    check_eq(died, [], "daemons killed by an early SIGHUP (or not stopped cleanly by SIGTERM)")


POLL_FAILED = "551228da42b8448f961a49f2d4aa3870"

BAD_DIGESTS = [
    "sha256:" + "g" * 64,                          # not hex
    "sha256:" + "a" * 63,                          # short
    "sha256:" + "A" * 64,                          # uppercase
    "sha256:" + "a" * 65,                          # long
    "sha256:" + "a" * 40 + '","image":"evil/x',    # quote-injected
    "sha256:" + "a" * 64 + "/../../../etc/passwd",  # path-injected
    "sha256:" + "a" * 64 + "\nMESSAGE_ID=forged",   # newline
]


def digest_world():
    from test_deploy import service, taskdef
    return {"settings": {"task_start_seconds": 0.3},
            "repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "w1"},
                                                             {"tag": "rel-1", "seed": "r1"}]},
                             {"name": "team/api", "images": [{"tag": "prod", "seed": "a1"}]}],
            "clusters": ["prod"],
            "task_definitions": [taskdef("web", "team/web"), taskdef("rel", "team/web", tag="rel-1"),
                                 taskdef("api", "team/api")],
            "services": [service(s, s) for s in ("web", "rel", "api")]}


def refusals(p):
    return [l for l in p.read_stderr().splitlines() if POLL_FAILED in l and "not an image digest" in l]


def test_malformed_digests_from_ecr_are_refused(ctx):
    """ECR answers a malformed digest (each of BAD_DIGESTS) for a tag read three ways: DescribeImages
    by tag (web), BatchGetImage (api: a missing tag makes the repository read that way) and the
    DescribeImages listing of a tag_glob rule (rel). Each is refused with a POLL_FAILED that names the
    watch, the tag and the value escaped; nothing is deployed, state.json never holds it, the other
    tags keep working, and the real digest deploys once ECR answers it."""
    from test_deploy import mutations, settle_first_start, start, target
    sim = Sim(ctx, seed=digest_world())
    watches = [{"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]},
               {"name": "rel", "repository": "team/web", "tag_glob": "rel-*", "targets": [target("rel")]},
               {"name": "api", "repository": "team/api", "tags": ["prod", "gone"], "targets": [target("api")]}]
    p = start(ctx, sim, watches, poll_interval="60s")
    settle_first_start(p, 3)
    since = sim.control("GET", "/requests")["last"]
    good = {"web": sim.push("team/web", "prod", seed="w2"), "api": sim.push("team/api", "prod", seed="a2"),
            "rel": sim.push("team/web", "rel-2", seed="r2")}
    for n, bad in enumerate(BAD_DIGESTS):
        for repo, tag in (("team/web", "prod"), ("team/web", "rel-2"), ("team/api", "prod")):
            sim.control("POST", "/reply-digest", {"repository": repo, "tag": tag, "digest": bad})
        p.signal(signal.SIGHUP)  # a reload polls at once
        wait_for(lambda: len(refusals(p)) >= 3 * (n + 1), 20, "three refusals of %r" % bad)
        lines = refusals(p)[3 * n:]
        shown = bad.replace("\n", "\\n")
        for watch_name, tag in (("web", "prod"), ("rel", "rel-2"), ("api", "prod")):
            check(any("WATCH=%s " % watch_name in l and "IMAGE_TAG=%s " % tag in l and "'%s'" % shown in l
                      for l in lines), "watch %s, tag %s, value %r named: %s" % (watch_name, tag, shown, lines))
    check_eq([r for r in mutations(sim, since)], [], "nothing deployed while ECR answers malformed digests")
    state = open(ctx.path("state", "state.json")).read()
    for bad in BAD_DIGESTS:
        check(bad not in state and json.dumps(bad)[1:-1] not in state, "state.json does not hold %r" % bad)
    check(p.alive(), "still running")
    # The real digests, once ECR answers them, deploy: the refusals recorded nothing.
    for repo, tag in (("team/web", "prod"), ("team/web", "rel-2"), ("team/api", "prod")):
        sim.control("POST", "/reply-digest", {"repository": repo, "tag": tag, "digest": None})
    p.signal(signal.SIGHUP)
    wait_for(lambda: len([l for l in p.read_stderr().splitlines()
                          if "b70dbb90cd4d4e0792b49aff021a4d9b" in l]) >= 3, 60, "three DEPLOY_COMPLETED")
    registered = [json.dumps(r.get("params")) for r in mutations(sim, since)
                  if r["operation"] == "RegisterTaskDefinition"]
    check_eq(len(registered), 3, "one registration per service: %s" % registered)
    for name, digest in good.items():
        check(any(digest in r for r in registered), "%s registered with %s" % (name, digest))
    for bad in BAD_DIGESTS:
        check(not any(json.dumps(bad)[1:-1] in r for r in registered), "%r never sent" % bad)


DEPLOY_STARTED = "fc46dc75a7434e1486ae650574bea85a"
DEPLOY_COMPLETED = "b70dbb90cd4d4e0792b49aff021a4d9b"
# CR, LF, a forged event line, ESC and two bytes that are not UTF-8 (sent raw by awssim)
HOSTILE = "x\r\n2026-01-01T00:00:00Z notice  deployed MESSAGE_ID=%s \x1b[31m\udcff\udcfe end" % DEPLOY_COMPLETED
HOSTILE_SHOWN = ("x\\r\\n2026-01-01T00:00:00Z notice  deployed MESSAGE_ID=%s \\x1b[31m\\xff\\xfe end"
                 % DEPLOY_COMPLETED)
HOSTILE_TAG = "rel-2\r\n\x1b[31m\udcff"
HOSTILE_TAG_SHOWN = "rel-2\\r\\n\\x1b[31m\\xff"
EVENT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (error|warning|notice|info|debug) +\S")


def feed_every_source(ctx, sim, p, text):
    """Makes AWS answer HOSTILE through each source; text() is what the daemon logged so far, one
    event per entry. Returns {source: predicate} to find each source's event."""
    def has(pred, what, timeout=30):
        try:
            wait_for(lambda: any(pred(m) for m in text()), timeout, what)
        except Exception:
            print("\n".join(text()[-40:]))
            raise
    # 1. An AWS error message: every DescribeImages fails with it until the fault is cleared.
    has(lambda m: "polling 'team/web' failed: ServerException: " + HOSTILE_SHOWN in m, "the error message")
    sim.control("DELETE", "/faults")
    p.signal(signal.SIGHUP)
    has(lambda m: "already runs" in m and "'api'" in m, "first-start inspection of api")
    # 2. A digest.
    sim.control("POST", "/reply-digest", {"repository": "team/web", "tag": "prod", "digest": "sha256:" + HOSTILE})
    sim.push("team/web", "prod", seed="w2")
    p.signal(signal.SIGHUP)
    has(lambda m: "ECR answered 'sha256:" + HOSTILE_SHOWN + "' as the digest" in m, "the digest")
    # 3. A task-definition ARN: RegisterTaskDefinition answers it, UpdateService refuses it.
    arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/api:2" + HOSTILE
    sim.control("POST", "/reply-taskdef-arn", {"family": "api", "arn": arn})
    sim.push("team/api", "prod", seed="a2")
    p.signal(signal.SIGHUP)
    has(lambda m: "registered arn:aws:ecs:us-east-1:123456789012:task-definition/api:2" + HOSTILE_SHOWN in m,
        "the task-definition ARN")
    # 4. A tag outside Docker's grammar in the listing a tag_glob rule reads: never followed (see
    #    images.c), so it reaches no event at all; checked below, after the polls of step 5.
    sim.push("team/web", HOSTILE_TAG, seed="r2")
    p.signal(signal.SIGHUP)
    # 5. An ECS service event, during the rollout of web's digest once ECR answers it well.
    sim.settings(task_start_seconds=3)
    sim.control("POST", "/reply-digest", {"repository": "team/web", "tag": "prod", "digest": None})
    p.signal(signal.SIGHUP)
    has(lambda m: "deploying " in m and "to service 'web'" in m, "the deploy of web")
    sim.control("POST", "/service-event", {"cluster": "prod", "service": "web", "message": HOSTILE})
    has(lambda m: "service 'web': ECS: " + HOSTILE_SHOWN in m, "the ECS event", timeout=40)
    check(not any(HOSTILE_TAG_SHOWN in m or HOSTILE_TAG[:6] in m for m in text()),
          "the hostile tag was never followed nor shown")


def test_hostile_strings_stay_one_line_on_stderr(ctx):
    """Each source of AWS strings (an error message, a digest, a task-definition ARN, a tag (never
    followed: it is not a tag Docker can name), an ECS event) answers CR, LF, a forged 'deployed ... MESSAGE_ID=' line, ESC and invalid UTF-8: every
    line of stderr is one whole event, the bytes are shown escaped, no forged line starts."""
    from test_deploy import start, target
    sim = Sim(ctx, seed=digest_world())
    sim.fault("ecr.DescribeImages", "500", rate=1.0, message=HOSTILE)
    watches = [{"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]},
               {"name": "rel", "repository": "team/web", "tag_glob": "rel-*", "targets": [target("rel")]},
               {"name": "api", "repository": "team/api", "tag": "prod", "targets": [target("api")]}]
    p = start(ctx, sim, watches, poll_interval="10s")

    def lines():
        with open(p.stderr_path, "rb") as f:
            return f.read().decode("utf-8", "replace").split("\n")

    feed_every_source(ctx, sim, p, lines)
    with open(p.stderr_path, "rb") as f:
        raw = f.read()
    check(b"\r" not in raw and b"\x1b" not in raw, "no CR or ESC reaches stderr")
    raw.decode("utf-8")  # raises on any byte that is not UTF-8
    bad = [l for l in raw.decode().split("\n")[:-1] if not EVENT_LINE.match(l)]
    check_eq(bad, [], "lines of stderr that are not one whole event")
    check(not any(l.startswith("2026-01-01T00:00:00Z") for l in raw.decode().split("\n")), "no forged line")


def test_hostile_strings_stay_one_line_in_the_journal(ctx):
    """As above, logging to a real journald: each entry's MESSAGE is one printable line with the
    bytes escaped, and no entry carries a forged MESSAGE_ID."""
    from test_deploy import target
    from test_journal import ensure_journald, entries
    ensure_journald()
    sim = Sim(ctx, seed=digest_world())
    sim.fault("ecr.DescribeImages", "500", rate=1.0, message=HOSTILE)
    watches = [{"name": "web-j", "repository": "team/web", "tag": "prod", "targets": [target("web")]},
               {"name": "rel", "repository": "team/web", "tag_glob": "rel-*", "targets": [target("rel")]},
               {"name": "api", "repository": "team/api", "tag": "prod", "targets": [target("api")]}]
    main = write_config(ctx, watches, poll_interval="10s")
    p = ctx.spawn([daemon_path(), "-c", main, "--log-target=journal", "--log-level=debug"],
                  env=daemon_env(ctx, sim), name="ecr-deployd")

    def messages():
        return [e["MESSAGE"] if isinstance(e["MESSAGE"], str) else repr(e["MESSAGE"]) for e in entries(p.pid)]

    feed_every_source(ctx, sim, p, messages)
    all_entries = entries(p.pid)
    for e in all_entries:
        m = e["MESSAGE"]
        check(isinstance(m, str), "MESSAGE is text, not bytes: %r" % (m,))
        check("\n" not in m and "\r" not in m and "\x1b" not in m and "\ufffd" not in m, "one safe line: %r" % m)
        if e.get("MESSAGE_ID") == DEPLOY_COMPLETED:
            check(e.get("ECS_SERVICE") == "web", "a genuine DEPLOY_COMPLETED only: %r" % e)
    check(any("MESSAGE_ID=" + DEPLOY_COMPLETED in e["MESSAGE"] for e in all_entries), "the forged text is shown")


def test_an_endless_chain_of_pages_is_cut(ctx):
    """ECR's DescribeImages listing answers, for ever, an empty page naming a next page: the
    daemon follows at most PAGES_MAX (200) pages of the repository a cycle, then reports the
    repository failed (POLL_FAILED, TooManyPages) and the next cycle starts over; another
    repository's watch keeps deploying."""
    from test_deploy import mutations, settle_first_start, start, target
    sim = Sim(ctx, seed=digest_world())
    watches = [{"name": "rel", "repository": "team/web", "tag_glob": "rel-*", "targets": [target("rel")]},
               {"name": "api", "repository": "team/api", "tags": ["prod", "gone"], "targets": [target("api")]}]
    p = start(ctx, sim, watches, poll_interval="60s")
    settle_first_start(p, 2)
    since = sim.control("GET", "/requests")["last"]
    sim.control("POST", "/endless-pages", {"repository": "team/web"})
    good = sim.push("team/api", "prod", seed="a2")
    p.signal(signal.SIGHUP)  # a reload polls at once
    wait_for(lambda: [l for l in p.read_stderr().splitlines() if "TooManyPages" in l], 60, "TooManyPages")
    listed = [r for r in sim.requests(since) if r["operation"] == "DescribeImages"
              and r["params"].get("repositoryName") == "team/web" and "imageIds" not in r["params"]]
    check_eq(len(listed), 200, "pages of team/web asked for in one cycle")
    wait_for(lambda: any(good in json.dumps(r.get("params")) for r in mutations(sim, since)
                         if r["operation"] == "RegisterTaskDefinition"), 30, "team/api deployed all the same")
    check(p.alive(), "still running")
