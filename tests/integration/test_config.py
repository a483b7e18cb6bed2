# SPDX-License-Identifier: MIT
"""The configuration from the outside: --check-config on the examples and
on broken files, the JSON Schema kept in step with the parser, drop-in
directories, that checking contacts nothing, and the broken files a running
daemon must survive at SIGHUP (two tag rules, a FIFO)."""

import glob
import json
import os
import re
import signal
import time

from harness import ROOT, Sim, check, check_eq, daemon_path, wait_for
from test_daemon import EVENT_DETECTED, EVENT_REJECTED, EVENT_RELOADED, EVENT_STOPPING, cycles, lines_with, start, watch

EX_NOINPUT = 66
EX_CONFIG = 78
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "config", "examples", "*.json")))
SCHEMA = os.path.join(ROOT, "config", "ecr-deployd.schema.json")


def strip_comments(text):
    """The same rule as config/jsontext.c: // and /* */ outside strings."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            j = text.index("*/", i + 2)
            out.append("\n" * text.count("\n", i, j))
            i = j + 2
        else:
            out.append(c)
            i += 1
    return "".join(out)


def check_config(ctx, path, *extra, env=None):
    return ctx.run([daemon_path(), "-c", path, "--config-dir", ctx.path("no-dropins")] + list(extra) +
                   ["--check-config"], env=env)


def schema_validator():
    import jsonschema
    with open(SCHEMA) as f:
        schema = json.load(f)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def test_examples_are_valid_for_parser_and_schema(ctx):
    check(len(EXAMPLES) >= 5, "the examples are there")
    v = schema_validator()
    for path in EXAMPLES:
        status, out, err = check_config(ctx, path)
        check_eq(status, 0, "--check-config %s: %s" % (os.path.basename(path), err))
        check(out.rstrip().endswith("configuration OK"), "says OK")
        check(re.search(r"^\d+ watches, \d+ targets \(revision \d+, force \d+, codedeploy \d+\)", out, re.M),
              "one-screen summary: %r" % out)
        with open(path) as f:
            doc = json.loads(strip_comments(f.read()))
        errors = list(v.iter_errors(doc))
        check(not errors, "%s against the schema: %s" % (os.path.basename(path), [e.message for e in errors]))


def test_schema_rejects_what_the_parser_rejects(ctx):
    v = schema_validator()
    target = {"cluster": "c", "service": "s", "container": "app"}
    base = {"name": "w", "repository": "team/web", "tag": "prod", "targets": [target]}
    cases = {
        "unknown key": {"poll_intervall": "1m"},
        "bad duration": {"poll_interval": "5 minutes"},
        "two tag rules": {"watches": [dict(base, semver="^1")]},
        "no tag rule": {"watches": [{k: v for k, v in base.items() if k != "tag"}]},
        "bad strategy": {"watches": [dict(base, targets=[dict(target, strategy="bluegreen")])]},
        "codedeploy half a pair": {"watches": [dict(base, targets=[dict(target, strategy="codedeploy",
                                                                        codedeploy={"application": "a"})])]},
        "codedeploy with revision": {"watches": [dict(base, targets=[dict(target, codedeploy={
            "application": "a", "deployment_group": "g", "container": "app", "port": 80})])]},
        "container and containers": {"watches": [dict(base, targets=[dict(target, containers=["a"])])]},
        "prerelease without semver": {"watches": [dict(base, prerelease=True)]},
        "bad repository": {"watches": [dict(base, repository="Team/Web")]},
        "bad role": {"watches": [dict(base, targets=[dict(target, role_arn="arn:aws:iam::1:user/x")])]},
        "glob never closed": {"watches": [dict({k: v for k, v in base.items() if k != "tag"}, tag_glob="v[a-")]},
        "exclude never closed": {"watches": [dict({k: v for k, v in base.items() if k != "tag"}, tag_glob="v*",
                                                  exclude=["["])]},
        "endpoint credentials": {"aws": {"endpoints": {"ecs": "http://user:pass@127.0.0.1:9/"}}},
        "endpoint port": {"aws": {"endpoints": {"ecs": "http://127.0.0.1:99999/"}}},
        "bad approve": {"watches": [dict(base, targets=[dict(target, approve="yes")])]},
        "bad guard": {"watches": [dict(base, targets=[dict(target, guard="strict")])]},
        "bad global approve": {"approve": True},
        "bad global guard": {"guard": "Enforce"},
        "sink without type": {"notify": [{"url": "https://h.example/x"}]},
        "sink without url": {"notify": [{"type": "webhook"}]},
        "sink url and url_file": {"notify": [{"type": "slack", "url": "https://h.example/x",
                                              "url_file": "/etc/x"}]},
        "sink http remote": {"notify": [{"type": "webhook", "url": "http://h.example/x"}]},
        "sink url credentials": {"notify": [{"type": "webhook", "url": "https://u:p@h.example/x"}]},
        "eventbridge with url": {"notify": [{"type": "eventbridge", "url": "https://h.example/x"}]},
        "slack with secret": {"notify": [{"type": "slack", "url": "https://h.example/x",
                                          "secret_file": "/etc/x"}]},
        "webhook with bus": {"notify": [{"type": "webhook", "url": "https://h.example/x",
                                         "event_bus": "b"}]},
        "sink unknown kind": {"notify": [{"type": "eventbridge", "events": ["deploy-done"]}]},
        "sink concurrency": {"notify": [{"type": "eventbridge", "concurrency": 17}]},
        "sink max_pending": {"notify": [{"type": "eventbridge", "max_pending": 0}]},
        "seventeen sinks": {"notify": [{"type": "eventbridge", "name": "e%d" % i} for i in range(17)]},
        "ha without table": {"ha": {"instance_id": "a"}},
        "ha table short": {"ha": {"table": "ab", "instance_id": "a"}},
        "ha table arn of an index": {"ha": {"table": "arn:aws:dynamodb:us-east-1:123456789012:table/abc/index/i",
                                            "instance_id": "a"}},
        "ha group": {"ha": {"table": "abc", "group": "a/b", "instance_id": "a"}},
        "ha instance": {"ha": {"table": "abc", "instance_id": "host a"}},
        "ha lease": {"ha": {"table": "abc", "instance_id": "a", "lease_duration": 20}},
        "ha role": {"ha": {"table": "abc", "instance_id": "a", "role_arn": "arn:aws:iam::1:user/x"}},
    }
    for name, doc in cases.items():
        check(list(v.iter_errors(doc)), "the schema rejects: %s" % name)
        p = ctx.write("case.json", json.dumps(doc))
        status, _, _ = check_config(ctx, p)
        check_eq(status, EX_CONFIG, "the parser rejects: %s" % name)


def allowed_keys(ctx, doc, level):
    """The keys the parser allows at one level, read from its unknown-key error."""
    p = ctx.write("keys.json", json.dumps(doc))
    status, out, err = check_config(ctx, p)
    m = re.search(r"unknown key 'zzzzzzzzzzzz'; allowed here: (.*)$", err, re.M)
    check(m, "%s: the parser lists its keys: %r" % (level, err))
    return set(m.group(1).split(", "))


def test_schema_keys_match_the_parser(ctx):
    with open(SCHEMA) as f:
        schema = json.load(f)
    defs = schema["$defs"]
    target = {"cluster": "c", "service": "s", "container": "app"}
    watch = {"name": "w", "repository": "team/web", "tag": "prod", "targets": [target]}
    z = {"zzzzzzzzzzzz": 1}
    levels = {
        "top": ({**z}, schema["properties"]),
        "aws": ({"aws": z}, schema["properties"]["aws"]["properties"]),
        "endpoints": ({"aws": {"endpoints": z}}, schema["properties"]["aws"]["properties"]["endpoints"]["properties"]),
        "watch": ({"watches": [dict(watch, **z)]}, defs["watch"]["properties"]),
        "target": ({"watches": [dict(watch, targets=[dict(target, **z)])]}, defs["target"]["properties"]),
        "codedeploy": ({"watches": [dict(watch, targets=[dict(target, strategy="codedeploy", codedeploy=z)])]},
                       defs["target"]["properties"]["codedeploy"]["properties"]),
        "control": ({"control": z}, schema["properties"]["control"]["properties"]),
        "events": ({"events": [dict({"queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/q"}, **z)]},
                   schema["properties"]["events"]["items"]["properties"]),
        "notify": ({"notify": [dict({"type": "eventbridge"}, **z)]}, defs["sink"]["properties"]),
        "ha": ({"ha": dict({"table": "abc"}, **z)}, schema["properties"]["ha"]["properties"]),
    }
    for level, (doc, props) in levels.items():
        check_eq(allowed_keys(ctx, doc, level), set(props), "keys at %s: parser vs schema" % level)


def test_five_mistakes_five_located_errors(ctx):
    text = """{
  "aws": {"region": "moon-1"},
  "poll_interval": "1s",
  "watches": [
    {"name": "web", "repository": "team/web", "tag": "prod",
     "targets": [{"cluster": "prod", "service": "web", "container": "app", "stratgy": "force"}]},
    {"name": "api", "repository": "team/api", "semver": "^1.x.y",
     "targets": [{"cluster": "prod", "service": "web", "container": "app"}]}
  ]
}
"""
    p = ctx.write("five.json", text)
    status, out, err = check_config(ctx, p)
    check_eq(status, EX_CONFIG, "exit status")
    lines = [l for l in err.splitlines() if l.startswith(p + ":")]
    check_eq(len(lines), 5, "five located errors: %s" % err)
    want = [(2, "aws.region", "'moon-1'"), (3, "poll_interval", "'1s'"),
            (6, "watches[0].targets[0].stratgy", "did you mean 'strategy'"),
            (7, "watches[1].semver", "'^1.x.y'"), (8, None, "container 'app' of service 'web'")]
    for line, (lineno, path, part) in zip(lines, want):
        check(re.match(r"^%s:%d:\d+: " % (re.escape(p), lineno), line), "line %d in %r" % (lineno, line))
        if path:
            check(": %s: " % path in line, "path %s in %r" % (path, line))
        check(part in line, "%r in %r" % (part, line))
    check_eq(out, "", "nothing on stdout")


def test_starting_with_an_invalid_config_fails_the_same_way(ctx):
    p = ctx.write("bad.json", '{"log_level": "loud"}')
    status, out, err = ctx.run([daemon_path(), "-c", p, "--config-dir", ctx.path("none")])
    check_eq(status, EX_CONFIG, "exit status")
    check("log_level: 'loud'" in err and "nothing was started" in err, "says why: %r" % err)
    status, out, err = check_config(ctx, ctx.path("missing.json"))
    check_eq(status, EX_NOINPUT, "a missing main file")


def test_drop_in_directory_beside_the_main_file(ctx):
    os.makedirs(ctx.path("etc", "conf.d"))
    main = ctx.write(os.path.join("etc", "ecr-deployd.json"), '{"aws": {"region": "us-east-1"}}')
    ctx.write(os.path.join("etc", "conf.d", "10-web.json"),
              '{"watches": [{"name": "web", "repository": "team/web", "tag": "prod",'
              ' "targets": [{"cluster": "c", "service": "web", "container": "app"}]}]}')
    status, out, err = ctx.run([daemon_path(), "-c", main, "--check-config"])
    check_eq(status, 0, "valid: %s" % err)
    check("conf.d/10-web.json" in out and "1 watches, 1 targets" in out, "the drop-in was read: %r" % out)
    ctx.write(os.path.join("etc", "conf.d", "20-bad.json"), '{"watches": [{"name": "web"}]}')
    status, out, err = ctx.run([daemon_path(), "-c", main, "--check-config"])
    check_eq(status, EX_CONFIG, "a broken drop-in fails the check")
    check("20-bad.json:1:14: watches[0]: 'repository' is required" in err, "located: %r" % err)
    check("watch name 'web' is already used by the watch at" in err, "cross-file duplicate: %r" % err)


def test_check_config_contacts_nothing(ctx):
    sim = Sim(ctx)
    env = dict(os.environ, AWS_ENDPOINT_URL=sim.url, AWS_ACCESS_KEY_ID=sim.key[0],
               AWS_SECRET_ACCESS_KEY=sim.key[1], AWS_EC2_METADATA_DISABLED="true")
    for path in EXAMPLES:
        status, out, err = check_config(ctx, path, env=env)
        check_eq(status, 0, "valid")
    check_eq(sim.requests(), [], "no request reached AWS")


TWO_RULES = {"name": "w", "repository": "team/w", "tag": "p", "tags": ["a"],
             "targets": [{"cluster": "c", "service": "s", "container": "a"}]}


def test_two_tag_rules_fail_check_and_start_with_a_located_error(ctx):
    """Issue 11 case 1: this crashed (exit -11) --check-config and the start."""
    p = ctx.write("two.json", json.dumps({"watches": [TWO_RULES]}))
    status, out, err = check_config(ctx, p)
    check_eq(status, EX_CONFIG, "--check-config exit status: %r" % err)
    check("%s:1:14: watches[0]: give exactly one of 'tag', 'tags', 'tag_glob' or 'semver' (found 2)" % p
          in err, "located: %r" % err)
    status, out, err = ctx.run([daemon_path(), "-c", p, "--config-dir", ctx.path("none")])
    check_eq(status, EX_CONFIG, "start exit status: %r" % err)
    check("give exactly one of" in err and "nothing was started" in err, "says why: %r" % err)


def test_reload_with_two_tag_rules_is_rejected_and_the_daemon_stays_up(ctx):
    """Issue 11 case 1: a drop-in with tag and tags crashed a running daemon at SIGHUP."""
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")])
    wait_for(lambda: cycles(p) >= 1, 15, "the first cycle")
    bad = ctx.write(os.path.join("etc", "conf.d", "50-two.json"), json.dumps({"watches": [TWO_RULES]}))
    p.signal(signal.SIGHUP)
    wait_for(lambda: lines_with(p, EVENT_REJECTED) or not p.alive(), 10, "CONFIG_REJECTED")
    check(p.alive(), "still running after the reload (exit status %r)" % p.popen.poll())
    check("%s:1:14: watches[0]: give exactly one of 'tag', 'tags', 'tag_glob' or 'semver'" % bad
          in p.read_stderr(), "the located error is logged")
    digest = sim.push("team/web", "prod", seed="a2")
    wait_for(lambda: lines_with(p, EVENT_DETECTED), 25, "detection on the old rules")
    check(digest in lines_with(p, EVENT_DETECTED)[0], "the new digest, by the old rules")
    check(p.alive(), "still running")


def test_check_config_refuses_a_fifo_promptly(ctx):
    """Issue 11 case 3: a FIFO as the main file or a drop-in blocked forever."""
    fifo = ctx.path("fifo.json")
    os.mkfifo(fifo)
    t0 = time.monotonic()
    status, out, err = check_config(ctx, fifo)
    check(time.monotonic() - t0 < 5, "finished promptly")
    check_eq(status, EX_CONFIG, "exit status: %r" % err)
    check("%s: not a regular file but a FIFO" % fifo in err, "names the file: %r" % err)

    os.makedirs(ctx.path("etc", "conf.d"))
    main = ctx.write(os.path.join("etc", "ecr-deployd.json"), '{"aws": {"region": "us-east-1"}}')
    dropin = ctx.path("etc", "conf.d", "10-fifo.json")
    os.mkfifo(dropin)
    t0 = time.monotonic()
    status, out, err = ctx.run([daemon_path(), "-c", main, "--check-config"])
    check(time.monotonic() - t0 < 5, "finished promptly")
    check_eq(status, EX_CONFIG, "exit status: %r" % err)
    check("%s: not a regular file but a FIFO" % dropin in err, "names the drop-in: %r" % err)


def test_reload_with_a_fifo_in_conf_d_is_rejected_and_sigterm_still_stops(ctx):
    """Issue 11 case 3: the reload blocked the loop; polls stopped, SIGTERM was ignored."""
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")])
    wait_for(lambda: cycles(p) >= 1, 15, "the first cycle")
    fifo = ctx.path("etc", "conf.d", "50-fifo.json")
    os.mkfifo(fifo)
    p.signal(signal.SIGHUP)
    wait_for(lambda: lines_with(p, EVENT_REJECTED), 10, "CONFIG_REJECTED")
    check("%s: not a regular file but a FIFO" % fifo in p.read_stderr(), "names the FIFO")
    t0 = time.monotonic()
    p.signal(signal.SIGTERM)
    status = p.wait(5)
    check_eq(status, 0, "exit status")
    check(time.monotonic() - t0 < 2, "stopped promptly (%.2fs)" % (time.monotonic() - t0))
    check(lines_with(p, EVENT_STOPPING), "STOPPING logged")


def test_check_config_warns_on_a_semver_range_that_never_matches(ctx):
    """Issue 11 case 9: accepted, but said, with the place."""
    w = {"name": "w", "repository": "team/w", "semver": ">=2.0.0 <1.0.0",
         "targets": [{"cluster": "c", "service": "s", "container": "a"}]}
    p = ctx.write("never.json", json.dumps({"watches": [w]}))
    status, out, err = check_config(ctx, p)
    check_eq(status, 0, "still valid: %r" % err)
    check(re.search(r"^%s:1:\d+: watches\[0\]\.semver: warning: '>=2\.0\.0 <1\.0\.0' can never match"
                    % re.escape(p), err, re.M), "a located warning: %r" % err)
    check(out.rstrip().endswith("configuration OK"), "says OK")


def test_reload_says_the_warnings_of_an_accepted_configuration(ctx):
    """A reload that is accepted with warnings logs them (they were dropped: only a start and
    --check-config showed them); a rejected one counts only its errors."""
    sim = Sim(ctx, seed={"repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}]}]})
    p, _ = start(ctx, sim, [watch("web", "team/web", tag="prod")])
    wait_for(lambda: cycles(p) >= 1, 15, "the first cycle")
    never = {"name": "never", "repository": "team/web", "semver": ">=2.0.0 <1.0.0",
             "targets": [{"cluster": "c", "service": "s", "container": "a"}]}
    dropin = ctx.write(os.path.join("etc", "conf.d", "50-never.json"), json.dumps({"watches": [never]}))
    p.signal(signal.SIGHUP)
    wait_for(lambda: lines_with(p, EVENT_RELOADED), 10, "CONFIG_RELOADED")
    warned = [l for l in p.read_stderr().splitlines() if "can never match" in l]
    check(len(warned) == 1 and warned[0].split()[1] == "warning" and dropin in warned[0],
          "one located warning at the reload: %r" % warned)
    bad = dict(TWO_RULES, name="bad", targets=[{"cluster": "c", "service": "other", "container": "a"}])
    ctx.write(os.path.join("etc", "conf.d", "50-never.json"), json.dumps({"watches": [never, bad]}))
    p.signal(signal.SIGHUP)
    wait_for(lambda: lines_with(p, EVENT_REJECTED), 10, "CONFIG_REJECTED")
    check("configuration rejected (1 error)" in lines_with(p, EVENT_REJECTED)[0],
          "the warning is not counted as an error: %r" % lines_with(p, EVENT_REJECTED)[0])


def test_approve_guard_and_a_14_day_rollout_timeout(ctx):
    """Issue 13: approve and guard as global defaults and per target, in the summary; a rollout
    timeout of 14 days is accepted (a deployment may wait at a PAUSE hook that long), 15 d is
    a located error that names the value and the range."""
    v = schema_validator()
    doc = {"approve": "auto", "guard": "enforce", "rollout_timeout": "14d",
           "watches": [{"name": "w", "repository": "team/w", "tag": "p", "targets": [
               {"cluster": "c", "service": "s1", "container": "a"},
               {"cluster": "c", "service": "s2", "container": "a", "strategy": "force",
                "approve": "manual", "guard": "off", "rollout_timeout": "336h"}]}]}
    check_eq([e.message for e in v.iter_errors(doc)], [], "the schema accepts it")
    p = ctx.write("ok.json", json.dumps(doc))
    status, out, err = check_config(ctx, p)
    check_eq(status, 0, "valid: %r" % err)
    check("rollout timeout 14d; approve auto; guard enforce" in out, "the defaults: %r" % out)
    check("-> c/s1 [revision]\n" in out, "s1 inherits them: %r" % out)
    check("-> c/s2 [force] approve manual, guard off\n" in out, "s2 has its own: %r" % out)

    doc["watches"][0]["targets"][1]["rollout_timeout"] = "15d"
    doc["guard"] = "strict"
    p = ctx.write("bad.json", json.dumps(doc))
    status, out, err = check_config(ctx, p)
    check_eq(status, EX_CONFIG, "invalid: %r" % err)
    check("%s:1:30: guard: 'strict' is not allowed here: one of 'warn', 'enforce', 'off'" % p in err,
          "the bad guard, located: %r" % err)
    check(re.search(r"^%s:1:\d+: watches\[0\]\.targets\[1\]\.rollout_timeout: '15d' is out of bounds: "
                    r"from 10s to 14d$" % re.escape(p), err, re.M), "15 days, located: %r" % err)


# ---- notify (issue 17) ------------------------------------------------------------------------

TOKEN = "T0KEN-x9f3kq2"


def notify_config(ctx, sinks):
    return ctx.write("notify.json", json.dumps({"notify": sinks}))


def test_notify_url_file_readable_by_all_is_a_warning(ctx):
    """A URL file every user may read is accepted with a warning naming it and its mode; the URL
    itself is in no output, and the summary shows its host."""
    url_file = ctx.write("slack-url", "https://hooks.slack.com/services/%s\n" % TOKEN)
    os.chmod(url_file, 0o644)
    p = notify_config(ctx, [{"type": "slack", "url_file": url_file}])
    status, out, err = check_config(ctx, p)
    check_eq(status, 0, "accepted: %s" % err)
    check(re.search(r"^%s:1:\d+: notify\[0\]\.url_file: warning: '%s' may be read by every user "
                    r"\(mode 0644\)" % (re.escape(p), re.escape(url_file)), err, re.M),
          "the warning names the file and its mode: %r" % err)
    check("  notify slack (slack) to hooks.slack.com\n" in out, "the summary shows the host: %r" % out)
    check(TOKEN not in out + err, "the URL is in no output")
    os.chmod(url_file, 0o640)
    status, out, err = check_config(ctx, p)
    check_eq((status, err), (0, ""), "mode 0640: no warning")


def test_notify_missing_secret_file_is_an_error(ctx):
    missing = ctx.path("nowhere", "secret")
    p = notify_config(ctx, [{"type": "webhook", "url": "https://hooks.example.com/d/" + TOKEN,
                             "secret_file": missing}])
    status, out, err = check_config(ctx, p)
    check_eq(status, EX_CONFIG, "refused")
    check(re.search(r"^%s:1:\d+: notify\[0\]\.secret_file: cannot read '%s': No such file or directory$"
                    % (re.escape(p), re.escape(missing)), err, re.M), "names the path: %r" % err)
    check(TOKEN not in out + err, "the URL is in no output")


def test_notify_summary_shows_hosts_never_urls_or_secrets(ctx):
    secret = ctx.write("secret", "s3cr3t-" + TOKEN + "\n")
    os.chmod(secret, 0o600)
    sinks = [{"type": "webhook", "url": "https://hooks.example.com:8443/d/" + TOKEN, "secret_file": secret,
              "watches": ["web"], "min_severity": "error"},
             {"type": "webhook", "url": "http://127.0.0.1:9/" + TOKEN},
             {"type": "eventbridge", "event_bus": "deploys", "region": "eu-west-1"}]
    p = notify_config(ctx, sinks)
    status, out, err = check_config(ctx, p)
    check_eq(status, 0, "accepted: %s" % err)
    check("warning: no watch is named 'web'" in err, "the unknown watch is warned about: %r" % err)
    lines = [l for l in out.splitlines() if l.startswith("  notify ")]
    check_eq(lines, ["  notify webhook-1 (webhook) to hooks.example.com:8443 (signed): watches web; "
                     "min severity error",
                     "  notify webhook-2 (webhook) to 127.0.0.1:9",
                     "  notify eventbridge (eventbridge) to bus 'deploys' in eu-west-1"], "one line per sink")
    check(TOKEN not in out + err, "neither URL nor secret in any output")
    # A bad URL: the error names the place and the host, never the URL.
    p = notify_config(ctx, [{"type": "webhook", "url": "http://hooks.example.com/" + TOKEN}])
    status, out, err = check_config(ctx, p)
    check_eq(status, EX_CONFIG, "http:// to a remote host is refused")
    check(re.search(r"^%s:1:\d+: notify\[0\]\.url: the URL to 'hooks.example.com' uses http://" % re.escape(p),
                    err, re.M), "located, with the host: %r" % err)
    check(TOKEN not in out + err, "the URL is in no error")


def test_ha_check_config_line_and_located_errors(ctx):
    """Issue 18: --check-config prints the HA line (table, region, group, instance, lease), the
    instance named by the host name by default; a lease out of its range and a table ARN whose
    region is not ha.region are located errors naming the value and what is allowed; ha in a
    drop-in file is refused there."""
    p = ctx.write("ha.json", json.dumps({"aws": {"region": "eu-west-1"},
                                         "ha": {"table": "deploys", "group": "prod", "lease_duration": "30s"}}))
    status, out, err = check_config(ctx, p)
    check_eq(status, 0, "accepted: %s" % err)
    check("ha: table deploys, region eu-west-1, group prod, instance %s, lease 30s\n" % os.uname().nodename in out,
          "the HA line with the host name: %r" % out)
    p = ctx.write("ha-arn.json", json.dumps({"ha": {"table": "arn:aws:dynamodb:us-east-2:123456789012:table/deploys",
                                                    "instance_id": "host-b", "role_arn":
                                                    "arn:aws:iam::123456789012:role/ha"}}))
    status, out, err = check_config(ctx, p)
    check_eq(status, 0, "accepted: %s" % err)
    check("ha: table arn:aws:dynamodb:us-east-2:123456789012:table/deploys, region us-east-2, group ecr-deployd, "
          "instance host-b, lease 20s, as arn:aws:iam::123456789012:role/ha\n" in out, "the ARN's region: %r" % out)
    status, out, err = check_config(ctx, ctx.write("off.json", "{}"))
    check("ha: off (one instance, state in /var/lib/ecr-deployd)\n" in out, "no ha: said so: %r" % out)
    text = ('{"ha": {"table": "arn:aws:dynamodb:us-east-1:123456789012:table/abc",\n'
            '        "region": "eu-west-1", "lease_duration": "2s", "instance_id": "a"}}')
    p = ctx.write("ha-bad.json", text)
    status, out, err = check_config(ctx, p)
    check_eq(status, EX_CONFIG, "refused: %s" % err)
    check("%s:2:19: ha.region: 'eu-west-1' is not the region of the table ARN ('us-east-1')" % p in err,
          "the region, located: %r" % err)
    check("%s:2:50: ha.lease_duration: '2s' is out of bounds: from 3s to 5m" % p in err,
          "the lease, located: %r" % err)
    os.makedirs(ctx.path(os.path.join("hadrop", "conf.d")))
    main = ctx.write(os.path.join("hadrop", "main.json"), "{}")
    drop = ctx.write(os.path.join("hadrop", "conf.d", "team.json"), json.dumps({"ha": {"table": "abc"}}))
    status, out, err = ctx.run([daemon_path(), "-c", main, "--config-dir", os.path.dirname(drop), "--check-config"])
    check_eq(status, EX_CONFIG, "ha in a drop-in: refused: %s" % err)
    check("%s:1:2: ha: 'ha' belongs in the main configuration file" % drop in err, "said where: %r" % err)
