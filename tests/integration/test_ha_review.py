# SPDX-License-Identifier: MIT
"""A hostile review of high availability (issue 18): each test is a defect found by review and
fails against the code as reviewed; its docstring says what should happen instead.

Uses test_ha's world (three instances with keys of their own, a 3 s lease) and the simulator's
per-caller faults."""

import os
import signal
import time

from harness import Failure, check, check_eq, ctl_request, wait_for
from test_daemon import lines_with
from test_deploy import DEPLOY_COMPLETED, target
from test_ha import (GROUP, KEYS, LEASE_S, TABLE, Group, ddb_log, first_start_done, ha_sim, ha_world, is_lease_key,
                     item, items, lease_item, partition, web_watch)
from test_notifications import NOTIFY_ENV, Hooks, event_id

TKEY = "us-east-1/prod/web"
TARGET_SK = "t/web/" + TKEY


def put_item(sim, attrs):
    sim.control("POST", "/dynamodb/items", {"table": TABLE, "item": attrs})


def lease_write_keys(calls, since_mono):
    """The access keys whose lease writes (PutItem/UpdateItem of the lease item) succeeded after
    since_mono (the simulator's monotonic clock, which is the test's time.monotonic())."""
    return {c["access_key"] for c in calls if c["op"] in ("PutItem", "UpdateItem") and c.get("outcome") == "ok"
            and c.get("mono", 0) >= since_mono and any(is_lease_key(k) for k in c.get("keys") or [])}


def with_env(inst, **extra):
    orig = inst.env
    inst.env = lambda: dict(orig(), **extra)


def fd_targets(pid):
    out = []
    d = "/proc/%d/fd" % pid
    for fd in os.listdir(d):
        try:
            out.append((int(fd), os.readlink(os.path.join(d, fd))))
        except OSError:
            pass
    return sorted(out)


# -- split brain ---------------------------------------------------------------------------------------

def test_review_two_processes_with_one_instance_id_never_both_lead(ctx):
    """Two processes configured with the same ha.instance_id (a config file copied between hosts,
    or the default host name shared by two containers on one host) and started at once. Both read
    the lease missing and PutItem it; the loser's check reads owner == its own id and term == the
    term it tried, and adopts the winner's lease as its own (daemon/lease.c on_check, the 'our own
    write, whose answer was lost' branch; on_read has the same one): both say leading, both pass
    the fence (owner + term are the same), both renew, adopting each other's versions forever.
    What should happen: the adoption must prove the write was this process's (a random token per
    process written in the item and compared, or the version this process wrote), so that exactly
    one of them leads and the other stands by (and says that another process uses its id)."""
    sim = ha_sim(ctx, ha_world())
    g = Group(ctx, sim, [web_watch()], n=2)
    a, b = g.insts
    b.write_config(instance_id=a.name)  # same id, its own access key
    # Each one's take of the missing item lands 0.6 s after it was sent, so that both have read the
    # item missing before either take lands (whatever the start-up jitter): the race of a
    # simultaneous start, made certain.
    sim.control("POST", "/faults", {"rules": [{"match": "dynamodb.PutItem", "kind": "delay", "delay": 0.6,
                                               "count": 2}]})
    g.start()
    t0 = time.monotonic()
    both = []
    while time.monotonic() < t0 + 8:
        roles = (a.role(), b.role())
        if roles == ("leading", "leading"):
            both.append(round(time.monotonic() - t0, 2))
        time.sleep(0.2)
    writers = lease_write_keys(ddb_log(sim), time.monotonic() - 4)
    names = sorted({k: n for n, (k, _, _) in KEYS.items()}[k] for k in writers)
    check_eq(both, [], "moments where both processes said 'leading'")
    check(len(writers) <= 1, "lease renewals by both processes in the same 4 s (split brain): %s" % names)


# -- bad table contents ----------------------------------------------------------------------------------

def test_review_one_item_of_a_wrong_type_does_not_stop_every_instance(ctx):
    """One state item whose 'doc' is a number instead of a string (a hand edit, a tool, another
    version). state_open_table() has a whole design for unusable items (copied aside, left out,
    the state reset), but ddb_read_all() refuses the whole Query first (ddb_parse_state_item:
    'attribute doc is not a string'), so on_lease_leading() fails, the leader exits, releases, the
    next takes and exits the same way: the whole group is down (and under systemd's Restart=,
    a crash loop) because of one item. What should happen: the item is treated like an unusable
    doc (set aside, said), one instance leads and deploys."""
    sim = ha_sim(ctx, ha_world())
    put_item(sim, {"pk": {"S": GROUP}, "sk": {"S": "t/web/bogus"}, "doc": {"N": "7"}})
    g = Group(ctx, sim, [web_watch()], n=2).start()
    try:
        leader = g.wait_one_leader(timeout=20)
    except Failure:
        errs = [l for i in g.insts for l in i.stderr().splitlines() if "cannot lead" in l]
        raise Failure("no instance could lead; %d of 2 exited: %s" % (
            len([i for i in g.insts if not i.alive()]), errs[:2]))
    first_start_done(leader)
    new = sim.push("team/web", "prod", seed="v2")
    leader.p.signal(signal.SIGHUP)
    wait_for(lambda: [l for l in lines_with(leader.p, DEPLOY_COMPLETED) if new in l], 30, "the leader deploys")


# -- the outbox and the gate -------------------------------------------------------------------------------

def test_review_a_suspended_leader_delivers_no_webhook(ctx):
    """The contract (ha-spec 'The gate'): the outbox checks the gate before each delivery attempt.
    daemon/outbox.c has no such check (setup_outbox() in daemon/daemon.c passes it no gate): a
    leader cut off from DynamoDB, suspended, keeps delivering its pending webhooks, while whoever
    leads next reads the same entries from the table (the suspended one cannot remove them: its
    writes are refused) and delivers them again. What should happen: no delivery attempt while
    lease_may_act() is false; the entries wait for whoever leads."""
    sim = ha_sim(ctx, ha_world())
    h = Hooks(ctx)
    g = Group(ctx, sim, [web_watch()], n=1, aws={"region": "us-east-1", "ca_bundle": h.ca})
    a = g.insts[0]
    path = "/all/TOKA"
    url_file = ctx.write("url-a", h.recv.url(path) + "\n")
    os.chmod(url_file, 0o600)
    g.settings["notify"] = [{"type": "webhook", "name": "all", "url_file": url_file, "timeout": "2s",
                             "events": ["deploy-started", "deploy-completed"]}]
    a.write_config()
    with_env(a, **NOTIFY_ENV)
    a.start()
    wait_for(lambda: a.role() == "leading", 15, "a leads")
    first_start_done(a)
    h.recv.set_mode("down")
    new = sim.push("team/web", "prod", seed="v2")
    a.p.signal(signal.SIGHUP)
    wait_for(lambda: [l for l in lines_with(a.p, DEPLOY_COMPLETED) if new in l], 30, "a deploys")
    wait_for(lambda: len([i for i in items(sim) if i["sk"].startswith("o/")]) >= 2, 10,
             "two notifications waiting in the table's outbox")
    partition(sim, a)
    wait_for(lambda: a.role() == "suspended", 10, "a suspended")
    n0 = len(h.recv.requests())
    h.recv.set_mode("ok")
    time.sleep(3.0)  # the backoff is at most 1 s (NOTIFY_ENV)
    check_eq(a.role(), "suspended", "a is still suspended")
    sent = [r for r in h.recv.requests()[n0:] if r.path == path]
    check_eq(sent, [], "webhook attempts by the suspended leader")


# -- an unknown outcome told as a failure -----------------------------------------------------------------

def test_review_a_pause_whose_write_reply_is_lost_is_not_said_undone(ctx):
    """The operator pauses a target; the fenced write lands in DynamoDB but its reply is lost
    (blackhole-after). ddb_write() says -EAGAIN ('no answer in 3000 ms'), commit()
    (daemon/cmd_target.c) undoes the change in memory and answers 'nothing was changed' — but the
    table holds the pause: the leader deploys to the target it says is not paused, and whoever
    leads next honours a pause the operator was told did not happen. What should happen: a write
    whose outcome is unknown is not reported as undone (say it may have been applied, and make
    memory and table agree: write the undone part again, or read the item back)."""
    sim = ha_sim(ctx, ha_world())
    g = Group(ctx, sim, [web_watch()], n=1).start()
    a = g.insts[0]
    wait_for(lambda: a.role() == "leading", 15, "a leads")
    first_start_done(a)
    sim.control("POST", "/faults", {"rules": [{"match": "dynamodb.TransactWriteItems", "kind": "blackhole-after",
                                               "access_key": a.key[0], "count": 1, "hold": 10}]})
    r = ctl_request(a.sock, "pause", {"name": "web/web", "reason": "review"}, timeout=15)
    msg = (r.get("error") or {}).get("message", "")
    it = item(sim, TARGET_SK) or {}
    in_table = "review" in (it.get("doc") or "")
    print("review: pause answered %s: %r; the table's item: %r" % (r.get("ok"), msg, it.get("doc")))
    check(not (in_table and "nothing was changed" in msg),
          "the pause is in the table, yet the operator was told 'nothing was changed'")
    wait_for(lambda: a.role() == "leading", 10, "a leads again")
    st = ctl_request(a.sock, "status")
    check(in_table == ("review" in str(st)), "what the leader says of the pause (%s) is what the table holds (%s)"
          % ("review" in str(st), in_table))


# -- demotion -----------------------------------------------------------------------------------------------

def take_by_hand(sim, owner="host-z"):
    """Writes the lease item as another instance's takeover would (owner, term + 1)."""
    lease = lease_item(sim)
    put_item(sim, {"pk": {"S": GROUP}, "sk": {"S": "lease"}, "owner": {"S": owner},
                   "term": {"N": str(int(lease["term"]) + 1)}, "version": {"N": str(int(lease["version"]) + 5)},
                   "lease_ms": {"N": "60000"}, "since": {"N": "1"}, "host": {"S": "z"}})


def test_review_a_demoted_leader_stands_by_again(ctx):
    """Another instance takes the lease (here by hand: owner changed, term + 1): the leader
    demotes itself by execv() of /proc/self/exe with its environment (daemon/daemon.c
    daemon_run). But common/credentials.c (env_secret) wiped AWS_SECRET_ACCESS_KEY,
    AWS_SESSION_TOKEN and AWS_CONTAINER_AUTHORIZATION_TOKEN in environ at the first read, so the
    new image starts with the key id and no secret: 'CredentialsError: AWS_ACCESS_KEY_ID is set
    but AWS_SECRET_ACCESS_KEY is not' at every lease read, forever 'starting', never exiting (so
    systemd's Restart= never helps): each demotion of an instance with environment credentials
    (or ECS container credentials with a token) removes it from the group for good. What should
    happen: the demoted process stands by again under the new leader (hand the secrets to the new
    image, or exit(75) for systemd to restart it), and it keeps no descriptor of the old one."""
    sim = ha_sim(ctx, ha_world())
    g = Group(ctx, sim, [web_watch()], n=2)
    a, s = g.insts
    a.start()
    wait_for(lambda: a.role() == "leading", 15, "a leads")
    first_start_done(a)
    s.start()
    wait_for(lambda: s.role() == "standby", 15, "a fresh standby")
    pid = a.p.pid
    before = set(t for _, t in fd_targets(pid))
    take_by_hand(sim)
    wait_for(lambda: lines_with(a.p, "stepping down"), 10, "a steps down")
    wait_for(lambda: a.status() is not None, 10, "the new image answers its control socket")
    check(a.alive() and a.p.pid == pid, "a kept its PID")
    try:
        wait_for(lambda: a.role() == "standby" and a.ha().get("leader") == "host-z", 10,
                 "the demoted leader standing by under host-z")
    except Failure:
        errs = [l for l in a.stderr().splitlines() if "CredentialsError" in l or "failed" in l]
        raise Failure("the demoted leader does not stand by (role %r): %s" % (a.role(), errs[-1:]))
    after = set(t for _, t in fd_targets(pid))
    # A socket or file of the leader's life still open in the new image was inherited (leaked);
    # stdin/stdout/stderr excepted.
    kept = sorted(t for t in before & after if t.startswith("socket:") or (t.startswith("/") and
                  t != "/dev/null" and not t.endswith((".out", ".err"))))
    check_eq(kept, [], "descriptors of the leader inherited by the demoted standby")
    anon = lambda pid_: len([t for _, t in fd_targets(pid_) if t.startswith("anon_inode:")])  # noqa: E731
    check(anon(pid) <= anon(s.p.pid), "event descriptors: demoted %d, fresh standby %d" % (anon(pid), anon(s.p.pid)))


# -- takeover after a wait ---------------------------------------------------------------------------------

def test_review_a_standby_that_waited_takes_over_and_leads(ctx):
    """A standby that has stood by for more than 3 s takes the lease (here at the leader's
    SIGTERM). Its first blocking call, the Query of the whole state (on_lease_leading ->
    state_open_table -> ddb_read_all -> call_blocking, daemon/ddb.c), arms its timeout on the
    private loop, whose cached time (ev_now) is that of its last run - the daemon's start: the
    timer is already past, the call 'times out' at once ('cannot lead: ... Query: no answer in
    3000 ms'), the heir releases and exits. The same stale clock makes the SIGTERM release of a
    leader idle for more than 1 s fail at once (ddb_lease_write_wait), so the planned failover
    waits a whole lease instead of under a second. (write_tx calls ev_now_update() first; the
    other blocking calls do not.) What should happen: the release succeeds, the standby leads and
    keeps leading."""
    sim = ha_sim(ctx, ha_world())
    g = Group(ctx, sim, [web_watch()], n=2)
    a, b = g.insts
    a.start()
    wait_for(lambda: a.role() == "leading", 15, "a leads")
    first_start_done(a)
    b.start()
    wait_for(lambda: b.role() == "standby", 15, "b stands by")
    time.sleep(4.0)  # both idle a while: a leads with nothing to write, b stands by
    t0 = time.monotonic()
    a.p.signal(signal.SIGTERM)
    a.p.wait(10)
    problems = [l for l in a.stderr().splitlines() if "could not be released" in l]
    try:
        wait_for(lambda: b.role() == "leading", LEASE_S + 3, "b leads")
        took = time.monotonic() - t0
        time.sleep(1.0)
        if not b.alive() or b.role() != "leading":
            raise Failure("b stopped leading")
    except Failure:
        took = None
        problems += [l for l in b.stderr().splitlines() if "cannot lead" in l] or ["b never led"]
    check_eq(problems, [], "a's release and b's takeover (b led after %s s)" % took)
    check(took < 1.5, "failover in under a second and a half after SIGTERM (%.2fs)" % took)


# -- configurations that differ between instances -----------------------------------------------------------

def test_review_a_leader_without_a_target_keeps_the_operators_pause_of_it(ctx):
    """Instances of a group run different configurations for a while (a configuration rolled out
    host by host). The operator pauses web/web on the leader a; b, whose configuration does not
    have that target yet (or any more), takes over: at setup_work() prune_overrides()
    (daemon/daemon.c, state_prune_overrides) drops every pause and pin of targets b does not know,
    and writes that to the shared table. When a (or any instance that has the target) leads
    again, the pause is gone and the target deploys against the operator's order. The reason for
    pruning in a single instance (an override out of reach of status) does not hold in a group:
    the target is another instance's. What should happen: a leader leaves alone the overrides of
    watches and targets it does not have (or prunes only what no instance could have, e.g. with an
    explicit command)."""
    sim = ha_sim(ctx, ha_world(services=("web", "api")))
    g = Group(ctx, sim, [web_watch()], n=2)
    a, b = g.insts
    g.watches = [web_watch(target("api"))]
    b.write_config()
    a.start()
    wait_for(lambda: a.role() == "leading", 15, "a leads")
    first_start_done(a)
    b.start()
    wait_for(lambda: b.role() == "standby", 15, "b stands by")
    r = ctl_request(a.sock, "pause", {"name": "web/web", "reason": "incident 42"})
    check(r.get("ok"), "a paused web/web: %s" % r)
    check("incident 42" in (item(sim, TARGET_SK) or {}).get("doc", ""), "the pause is in the table")
    a.p.signal(signal.SIGTERM)  # at once: a's release and b's first read run before their clocks go stale
    a.p.wait(10)
    wait_for(lambda: b.role() == "leading", LEASE_S + 3, "b leads")
    wait_for(lambda: lines_with(b.p, "already runs"), 20, "b's first cycle")
    time.sleep(0.5)
    doc = (item(sim, TARGET_SK) or {}).get("doc", "")
    check("incident 42" in doc, "the operator's pause of web/web is still in the table: %r" % doc)


# -- operations on a standby ---------------------------------------------------------------------------------

def test_review_a_standby_survives_sighup_and_reload(ctx):
    """SIGHUP (systemctl reload) of a standby, and the control socket's 'reload' (which the standby's
    filter lets through: daemon/daemon.c control_filter): reload() goes on to history_set_max(),
    outbox_reload() and watcher_config_changed() with the parts only a leader has (NULL in a
    standby: open_state()/setup_work() run at on_lease_leading), and the standby dies without a
    word. Every 'systemctl reload' of a group kills its standbys (test_ha signals every instance).
    What should happen: the standby reloads its configuration (the ha keys refused as at a
    leader), says so, answers the reload, and stands by."""
    sim = ha_sim(ctx, ha_world())
    g = Group(ctx, sim, [web_watch()], n=3)
    a, b, c = g.insts
    a.start()
    wait_for(lambda: a.role() == "leading", 15, "a leads")
    first_start_done(a)
    b.start()
    c.start()
    wait_for(lambda: b.role() == "standby" and c.role() == "standby", 15, "b and c stand by")
    b.p.signal(signal.SIGHUP)
    try:
        r = ctl_request(c.sock, "reload", {})
    except Failure as e:
        r = {"error": str(e)}
    time.sleep(1.0)
    check_eq((b.alive(), b.role()), (True, "standby"), "b after SIGHUP")
    check_eq((c.alive(), c.role(), r.get("ok")), (True, "standby", True), "c after the reload command (%s)" % r)


# -- a lease item edited by hand -----------------------------------------------------------------------------

def test_review_a_lease_item_that_cannot_be_read_is_said_once_not_flooded(ctx):
    """The lease item's version is made a string by hand while a leads. a's renewal fails its
    condition (-ESTALE: 'answers again' is logged, daemon/lease.c on_write -> answered()), the check
    read cannot parse the item (-EPROTO: 'GetItem failed' logged, on_check -> failed()), a renews
    again after lease/12 (250 ms), and so on: two log lines four times a second for as long as the
    item stays so, each cycle two DynamoDB calls. What should happen: the problem is said once per
    streak (as failed() promises), with the attribute named, and the calls back off."""
    sim = ha_sim(ctx, ha_world())
    g = Group(ctx, sim, [web_watch()], n=1).start()
    a = g.insts[0]
    wait_for(lambda: a.role() == "leading", 15, "a leads")
    first_start_done(a)
    lease = lease_item(sim)
    attrs = {"pk": {"S": GROUP}, "sk": {"S": "lease"}, "owner": {"S": lease["owner"]},
             "term": {"N": str(lease["term"])}, "version": {"S": "seven"},
             "lease_ms": {"N": str(lease["lease_ms"])}, "since": {"N": str(lease["since"])},
             "host": {"S": lease.get("host", "x")}}
    mark = len(a.stderr())
    put_item(sim, attrs)
    time.sleep(5.0)
    said = [l for l in a.stderr()[mark:].splitlines() if " ha: " in l]
    calls = [c for c in ddb_log(sim) if c["access_key"] == a.key[0] and c.get("mono", 0) > time.monotonic() - 4]
    print("review: %d lines, %d DynamoDB calls in 4 s; first: %s" % (len(said), len(calls), said[:3]))
    check(len(said) <= 4, "the unreadable lease item said %d times in 5 s" % len(said))


# -- the fence's refusal ---------------------------------------------------------------------------------------

def test_review_a_write_refused_by_the_fence_stops_the_leader_at_once(ctx):
    """The fence refuses a's write (another instance holds the lease, here written by hand, while a's
    renewals are held in the network so that a's own clock still says valid). The contract: such a
    refusal means 'another instance leads', never a transient error, and the lease module demotes
    the process; docs/ha.md: 'EVENT_HA_FENCED, then LOST'. But nothing handles -ESTALE: the callers
    treat it as any failed write (cmd_target.c commit(), rollout_persist() retry later), and
    EVENT_HA_FENCED (daemon/events.h) is never logged. The gate stays open on a's clock (up to
    lease - lease/4 after its last renewal: 15 s by default) for every other mutating call: ECS
    steps whose record was written before, DeleteMessage, webhooks. What should happen: the first
    refusal by the fence logs EVENT_HA_FENCED and closes the gate at once (LOST, demotion)."""
    sim = ha_sim(ctx, ha_world())
    g = Group(ctx, sim, [web_watch()], n=1).start()
    a = g.insts[0]
    wait_for(lambda: a.role() == "leading", 15, "a leads")
    first_start_done(a)
    partition(sim, a, ops=("UpdateItem",))
    take_by_hand(sim)
    r = ctl_request(a.sock, "pause", {"name": "web/web", "reason": "after the takeover"})
    role = a.role()
    check(not r.get("ok"), "the pause was refused: %s" % r)
    refused = [c for c in ddb_log(sim) if c["access_key"] == a.key[0] and c["op"] == "TransactWriteItems"]
    check(refused and (refused[-1].get("reasons") or [None])[0] == "ConditionalCheckFailed",
          "a's write was refused by the fence: %s" % [c.get("reasons") for c in refused])
    fenced = event_id("HA_FENCED")
    check([l for l in a.stderr().splitlines() if fenced in l], "EVENT_HA_FENCED logged")
    check(role != "leading", "a still says 'leading' right after the fence refused its write")


def test_review_the_status_says_why_no_instance_can_take_the_lease(ctx):
    """The table does not exist (a typo in ha.table, a table in another region, or no
    dynamodb:GetItem): every lease read fails with ResourceNotFoundException; the log says it once,
    then STATUS= says 'standby (no leader yet: taking the lease)' (daemon/daemon.c ha_line() for
    LEASE_STARTING) and the status reply's ha object says role 'starting', for ever, without the
    reason lease_last_error() holds. An operator looking at systemctl status or ecr-deployctl status
    sees an instance about to lead. What should happen: the status (STATUS= and the ha object)
    names the failure (table, operation, AWS's code) while it lasts."""
    spec = ha_world()
    spec.pop("dynamodb_tables")
    sim = ha_sim(ctx, spec)
    g = Group(ctx, sim, [web_watch()], n=1).start()
    a = g.insts[0]
    wait_for(lambda: a.status() is not None, 15, "a answers")
    wait_for(lambda: lines_with(a.p, "ResourceNotFoundException"), 15, "the failure in the log")
    time.sleep(1.0)
    st = a.status()
    check("ResourceNotFound" in str(st) or "does not exist" in str(st),
          "the status names why there is no leader: %s" % (st or {}).get("ha"))


# -- a takeover read longer than the lease -----------------------------------------------------------------------

def test_review_a_takeover_read_longer_than_the_lease_does_not_fail_over_in_a_loop(ctx):
    """The group's state is large (here 6 MB: six Query pages) and each page takes 0.6 s (each
    within the bound of one blocking call, lease/4). on_lease_leading() reads it all with blocking
    calls on the daemon's loop (state_open_table -> ddb_read_all): the lease is not renewed
    meanwhile (renewals run on that loop), a standby sees the version of the acquisition unchanged
    for a lease and takes over, the new leader reads just as long and loses it in turn: a group
    that fails over in a loop and never acts, with no instance failing. At the issue's scale (tens
    of thousands of watched tags) a takeover read of several seconds is expected. What should
    happen: the lease is renewed while the state is read (renewals on their own loop or thread, or
    the read driven from the loop), so the first leader keeps it."""
    sim = ha_sim(ctx, ha_world())
    big = "x" * (380 * 1024)
    for i in range(16):
        put_item(sim, {"pk": {"S": GROUP}, "sk": {"S": "x/%02d" % i}, "doc": {"S": big}})
    sim.control("POST", "/faults", {"rules": [{"match": "dynamodb.Query", "kind": "delay", "delay": 0.6, "rate": 1.0}]})
    t0 = time.monotonic()
    g = Group(ctx, sim, [web_watch()], n=3).start()
    time.sleep(15.0)
    calls = ddb_log(sim)
    takes = [c for c in calls if c["op"] in ("PutItem", "UpdateItem") and c.get("outcome") == "ok"
             and any(is_lease_key(k) for k in c.get("keys") or []) and c.get("mono", 0) >= t0]
    holders = []
    for c in takes:
        if not holders or holders[-1] != c["access_key"]:
            holders.append(c["access_key"])
    names = {k: n for n, (k, _, _) in KEYS.items()}
    pages = len([c for c in calls if c["op"] == "Query"])
    print("review: %d Query pages, holders in turn: %s" % (pages, [names.get(k) for k in holders]))
    check(len(holders) <= 1, "the lease changed hands %d times in 15 s without a failure: %s"
          % (len(holders) - 1, [names.get(k) for k in holders]))
    check([i for i in g.insts if i.role() == "leading"], "an instance leads")


# -- wall clocks compared between instances ----------------------------------------------------------------------

def test_review_an_heir_with_another_clock_waits_for_the_old_leaders_registration(ctx):
    """The leader a is killed while its RegisterTaskDefinition is on its way (here carried out 8 s
    after it was sent). The heir b resumes the record (step registering): no revision yet, so
    rollout_wait_for_sent() (daemon/rollout.c) is to wait until the old call can no longer be carried
    out before registering again. It compares b's wall clock with register_sent_at, a's wall clock
    written in the record: with b's clock two minutes ahead (the issue's 'clock offsets of
    minutes') the window looks long past, b registers at once and a's registration lands too: two
    RegisterTaskDefinition of one (digest, service). docs/ha.md: never compare wall clocks between
    instances. What should happen: the heir waits the whole window from its own monotonic time of
    the takeover, so exactly one registration is carried out."""
    from test_ha import FAKETIME_LIB, carried, digest_of_register, ecs_mutations, rollout_in_table
    if not os.path.exists(FAKETIME_LIB):
        from harness import Skip
        raise Skip("libfaketime is not installed")
    sim = ha_sim(ctx, ha_world())
    g = Group(ctx, sim, [web_watch()], n=2, offsets=(0, 120))
    a, b = g.insts
    a.start()
    wait_for(lambda: a.role() == "leading", 15, "a leads")
    first_start_done(a)
    b.start()
    wait_for(lambda: b.role() == "standby", 15, "b stands by")
    sim.fault("ecs.RegisterTaskDefinition", "delay", delay=8.0, count=1)
    new = sim.push("team/web", "prod", seed="v2")
    a.p.signal(signal.SIGHUP)
    wait_for(lambda: rollout_in_table(sim) == ("registering", new), 15, "a's record at registering in the table")
    wait_for(lambda: [r for r in sim.requests() if r.get("operation") == "RegisterTaskDefinition"]
             or "RegisterTaskDefinition" in sim.control("GET", "/health")["inflight_ops"], 5,
             "a's RegisterTaskDefinition sent")
    time.sleep(0.3)
    sent = time.monotonic()
    a.kill()
    wait_for(lambda: [l for l in lines_with(b.p, DEPLOY_COMPLETED) if new in l], 45, "b completes the deploy")
    wait_for(lambda: time.monotonic() - sent > 8.5 and sim.control("GET", "/health")["inflight"] == 0, 15,
             "a's delayed call carried out")
    regs = [r for r in carried(ecs_mutations(sim), "RegisterTaskDefinition") if digest_of_register(r) == new]
    names = {k: n for n, (k, _, _) in KEYS.items()}
    print("review: b said:", [l[:200] for l in b.stderr().splitlines() if "resuming" in l or "carried" in l])
    check_eq(len(regs), 1, "registrations of the digest (by %s)" % [names.get(r["access_key"]) for r in regs])



def test_review_sigterm_of_a_same_id_process_whose_take_is_on_its_way_keeps_the_others_lease(ctx):
    """The fix of the same-id adoption (a per-process session, da8336e) leaves the release at
    SIGTERM of a take in flight (968ba09, daemon/lease.c lease_release(), the '!holding' branch)
    conditioned on owner and the term tried only, not on the session. Two processes given one
    instance id take the missing lease at once; a's take lands, b's is still on its way when b gets
    SIGTERM: b's release (owner '' where owner is the id and term the one tried) matches a's lease
    and DynamoDB carries it out while a leads. a learns it only at its next write or renewal (the
    fence refuses it: HA_FENCED, demotion); meanwhile the lease is free for any standby to take while
    a acts: two leaders for up to a third of a lease. What should happen: that release is also
    conditioned on this process's session (session = mine), so b's release is refused and a's
    lease stays a's."""
    sim = ha_sim(ctx, ha_world())
    g = Group(ctx, sim, [web_watch()], n=3)
    a, b, c = g.insts
    b.write_config(instance_id=a.name)
    sim.control("POST", "/faults", {"rules": [
        {"match": "dynamodb.PutItem", "kind": "delay", "delay": 0.6, "count": 1, "access_key": a.key[0]},
        {"match": "dynamodb.PutItem", "kind": "delay", "delay": 4.0, "count": 1, "access_key": b.key[0]}]})
    a.start()
    b.start()
    wait_for(lambda: a.role() == "leading", 10, "a leads")
    check(not [x for x in ddb_log(sim) if x["access_key"] == b.key[0] and x["op"] == "PutItem"
               and x.get("outcome")], "b's take is still on its way")
    c.start()
    wait_for(lambda: c.role() == "standby", 10, "c stands by")
    b.p.signal(signal.SIGTERM)
    b.p.wait(10)
    time.sleep(1.5)
    b_writes = [(x["op"], x.get("outcome")) for x in ddb_log(sim)
                if x["access_key"] == b.key[0] and x["op"] in ("PutItem", "UpdateItem") and x.get("outcome") == "ok"]
    print("review: a said:", [l[:160] for l in a.stderr().splitlines() if "lost" in l or "stepping" in l or "taken" in l])
    check_eq(b_writes, [], "lease writes of b (which never held the lease) that DynamoDB carried out")
