# SPDX-License-Identifier: MIT
"""The push-events CloudFormation template (config/examples/cloudformation/ecr-deployd-events.json) and the
operator's documentation of it (docs/events.md, the README's "Push events" section): the template has every
resource it must, each EventBridge rule matches the events of its kind and no others (judged by a small matcher
of EventBridge's exact-value and prefix patterns, under several parameter values), the queue policy lets each
rule and nothing else send, the dead-letter queue is wired, and the docs show exactly the template's patterns,
queue policy and the IAM statement of docs/iam-policy.json (no drift)."""

import json
import os
import re

from harness import ROOT, Failure, Sim, check, check_eq, daemon_path, wait_for

TEMPLATE = os.path.join(ROOT, "config", "examples", "cloudformation", "ecr-deployd-events.json")
EVENTS_MD = os.path.join(ROOT, "docs", "events.md")
README = os.path.join(ROOT, "README.md")
POLICY_FILE = os.path.join(ROOT, "docs", "iam-policy.json")

ACCOUNT, REGION = "123456789012", "us-east-1"
RULES = {"EcrImageActionRule": "ecr", "EcsDeploymentRule": "ecs-deploy", "EcsHookRule": "ecs-hook"}
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/prod"
# Parameter values the docs may show a pattern under (besides the defaults).
PARAMETER_SETS = [{}, {"RepositoryNames": "team/web,team/api"}, {"RepositoryPrefix": "team/"},
                  {"ClusterArn": CLUSTER}]


def load_template():
    with open(TEMPLATE) as f:
        return json.load(f)


# -- a CloudFormation evaluator for the intrinsics the template uses ----------------------------------------

NO_VALUE = object()


class Stack:
    """The template's values as CloudFormation would resolve them for these parameters, in ACCOUNT/REGION.
    GetAtt Arn of a queue or a rule is the ARN its Name gives; Ref of a queue is its URL."""

    def __init__(self, template, **params):
        self.t = template
        self.params = {}
        for name, spec in template["Parameters"].items():
            v = params.pop(name, spec.get("Default"))
            check(v is not None, "parameter %s has a value" % name)
            if spec["Type"] == "CommaDelimitedList":
                v = [x.strip() for x in str(v).split(",")]
            elif spec["Type"] == "Number":
                v = int(v)
            else:
                check(re.fullmatch(spec.get("AllowedPattern", ".*"), v), "%s=%r fits its AllowedPattern" % (
                    name, v))
            self.params[name] = v
        check(not params, "unknown parameters %s" % params)
        self.conditions = {n: self.value(c) for n, c in template.get("Conditions", {}).items()}

    def props(self, logical):
        return self.value(self.t["Resources"][logical]["Properties"])

    def ref(self, name):
        if name == "AWS::NoValue":
            return NO_VALUE
        if name == "AWS::Region":
            return REGION
        if name == "AWS::AccountId":
            return ACCOUNT
        if name in self.params:
            return self.params[name]
        res = self.t["Resources"][name]
        check_eq(res["Type"], "AWS::SQS::Queue", "Ref of a resource (only queues are Ref'd)")
        return "https://sqs.%s.amazonaws.com/%s/%s" % (REGION, ACCOUNT, self.props(name)["QueueName"])

    def get_att(self, logical, att):
        check_eq(att, "Arn", "GetAtt attribute")
        res = self.t["Resources"][logical]
        name = self.value(res["Properties"]["QueueName" if res["Type"] == "AWS::SQS::Queue" else "Name"])
        kind = {"AWS::SQS::Queue": "arn:aws:sqs:%s:%s:%s", "AWS::Events::Rule": "arn:aws:events:%s:%s:rule/%s"}
        return kind[res["Type"]] % (REGION, ACCOUNT, name)

    def sub(self, text):
        return re.sub(r"\$\{([^}]+)\}", lambda m: str(
            self.get_att(*m.group(1).split(".")) if "." in m.group(1) else self.ref(m.group(1))), text)

    def value(self, v):
        if isinstance(v, list):
            out = [self.value(x) for x in v]
            return [x for x in out if x is not NO_VALUE]
        if not isinstance(v, dict):
            return v
        if len(v) == 1:
            (k, a), = v.items()
            if k == "Ref":
                return self.ref(a)
            if k == "Fn::GetAtt":
                return self.get_att(*a)
            if k == "Fn::Sub":
                return self.sub(a)
            if k == "Fn::Join":
                return a[0].join(self.value(a[1]))
            if k == "Fn::Split":
                return self.value(a[1]).split(a[0])
            if k == "Fn::Equals":
                return self.value(a[0]) == self.value(a[1])
            if k == "Fn::Not":
                return not self.value(a[0])
            if k == "Fn::If":
                return self.value(a[1] if self.conditions[a[0]] else a[2])
            check(not k.startswith("Fn::"), "the evaluator knows %s" % k)
        out = {k: self.value(x) for k, x in v.items()}
        return {k: x for k, x in out.items() if x is not NO_VALUE}

    def patterns(self):
        return {logical: self.props(logical)["EventPattern"] for logical in RULES}


# -- EventBridge pattern matching (exact values and prefix, the two kinds the template uses) -----------------

def leaf_matches(rule, value):
    if isinstance(rule, dict):
        (op, arg), = rule.items()
        check_eq(op, "prefix", "a pattern operator the matcher knows")
        return isinstance(value, str) and value.startswith(arg)
    return rule == value  # exact match: same type, same value


def matches(pattern, event):
    """EventBridge's rule: every field of the pattern must be in the event; a list in the pattern matches when
    any entry matches the event's value (or any element, when the event's value is a list); an object recurses."""
    check(isinstance(pattern, dict) and pattern, "a pattern is a non-empty object: %r" % (pattern,))
    for key, rule in pattern.items():
        if not isinstance(event, dict) or key not in event:
            return False
        value = event[key]
        if isinstance(rule, dict):
            if not matches(rule, value):
                return False
            continue
        check(isinstance(rule, list) and rule, "a pattern's leaf is a non-empty list: %s %r" % (key, rule))
        values = value if isinstance(value, list) else [value]
        if not any(leaf_matches(r, v) for r in rule for v in values):
            return False
    return True


# Events as EventBridge delivers them (the whole event is the SQS message body): the shapes of
# /work/shared/context/ecs-deployments-2026.md and aws-api-facts.md, with the extra keys a parser must tolerate.
def ecr_event(action="PUSH", result="SUCCESS", repository="team/web", tag="prod", detail_type="ECR Image Action"):
    return {"version": "0", "id": "13cde686-328b-6117-af20-0e5566167482", "detail-type": detail_type,
            "source": "aws.ecr", "account": ACCOUNT, "time": "2026-11-30T19:00:00Z", "region": REGION,
            "resources": [], "detail": {
                "result": result, "repository-name": repository, "action-type": action, "image-tag": tag,
                "image-digest": "sha256:" + "7f" * 32,
                "manifest-media-type": "application/vnd.oci.image.manifest.v1+json"}}


def ecs_deployment_event(cluster="prod", service="web", name="SERVICE_DEPLOYMENT_IN_PROGRESS"):
    return {"version": "0", "id": "ddca6449-b258-46c0-8653-e0e3a6d0468b", "detail-type":
            "ECS Deployment State Change", "source": "aws.ecs", "account": ACCOUNT, "time": "2026-11-30T19:00:01Z",
            "region": REGION, "resources": ["arn:aws:ecs:%s:%s:service/%s/%s" % (REGION, ACCOUNT, cluster, service)],
            "detail": {"eventType": "INFO", "eventName": name, "deploymentId": "ecs-svc/1234567890123456789",
                       "updatedAt": "2026-11-30T19:00:01.000Z", "reason": "ECS deployment ecs-svc/123 in progress."}}


def ecs_hook_event(cluster="prod", service="web", name="HOOK_AWAITING_ACTION"):
    return {"version": "0", "id": "4f1f3c1e-9d8e-4d0f-a1f0-5c8e0c3b9a11", "detail-type": "ECS Hook State Change",
            "source": "aws.ecs", "account": ACCOUNT, "time": "2026-11-30T19:00:02Z", "region": REGION,
            "resources": [], "detail": {
                "eventName": name, "hookId": "hook-1", "lifecycleStage": "POST_TEST_TRAFFIC_SHIFT",
                "serviceDeploymentArn": "arn:aws:ecs:%s:%s:service-deployment/%s/%s/NCWGC2ZR-taawPAYrIaU5" % (
                    REGION, ACCOUNT, cluster, service),
                "expiresAt": "2026-12-01T19:00:02Z"}}


# Each kind, the rule that must take it (None: no rule).
SAMPLES = [
    ("ECR push", ecr_event(), "EcrImageActionRule"),
    ("ECR delete", ecr_event(action="DELETE"), "EcrImageActionRule"),
    ("ECR push that failed", ecr_event(result="FAILURE"), None),
    ("ECR scan", dict(ecr_event(detail_type="ECR Image Scan"), detail={
        "scan-status": "COMPLETE", "repository-name": "team/web", "image-digest": "sha256:" + "7f" * 32,
        "image-tags": ["prod"], "finding-severity-counts": {}}), None),
    ("ECS deployment in progress", ecs_deployment_event(), "EcsDeploymentRule"),
    ("ECS deployment completed", ecs_deployment_event(name="SERVICE_DEPLOYMENT_COMPLETED"), "EcsDeploymentRule"),
    ("ECS deployment failed", ecs_deployment_event(name="SERVICE_DEPLOYMENT_FAILED"), "EcsDeploymentRule"),
    ("ECS hook awaiting action", ecs_hook_event(), "EcsHookRule"),
    ("ECS hook succeeded", ecs_hook_event(name="HOOK_SUCCEEDED"), "EcsHookRule"),
    ("ECS task state change", {"version": "0", "id": "x", "detail-type": "ECS Task State Change", "source": "aws.ecs",
                               "account": ACCOUNT, "region": REGION, "resources": [], "detail": {}}, None),
]


def which_rules(patterns, event):
    return sorted(logical for logical, p in patterns.items() if matches(p, event))


# -- the tests -----------------------------------------------------------------------------------------------

def test_the_template_has_every_resource_and_output(ctx):
    t = load_template()
    check_eq(t.get("AWSTemplateFormatVersion"), "2010-09-09", "a CloudFormation template")
    types = sorted((logical, r["Type"]) for logical, r in t["Resources"].items())
    check_eq(types, sorted([("Queue", "AWS::SQS::Queue"), ("DeadLetterQueue", "AWS::SQS::Queue"),
                            ("QueuePolicy", "AWS::SQS::QueuePolicy")] +
                           [(r, "AWS::Events::Rule") for r in RULES]), "the resources and their types")
    check_eq(sorted(t["Outputs"]), ["DeadLetterQueueUrl", "QueueArn", "QueueUrl"], "the outputs")
    check_eq(t["Outputs"]["QueueUrl"]["Value"], {"Ref": "Queue"}, "QueueUrl")
    check_eq(t["Outputs"]["QueueArn"]["Value"], {"Fn::GetAtt": ["Queue", "Arn"]}, "QueueArn")
    stack = Stack(t)
    for logical in RULES:
        p = stack.props(logical)
        check_eq(p["State"], "ENABLED", "%s is enabled" % logical)
        check_eq(p["Targets"], [{"Id": "ecr-deployd-queue", "Arn": stack.get_att("Queue", "Arn")}],
                 "%s's one target is the queue (no RoleArn on an SQS target)" % logical)
    q = stack.props("Queue")
    check(q["VisibilityTimeout"] >= 60, "a visibility timeout of at least 60 s: %s" % q["VisibilityTimeout"])
    check(q.get("SqsManagedSseEnabled") is True and "KmsMasterKeyId" not in q, "SSE-SQS, no customer key needed")
    check_eq(stack.value({"Ref": "Queue"}), "https://sqs.us-east-1.amazonaws.com/123456789012/ecr-deployd-events",
             "the queue URL a default stack gives (the docs' queue_url)")


def test_the_dead_letter_queue_takes_what_is_never_deleted(ctx):
    t = load_template()
    stack = Stack(t)
    redrive = stack.props("Queue")["RedrivePolicy"]
    check_eq(redrive, {"deadLetterTargetArn": stack.get_att("DeadLetterQueue", "Arn"), "maxReceiveCount": 5},
             "the queue's redrive policy")
    check_eq(Stack(t, MaxReceiveCount="3").props("Queue")["RedrivePolicy"]["maxReceiveCount"], 3, "the parameter")
    dlq = stack.props("DeadLetterQueue")
    check("RedrivePolicy" not in dlq, "the DLQ redrives nowhere")
    check(dlq["MessageRetentionPeriod"] > stack.props("Queue")["MessageRetentionPeriod"],
          "the DLQ keeps messages longer than the queue (SQS keeps a message's first enqueue time)")
    check_eq(dlq["QueueName"], "ecr-deployd-events-dlq", "the DLQ's name")


def test_each_rule_matches_its_kind_of_event_and_no_other(ctx):
    patterns = Stack(load_template()).patterns()
    wrong = []
    for what, event, rule in SAMPLES:
        got = which_rules(patterns, event)
        if got != ([rule] if rule else []):
            wrong.append("%s: matched by %s, want %s" % (what, got, rule))
    check(not wrong, "with the default parameters:\n  " + "\n  ".join(wrong))
    # The matcher itself: a pattern field missing from the event, a prefix, a list in the event.
    check(not matches({"detail": {"x": ["a"]}}, {"detail": {}}), "a missing field does not match")
    check(matches({"r": [{"prefix": "ab"}]}, {"r": ["zz", "abc"]}), "a prefix matches any element of a list")
    check(not matches({"r": ["1"]}, {"r": 1}), "an exact match keeps the type")


def test_the_parameters_narrow_the_rules(ctx):
    t = load_template()
    web, other = ecr_event(repository="team/web"), ecr_event(repository="tools/web")
    api = ecr_event(repository="team/api", action="DELETE")
    named = Stack(t, RepositoryNames="team/web,tools/x").patterns()
    check_eq([which_rules(named, e) for e in (web, other, api)], [["EcrImageActionRule"], [], []],
             "RepositoryNames: only the named repositories")
    prefix = Stack(t, RepositoryPrefix="team/").patterns()
    check_eq([which_rules(prefix, e) for e in (web, other, api)],
             [["EcrImageActionRule"], [], ["EcrImageActionRule"]], "RepositoryPrefix")
    both = Stack(t, RepositoryNames="tools/web", RepositoryPrefix="team/").patterns()
    check_eq([which_rules(both, e) for e in (web, other)], [[], ["EcrImageActionRule"]],
             "RepositoryNames wins over RepositoryPrefix")
    cluster = Stack(t, ClusterArn=CLUSTER).patterns()
    cases = [(ecs_deployment_event("prod"), ["EcsDeploymentRule"]), (ecs_deployment_event("prod-2"), []),
             (ecs_deployment_event("staging"), []), (ecs_hook_event("prod"), ["EcsHookRule"]),
             (ecs_hook_event("prod-2"), []), (ecs_hook_event("staging"), []), (web, ["EcrImageActionRule"])]
    check_eq([which_rules(cluster, e) for e, _ in cases], [want for _, want in cases],
             "ClusterArn: only that cluster's services (prod, not prod-2 nor staging)")
    check_eq(cluster["EcsDeploymentRule"]["resources"],
             [{"prefix": "arn:aws:ecs:us-east-1:123456789012:service/prod/"}],
             "the service ARN prefix derived from the cluster ARN")


def test_the_queue_policy_lets_each_rule_send_and_nothing_else(ctx):
    stack = Stack(load_template())
    qp = stack.props("QueuePolicy")
    check_eq(qp["Queues"], [stack.ref("Queue")], "the policy is on the queue")
    doc = qp["PolicyDocument"]
    check_eq(doc["Version"], "2012-10-17", "policy version")
    sources = []
    for s in doc["Statement"]:
        check_eq((s["Effect"], s["Principal"], s["Action"], s["Resource"]),
                 ("Allow", {"Service": "events.amazonaws.com"}, "sqs:SendMessage", stack.get_att("Queue", "Arn")),
                 "statement %s: EventBridge may send to this queue" % s.get("Sid"))
        check_eq(list(s["Condition"]), ["ArnEquals"], "statement %s's condition operator" % s.get("Sid"))
        check_eq(list(s["Condition"]["ArnEquals"]), ["aws:SourceArn"], "the condition key")
        sources.append(s["Condition"]["ArnEquals"]["aws:SourceArn"])
    want = sorted(stack.get_att(r, "Arn") for r in RULES)
    check_eq(sorted(sources), want, "aws:SourceArn names each rule, once")
    raw = load_template()["Resources"]["QueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    check_eq(sorted(s["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0] for s in raw), sorted(RULES),
             "each rule named by Fn::GetAtt (so the stack creates the rules first)")
    check_eq(want, ["arn:aws:events:us-east-1:123456789012:rule/ecr-deployd-events-%s" % s
                    for s in ("ecr", "ecs-deploy", "ecs-hook")], "the rules' names (the docs show them)")


def json_blocks(text):
    out = []
    for block in re.findall(r"```json\n(.*?)```", text, re.S):
        try:
            out.append(json.loads(block))
        except ValueError as e:
            raise Failure("a ```json block that is not JSON (%s):\n%s" % (e, block))
    return out


def section(text, title):
    m = re.search(r"^## %s\n(.*?)(?=^## |\Z)" % re.escape(title), text, re.S | re.M)
    check(m, "a section '## %s'" % title)
    return m.group(1)


def template_patterns():
    t = load_template()
    out = []
    for params in PARAMETER_SETS:
        out += [(logical, params, p) for logical, p in Stack(t, **params).patterns().items()]
    return out


def check_no_drift(where, blocks):
    """Every pattern in blocks is one of the template's (under one of PARAMETER_SETS)."""
    known = template_patterns()
    shown = [b for b in blocks if isinstance(b, dict) and "source" in b]
    for b in shown:
        check(any(b == p for _, _, p in known), "%s shows a pattern the template does not have: %s" % (
            where, json.dumps(b)))
    return shown


def test_docs_events_md_shows_the_templates_patterns_and_policies(ctx):
    with open(EVENTS_MD) as f:
        text = f.read()
    blocks = json_blocks(text)
    shown = check_no_drift("docs/events.md", blocks)
    stack = Stack(load_template())
    for logical, p in stack.patterns().items():
        check(p in shown, "docs/events.md shows %s's pattern as the template has it: %s" % (logical, json.dumps(p)))
    doc = stack.props("QueuePolicy")["PolicyDocument"]
    check(doc in blocks, "docs/events.md shows the template's queue policy:\n%s" % json.dumps(doc, indent=2))
    redrive = stack.props("Queue")["RedrivePolicy"]
    check(redrive in blocks, "docs/events.md shows the template's redrive policy: %s" % json.dumps(redrive))
    with open(POLICY_FILE) as f:
        statement = [s for s in json.load(f)["Statement"] if s["Sid"] == "ConsumeEvents"]
    check_eq(len(statement), 1, "docs/iam-policy.json has a ConsumeEvents statement")
    check(statement[0] in blocks, "docs/events.md shows docs/iam-policy.json's ConsumeEvents statement")
    for name in ("ecr-deployd-events.json", "VisibilityTimeout", "maxReceiveCount",
                 "kms:GenerateDataKey", "kms:Decrypt", "aws:SourceArn", "poll_interval", "journalctl",
                 "aws ecr put-image"):
        check(name in text, "docs/events.md mentions %s" % name)
    configs = [b["events"] for b in blocks if isinstance(b, dict) and "events" in b]
    check(configs, "docs/events.md shows an \"events\" configuration")
    check(any(e.get("queue_url") == stack.ref("Queue") for c in configs for e in c),
          "a configuration example names the queue a default stack makes")


def test_the_readme_shows_the_templates_patterns(ctx):
    with open(README) as f:
        text = f.read()
    part = section(text, "Push events")
    shown = check_no_drift("the README's Push events section", json_blocks(part))
    check(shown, "the README's Push events section shows at least one rule pattern")
    check("docs/events.md" in part and "ecr-deployd-events.json" in part,
          "the README's section points to docs/events.md and the template")


def test_the_documented_configurations_are_accepted(ctx):
    """docs/events.md's and the README's "events" examples pass --check-config (with a watch beside them), and
    the summary names the queue."""
    with open(EVENTS_MD) as f:
        docs = [b for b in json_blocks(f.read()) if isinstance(b, dict) and "events" in b]
    with open(README) as f:
        readme = [json.loads(b) for b in re.findall(r"```jsonc?\n(.*?)```", section(f.read(), "Push events"), re.S)]
    readme = [b for b in readme if isinstance(b, dict) and "events" in b]
    check(docs and readme, "both show an \"events\" configuration")
    watch = {"name": "web", "repository": "team/web", "tag": "prod",
             "targets": [{"cluster": "prod", "service": "web", "container": "app"}]}
    for n, example in enumerate(docs + readme):
        path = ctx.write("example-%d.json" % n, json.dumps(dict(example, watches=[watch])))
        status, out, err = ctx.run([daemon_path(), "-c", path, "--config-dir", ctx.path("none"), "--check-config"])
        check_eq(status, 0, "--check-config of %s: %s" % (json.dumps(example), err))
        check(out.rstrip().endswith("configuration OK"), "OK: %s" % out)
        for q in example["events"]:
            check(q["queue_url"] in out, "the summary names %s: %s" % (q["queue_url"], out))


def test_the_journal_events_in_the_docs_are_the_daemons(ctx):
    """Each MESSAGE_ID docs/events.md lists is the one daemon/events.h defines under that name."""
    with open(EVENTS_MD) as f:
        rows = re.findall(r"^\| ([A-Z_]+) \| `([0-9a-f]{32})` \|", f.read(), re.M)
    check_eq(sorted(n for n, _ in rows), ["IMAGE_DELETED", "MESSAGE_MALFORMED", "QUEUE_FAILED", "QUEUE_RECOVERED"],
             "the queue events docs/events.md lists")
    with open(os.path.join(ROOT, "daemon", "events.h")) as f:
        defined = dict(re.findall(r'^#define EVENT_([A-Z_]+)\s+"([0-9a-f]{32})"', f.read(), re.M))
    for name, mid in rows:
        check_eq(defined.get(name), mid, "daemon/events.h's EVENT_%s" % name)


def test_the_queue_figures_in_the_docs_are_the_daemons(ctx):
    """docs/events.md's long poll, HTTP timeout and visibility floor are daemon/queue.c's, and it does not
    say the daemon leaves the visibility timeout alone (it asks for the floor when the queue's is below)."""
    with open(os.path.join(ROOT, "daemon", "queue.c")) as f:
        defs = {k: int(v) for k, v in re.findall(r"^#define ([A-Z_]+)\s+(\d+)", f.read(), re.M)}
    with open(EVENTS_MD) as f:
        text = " ".join(f.read().split())
    check("`WaitTimeSeconds` %d" % defs["WAIT_S"] in text, "docs/events.md gives the wait, %d s" % defs["WAIT_S"])
    check("HTTP timeout of %d s" % (defs["RECEIVE_TIMEOUT"] // 1000) in text,
          "docs/events.md gives the HTTP timeout, %d ms" % defs["RECEIVE_TIMEOUT"])
    check(defs["RECEIVE_TIMEOUT"] > defs["WAIT_S"] * 1000, "the HTTP timeout is above the wait")
    floor = defs["MIN_VISIBILITY_S"]
    check("below %d s" % floor in text and "asks for %d s" % floor in text,
          "docs/events.md says a timeout below %d s is asked as %d s" % (floor, floor))
    check("does not override" not in text, "docs/events.md does not say the daemon never overrides the timeout")


REPO_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web"
RULE_OF = {"ECR Image Action": "EcrImageActionRule", "ECS Deployment State Change": "EcsDeploymentRule",
           "ECS Hook State Change": "EcsHookRule"}


def test_what_awssim_delivers_is_taken_by_its_rule_only(ctx):
    """The events exactly as an SQS target receives them (the simulator's EventBridge, built from the same
    facts): an ECR push and delete and ECS deployment state changes, each taken by its rule and no other, under
    every parameter set; and none of them under parameters that exclude their repository or cluster."""
    sim = Sim(ctx, seed={
        "settings": {"task_start_seconds": 0.2},
        "repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "a"}, {"tag": "old", "seed": "o"}]}],
        "clusters": ["prod"],
        "task_definitions": [{"family": "web", "containerDefinitions": [
            {"name": "app", "image": REPO_URI + ":prod", "memory": 128, "essential": True}]}],
        "services": [{"cluster": "prod", "serviceName": "web", "taskDefinition": "web:1", "desiredCount": 1}],
        "queues": ["ecr-deployd-events"]})
    sim.event_rule("ecr-deployd-events")
    digest = sim.push("team/web", "prod", seed="b")
    ecs = sim.client("ecs")
    td = ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": REPO_URI + "@" + digest, "memory": 128}])["taskDefinition"]["taskDefinitionArn"]
    ecs.update_service(cluster="prod", service="web", taskDefinition=td)
    sim.delete_image("team/web", "old")

    def bodies():
        sim.control("POST", "/tick")
        got = [json.loads(m["body"]) for m in sim.queue_messages("ecr-deployd-events")]
        names = {(e["detail-type"], e["detail"].get("action-type") or e["detail"].get("eventName")) for e in got}
        return got if {("ECR Image Action", "PUSH"), ("ECR Image Action", "DELETE"),
                       ("ECS Deployment State Change", "SERVICE_DEPLOYMENT_COMPLETED")} <= names else None
    events = wait_for(bodies, 30, "the push, the delete and the deployment's events on the queue")
    t = load_template()
    for params in PARAMETER_SETS:
        patterns = Stack(t, **params).patterns()
        for e in events:
            check_eq(which_rules(patterns, e), [RULE_OF[e["detail-type"]]],
                     "the rules that take awssim's event (parameters %s): %s" % (params, json.dumps(e)))
    narrow = Stack(t, RepositoryPrefix="tools/", ClusterArn=CLUSTER.replace("/prod", "/staging")).patterns()
    check_eq([which_rules(narrow, e) for e in events], [[] for _ in events],
             "none is taken for another repository prefix and cluster")
