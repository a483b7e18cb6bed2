# SPDX-License-Identifier: MIT
"""The state journal (state.journal next to state.json, ecr-deployd(8), FILES):
the real daemon, with the journal in use from the first byte (ECR_DEPLOYD_TEST_STATE_JOURNAL_FROM=0;
by default only a state.json of 64 KiB or more is journaled), killed with -9 at random moments while
pushes keep it writing: no sighting whose cycle completed is lost, a restart never sets a file
aside, a torn last record is dropped and said, and a clean stop leaves one file of version 1. A
damaged record before the last one sets both files aside with the offset named. The files are also
read here by an independent reader of the documented format."""

import json
import os
import random
import re
import signal
import struct
import time

from harness import check, check_eq, wait_for
from test_daemon import cycles, daemon_env, lines_with, start, watch

MAGIC = b"EDJ1"
HEADER = 20
DETECTED = "new digest of"


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def records(data):
    """(generation, [(key, doc or None)]) of each whole record; and the offset where they end."""
    out, off = [], 0
    while off + HEADER <= len(data) and data[off:off + 4] == MAGIC:
        plen, gen, crc = struct.unpack_from("<IQI", data, off + 4)
        if off + HEADER + plen > len(data) or crc32c(data[off + 4:off + 16] + data[off + HEADER:off + HEADER + plen]) != crc:
            break
        p, end, entries = off + HEADER, off + HEADER + plen, []
        while p < end:
            kind = data[p:p + 1]
            (klen,) = struct.unpack_from("<I", data, p + 1)
            key = data[p + 5:p + 5 + klen].decode()
            p += 5 + klen
            doc = None
            if kind == b"P":
                (dlen,) = struct.unpack_from("<I", data, p)
                doc = json.loads(data[p + 4:p + 4 + dlen])
                p += 4 + dlen
            entries.append((key, doc))
        out.append((gen, entries))
        off = end
    return out, off


def read_state(state_dir):
    """state.json with the records of its generation applied: what a restart reads."""
    with open(os.path.join(state_dir, "state.json")) as f:
        st = json.load(f)
    try:
        with open(os.path.join(state_dir, "state.journal"), "rb") as f:
            data = f.read()
    except FileNotFoundError:
        data = b""
    recs, _ = records(data)
    for gen, entries in recs:
        if gen != st.get("generation", 0):
            continue
        for key, doc in entries:
            if key == "g":
                for m in ("frozen", "reset_at"):
                    st.pop(m, None)
                    if doc and m in doc:
                        st[m] = doc[m]
            elif key.startswith("w/"):
                w = st["watches"].setdefault(key[2:], {})
                for m in [m for m in w if m != "targets"]:
                    del w[m]
                w.update({k: v for k, v in (doc or {}).items() if k != "targets"})
            elif key.startswith("t/"):
                name, tkey = key[2:].split("/", 1)
                t = st["watches"].setdefault(name, {}).setdefault("targets", {})
                t.pop(tkey, None)
                if doc is not None:
                    t[tkey] = doc
    return st


def seen(st, name, tag="prod"):
    return st.get("watches", {}).get(name, {}).get("tags", {}).get(tag, {}).get("digest")


def durable_sightings(p, names):
    """The digest of each watch whose sighting a completed cycle saved (the save precedes the
    "poll cycle:" line), from the log: the last such per watch."""
    out, pending = {}, {}
    for line in p.read_stderr().splitlines():
        m = re.search(r"watch '([^']+)': (?:'[^']+' is at|new digest of '[^']+': ) ?(sha256:[0-9a-f]{64})", line)
        if m and m.group(1) in names:
            pending[m.group(1)] = m.group(2)
        elif "poll cycle:" in line:
            out.update(pending)
            pending = {}
    return out


def journal_env(ctx, sim):
    return daemon_env(ctx, sim, ECR_DEPLOYD_TEST_STATE_JOURNAL_FROM="0")


def seeded(n):
    return {"repositories": [{"name": "team/r%d" % i, "images": [{"tag": "prod", "seed": "s%d" % i}]}
                             for i in range(n)]}


def test_kill_9_while_the_journal_is_written_loses_no_saved_sighting(ctx):
    from harness import Sim
    seed = int(os.environ.get("JOURNAL_SEED", "0")) or int(time.time())
    print("journal: JOURNAL_SEED=%d" % seed)
    rng = random.Random(seed)
    n = 24
    names = ["w%d" % i for i in range(n)]
    sim = Sim(ctx, seed=seeded(n))
    watches = [watch("w%d" % i, "team/r%d" % i, tag="prod") for i in range(n)]
    state = ctx.path("state")
    p, _ = start(ctx, sim, watches, env=journal_env(ctx, sim))
    wait_for(lambda: cycles(p) >= 1, 20, "the first cycle")
    known = durable_sightings(p, names)
    check_eq(len(known), n, "every watch seen")
    history = {name: [known[name]] for name in names}  # each watch's digests, oldest first
    kills = torn = 0
    for rnd in range(14):
        # pushes keep the daemon writing; the kill lands anywhere in a cycle of 24 reads and its save
        for i in rng.sample(range(n), rng.randint(3, n)):
            history["w%d" % i].append(
                sim.push("team/r%d" % i, "prod", seed="r%d-%d-%d" % (rnd, i, rng.randint(0, 1 << 30))))
        p.signal(signal.SIGHUP)
        before = cycles(p)
        if rng.random() < 0.3:
            wait_for(lambda: cycles(p) > before, 20, "the cycle of round %d" % rnd)
        time.sleep(rng.uniform(0, 0.25))
        check(p.alive(), "alive until its kill -9 (round %d)" % rnd)
        p.signal(signal.SIGKILL)
        p.wait(5)
        kills += 1
        known.update(durable_sightings(p, names))
        # what a restart will read: every saved sighting, or a newer one, is in it
        st = read_state(state)
        for name, digest in known.items():
            later = history[name][history[name].index(digest):]
            check(seen(st, name) in later, "round %d: watch %s holds %s, not %s or a later push" %
                  (rnd, name, seen(st, name), digest))
        check(not [f for f in os.listdir(state) if ".bad-" in f], "nothing set aside")
        p, _ = start(ctx, sim, watches, env=journal_env(ctx, sim))
        wait_for(lambda: cycles(p) >= 1, 20, "a cycle after restart %d" % rnd)
        err = p.read_stderr()
        check("unusable" not in err and "starts afresh" not in err, "round %d: a clean restart: %s" % (rnd, err[-1500:]))
        torn += "cut short by a crash" in err
        # a sighting saved before the kill is not detected again
        for line in lines_with(p, DETECTED):
            m = re.search(r"watch '([^']+)': new digest of '[^']+': (sha256:[0-9a-f]{64}).*", line)
            prev = re.search(r"PREVIOUS_DIGEST=(sha256:[0-9a-f]{64})", line)
            if m and m.group(1) in known and prev:
                check(m.group(2) != known[m.group(1)], "round %d: %s detected again after it was saved" %
                      (rnd, m.group(1)))
        known.update(durable_sightings(p, names))
    check(os.path.exists(os.path.join(state, "state.journal")), "the journal was in use")
    # A clean stop folds the journal into one file that an older ecr-deployd reads too.
    want = read_state(state)
    p.signal(signal.SIGTERM)
    check_eq(p.wait(10), 0, "clean stop")
    check(not os.path.exists(os.path.join(state, "state.journal")), "one file left")
    with open(os.path.join(state, "state.json")) as f:
        st = json.load(f)
    check_eq(st["version"], 1, "version 1 after a clean stop")
    for name in names:
        check_eq(seen(st, name), seen(want, name), "watch %s kept" % name)
    print("journal: %d kills, %d restarts found a torn last record" % (kills, torn))


def stopped_with_records(ctx, sim, n=3):
    """A daemon killed after a few journaled cycles: (state dir, watches, the journal's bytes)."""
    watches = [watch("w%d" % i, "team/r%d" % i, tag="prod") for i in range(n)]
    p, _ = start(ctx, sim, watches, env=journal_env(ctx, sim))
    wait_for(lambda: cycles(p) >= 1, 20, "the first cycle")
    for rnd in range(2):
        sim.push("team/r0", "prod", seed="x%d" % rnd)
        before = cycles(p)
        p.signal(signal.SIGHUP)
        wait_for(lambda: cycles(p) > before, 20, "cycle %d" % rnd)
    p.signal(signal.SIGKILL)
    p.wait(5)
    with open(ctx.path("state", "state.journal"), "rb") as f:
        data = f.read()
    return watches, data


def test_torn_last_record_is_dropped_and_said(ctx):
    from harness import Sim
    sim = Sim(ctx, seed=seeded(3))
    watches, data = stopped_with_records(ctx, sim)
    recs, end = records(data)
    check(len(recs) >= 2 and end == len(data), "whole records: %d" % len(recs))
    last = [k for k, _ in recs[-1][1]]
    check("w/w0" in last, "the last record holds the sighting: %s" % last)
    with open(ctx.path("state", "state.journal"), "r+b") as f:
        f.truncate(len(data) - 5)  # the last write, cut short
    p, _ = start(ctx, sim, watches, env=journal_env(ctx, sim))
    wait_for(lambda: cycles(p) >= 1, 20, "a cycle")
    said = lines_with(p, "cut short by a crash")
    check_eq(len(said), 1, "the torn record said once")
    check(ctx.path("state", "state.journal") in said[0], said[0])
    check(lines_with(p, DETECTED), "the sighting it held is detected again")
    check(not [f for f in os.listdir(ctx.path("state")) if ".bad-" in f], "nothing set aside")


def test_damaged_record_before_the_last_sets_both_files_aside(ctx):
    from harness import Sim
    sim = Sim(ctx, seed=seeded(3))
    watches, data = stopped_with_records(ctx, sim)
    recs, _ = records(data)
    check(len(recs) >= 2, "two records at least")
    with open(ctx.path("state", "state.journal"), "r+b") as f:
        f.seek(HEADER + 3)
        b = f.read(1)
        f.seek(HEADER + 3)
        f.write(bytes([b[0] ^ 0x10]))
    p, _ = start(ctx, sim, watches, env=journal_env(ctx, sim))
    wait_for(lambda: cycles(p) >= 1, 20, "a cycle")
    err = p.read_stderr()
    journal = ctx.path("state", "state.journal")
    check("'%s' is damaged at offset 0: its checksum does not match" % journal in err, err[-1500:])
    check("starts afresh" in err, "starts afresh")
    aside = sorted(f for f in os.listdir(ctx.path("state")) if ".bad-" in f)
    check_eq([f.split(".bad-")[0] for f in aside], ["state.journal", "state.json"], "both kept aside")
    with open(ctx.path("state", [f for f in aside if f.startswith("state.journal")][0]), "rb") as f:
        check_eq(len(f.read()), len(data), "the journal kept whole")
