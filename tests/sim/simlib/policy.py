# SPDX-License-Identifier: MIT
"""IAM identity-based policies: parsing, evaluation, and what each simulated
call asks IAM for.

A policy set by `--policy FILE` or `POST /_sim/policy` makes the simulator
authorize every signed call as IAM does for identity-based policies: an
implicit deny unless an Allow statement matches; an explicit Deny wins;
Action/NotAction and Resource/NotResource as a string or a list, with `*`
and `?` wildcards (actions case-insensitive, resources case-sensitive);
Condition with the string, ARN, Bool and Null operators (and their IfExists
forms) on the keys the simulator puts in a request's context. A call may ask
for more than its own action: RegisterTaskDefinition also asks iam:PassRole
for each role it names and ecs:TagResource when it carries tags, and
CodeDeploy's CreateDeployment asks codedeploy:GetDeploymentConfig on the
deployment config it runs with and codedeploy:RegisterApplicationRevision (or
GetApplicationRevision) on the application, as AWS does.
"""

import re

from .core import AwsError

VERSIONS = ("2012-10-17", "2008-10-17")
STATEMENT_KEYS = {"Sid", "Effect", "Action", "NotAction", "Resource", "NotResource", "Condition"}
STRING_OPS = ("StringEquals", "StringNotEquals", "StringEqualsIgnoreCase", "StringNotEqualsIgnoreCase",
              "StringLike", "StringNotLike", "ArnEquals", "ArnNotEquals", "ArnLike", "ArnNotLike", "Bool")
CONDITION_OPS = STRING_OPS + ("Null",)
ACTION_RE = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*?]+$", re.I)
ECS_TASKS = "ecs-tasks.amazonaws.com"
SET_QUALIFIERS = ("ForAnyValue:", "ForAllValues:")


class PolicyError(ValueError):
    """A malformed policy document; the message names the place and the problem."""


def _glob(pattern, ignore_case):
    parts = []
    for ch in pattern:
        parts.append(".*" if ch == "*" else "." if ch == "?" else re.escape(ch))
    return re.compile("^" + "".join(parts) + "$", re.S | (re.I if ignore_case else 0))


def _arn_match(pattern, value):
    """ArnLike/ArnEquals and Resource: the six colon-separated parts of an ARN match one by one (a
    wildcard never spans a colon of the first five); anything else as a plain glob."""
    if pattern == "*" or not pattern.startswith("arn:"):
        return bool(_glob(pattern, False).match(value))
    want, got = pattern.split(":", 5), value.split(":", 5)
    return len(want) == len(got) == 6 and all(_glob(w, False).match(g) for w, g in zip(want, got))


def _strings(value, where, allow_scalar_types=False):
    """A string or a non-empty list of strings, as a list."""
    if isinstance(value, str):
        return [value]
    if allow_scalar_types and isinstance(value, (bool, int, float)):
        return [str(value).lower() if isinstance(value, bool) else str(value)]
    if isinstance(value, list) and value:
        out = []
        for i, v in enumerate(value):
            out += _strings(v, "%s[%d]" % (where, i), allow_scalar_types)
        return out
    raise PolicyError("%s must be a string or a non-empty list of strings, not %s" % (where, _show(value)))


def _show(value):
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class Statement:
    def __init__(self, doc, where):
        if not isinstance(doc, dict):
            raise PolicyError("%s must be an object, not %s" % (where, _show(doc)))
        unknown = set(doc) - STATEMENT_KEYS
        if "Principal" in doc or "NotPrincipal" in doc:
            raise PolicyError("%s: an identity-based policy has no Principal" % where)
        if unknown:
            raise PolicyError("%s: unknown element(s) %s" % (where, ", ".join(sorted(map(repr, unknown)))))
        self.sid = doc.get("Sid")
        if self.sid is not None and (not isinstance(self.sid, str) or not re.match(r"^[A-Za-z0-9]*$", self.sid)):
            raise PolicyError("%s.Sid must be a string of letters and digits, not %s" % (where, _show(self.sid)))
        if self.sid:
            where = "%s (Sid %s)" % (where, self.sid)
        self.effect = doc.get("Effect")
        if self.effect not in ("Allow", "Deny"):
            raise PolicyError("%s.Effect must be \"Allow\" or \"Deny\", not %s" % (where, _show(self.effect)))
        if ("Action" in doc) == ("NotAction" in doc):
            raise PolicyError("%s needs exactly one of Action and NotAction" % where)
        if ("Resource" in doc) == ("NotResource" in doc):
            raise PolicyError("%s needs exactly one of Resource and NotResource" % where)
        akey = "Action" if "Action" in doc else "NotAction"
        self.not_action = akey == "NotAction"
        actions = _strings(doc[akey], "%s.%s" % (where, akey))
        for a in actions:
            if a != "*" and not ACTION_RE.match(a):
                raise PolicyError("%s.%s: %s is not \"*\" nor \"service:Action\"" % (where, akey, _show(a)))
        self.actions = [_glob(a, True) for a in actions]
        rkey = "Resource" if "Resource" in doc else "NotResource"
        self.not_resource = rkey == "NotResource"
        resources = _strings(doc[rkey], "%s.%s" % (where, rkey))
        for r in resources:
            if r != "*" and not (r.startswith("arn:") and r.count(":") >= 5):
                raise PolicyError("%s.%s: %s is not \"*\" nor an ARN (arn:partition:service:region:account:"
                                  "resource)" % (where, rkey, _show(r)))
        self.resources = resources
        self.conditions = []
        cond = doc.get("Condition", {})
        if not isinstance(cond, dict):
            raise PolicyError("%s.Condition must be an object, not %s" % (where, _show(cond)))
        for full_op, block in cond.items():
            qual, op = None, full_op
            if isinstance(op, str) and op.startswith(SET_QUALIFIERS):
                qual, op = op.split(":", 1)
            base = op[:-len("IfExists")] if op.endswith("IfExists") and op != "IfExists" else op
            if base not in CONDITION_OPS or (base == "Null" and (op != base or qual)):
                raise PolicyError("%s.Condition: operator %s is not one awssim evaluates (%s, each also "
                                  "...IfExists, and ForAnyValue:/ForAllValues: before them but Null)"
                                  % (where, _show(full_op), ", ".join(CONDITION_OPS)))
            op = full_op
            if not isinstance(block, dict) or not block:
                raise PolicyError("%s.Condition.%s must be a non-empty object of key: values" % (where, op))
            for key, values in block.items():
                vals = _strings(values, "%s.Condition.%s.%s" % (where, op, key), allow_scalar_types=True)
                if base in ("Bool", "Null") and any(v.lower() not in ("true", "false") for v in vals):
                    raise PolicyError("%s.Condition.%s.%s: %s wants \"true\" or \"false\"" % (where, op, key, base))
                self.conditions.append((base, base + "IfExists" in op, key.lower(), vals, qual))

    def applies(self, action, resource, context):
        hit = any(p.match(action) for p in self.actions)
        if hit == self.not_action:
            return False
        hit = any(_arn_match(p, resource) for p in self.resources)
        if hit == self.not_resource:
            return False
        return all(_qualified(qual, op, if_exists, context.get(key), vals)
                   for op, if_exists, key, vals, qual in self.conditions)


def _qualified(qual, op, if_exists, value, wanted):
    """A condition on a key that may hold several values (a list in the context): ForAnyValue
    wants one of them to match (none: false), ForAllValues each of them (none: true); without a
    qualifier a list matches when one of its values does."""
    if qual is None:
        if isinstance(value, list):
            return any(_condition(op, if_exists, v, wanted) for v in value) if value else \
                _condition(op, if_exists, None, wanted)
        return _condition(op, if_exists, value, wanted)
    values = value if isinstance(value, list) else ([] if value is None else [value])
    if qual == "ForAnyValue":
        return any(_condition(op, False, v, wanted) for v in values)
    return all(_condition(op, False, v, wanted) for v in values)


def _condition(op, if_exists, value, wanted):
    if op == "Null":
        return (value is None) == (wanted[0].lower() == "true")
    negated = "Not" in op
    if value is None:
        # A missing key: true for ...IfExists and for the negated operators, as IAM does.
        return if_exists or negated
    if op.startswith("Arn"):
        hit = any(_arn_match(w, value) for w in wanted)
    elif op in ("StringLike", "StringNotLike"):
        hit = any(_glob(w, False).match(value) for w in wanted)
    elif op.endswith("IgnoreCase"):
        hit = any(w.lower() == value.lower() for w in wanted)
    elif op == "Bool":
        hit = any(w.lower() == value.lower() for w in wanted)
    else:
        hit = value in wanted
    return not hit if negated else hit


class Policy:
    def __init__(self, doc):
        if not isinstance(doc, dict):
            raise PolicyError("a policy must be a JSON object, not %s" % _show(doc))
        unknown = set(doc) - {"Version", "Id", "Statement"}
        if unknown:
            raise PolicyError("policy: unknown element(s) %s" % ", ".join(sorted(map(repr, unknown))))
        if "Version" in doc and doc["Version"] not in VERSIONS:
            raise PolicyError("policy.Version must be one of %s, not %s" % (", ".join(VERSIONS), _show(doc["Version"])))
        if "Statement" not in doc:
            raise PolicyError("policy: no Statement")
        stmts = doc["Statement"]
        if isinstance(stmts, dict):
            stmts = [stmts]
        if not isinstance(stmts, list) or not stmts:
            raise PolicyError("policy.Statement must be an object or a non-empty list, not %s" % _show(stmts))
        self.statements = [Statement(s, "Statement[%d]" % i) for i, s in enumerate(stmts)]
        sids = [s.sid for s in self.statements if s.sid]
        dup = sorted({s for s in sids if sids.count(s) > 1})
        if dup:
            raise PolicyError("policy: Sid %s is used more than once" % ", ".join(dup))
        self.doc = doc

    def decide(self, action, resource, context):
        """"deny" (an explicit Deny applies), "allow", or None (nothing applies: an implicit deny)."""
        verdict = None
        for s in self.statements:
            if s.applies(action, resource, context):
                if s.effect == "Deny":
                    return "deny"
                verdict = "allow"
        return verdict


class Policies:
    """The policy every identity gets, and those that replace it for one access key."""

    def __init__(self):
        self.default = None
        self.per_key = {}

    def set(self, doc, access_key=None):
        p = None if doc is None else Policy(doc)
        if access_key is None:
            self.default = p
        elif p is None:
            self.per_key.pop(access_key, None)
        else:
            self.per_key[access_key] = p

    def describe(self):
        return {"policy": self.default.doc if self.default else None,
                "access_keys": {k: p.doc for k, p in sorted(self.per_key.items())}}

    def for_key(self, access_key):
        return self.per_key.get(access_key, self.default)

    def authorize(self, world, service, operation, params, ident):
        """None when the call may go on; else the AwsError that denies it, with .denied = {action, resource}."""
        policy = self.for_key(ident.key.access_key)
        if policy is None:
            return None  # no policy: any valid key may do anything in its account
        for action, resources, context in checks(world, service, operation, params, ident):
            # A tuple of actions: any one of them allowed will do (the denial names the first).
            either = action if isinstance(action, tuple) else (action,)
            action = either[0]
            for resource in resources:
                verdicts = [policy.decide(a, resource, context) for a in either]
                verdict = "allow" if "allow" in verdicts else verdicts[0]
                if verdict != "allow":
                    err = denial(service, ident.arn, action, resource, verdict == "deny")
                    err.denied = {"action": action, "resource": resource, "explicit": verdict == "deny"}
                    return err
        return None


def denial(service, principal, action, resource, explicit):
    """AccessDenied in the shape and status that service answers."""
    shown = action.lower() if service == "sqs" else action  # SQS names its actions in lower case
    msg = "User: %s is not authorized to perform: %s on resource: %s %s" % (
        principal, shown, resource, "with an explicit deny in an identity-based policy" if explicit
        else "because no identity-based policy allows the %s action" % shown)
    if service == "sts":
        return AwsError("AccessDenied", msg, 403)
    if service == "sqs":
        err = AwsError("AccessDeniedException", msg, 403, namespace="com.amazon.coral.service",
                       query_error="AccessDenied;Sender")
        err.message_key = "Message"
        return err
    return AwsError("AccessDeniedException", msg, 400)


# -- what each call asks for ----------------------------------------------------

PREFIX = {"ecr": "ecr", "ecs": "ecs", "sqs": "sqs", "codedeploy": "codedeploy", "sts": "sts",
          "events": "events", "dynamodb": "dynamodb"}


def action_prefix(service):
    """The IAM service prefix: the model's signingName, else its endpointPrefix."""
    if service in PREFIX:
        return PREFIX[service]
    from . import model
    meta = model.service(service).metadata
    return meta.get("signingName") or meta.get("endpointPrefix") or service


def _last(ref, marker):
    return ref.split(marker, 1)[1] if marker in ref else ref


def _ecs_cluster(ident, params):
    ref = params.get("cluster") or "default"
    name = _last(ref, ":cluster/") if ref.startswith("arn:") else ref
    return name, "arn:aws:ecs:%s:%s:cluster/%s" % (ident.region, ident.account, name)


def _ecs_arn(ident, kind, cluster, ref):
    """The ARN of an ECS service or task given by name, id or ARN (the new, cluster-qualified format)."""
    if ref.startswith("arn:"):
        rest = _last(ref, ":%s/" % kind)
        if "/" not in rest:
            rest = "%s/%s" % (cluster, rest)
        head = ref.split(":%s/" % kind, 1)[0]
        return "%s:%s/%s" % (head, kind, rest)
    return "arn:aws:ecs:%s:%s:%s/%s/%s" % (ident.region, ident.account, kind, cluster, ref)


def _ecs_checks(world, operation, p, ident):
    cluster, cluster_arn = _ecs_cluster(ident, p)
    ctx = {"ecs:cluster": cluster_arn}
    own = "ecs:" + operation
    if operation in ("UpdateService", "DeleteService"):
        return [(own, [_ecs_arn(ident, "service", cluster, p["service"])], ctx)]
    if operation == "DescribeServices":
        return [(own, [_ecs_arn(ident, "service", cluster, s) for s in p.get("services", [])], ctx)]
    if operation in ("DescribeTasks", "StopTask"):
        tasks = p.get("tasks") or ([p["task"]] if p.get("task") else [])
        return [(own, [_ecs_arn(ident, "task", cluster, t) for t in tasks], ctx)]
    if operation == "ListTasks":
        # IAM evaluates ListTasks against the cluster's container instances (also on Fargate).
        return [(own, ["arn:aws:ecs:%s:%s:container-instance/%s/*" % (ident.region, ident.account, cluster)], ctx)]
    if operation == "ListServiceDeployments":
        return [(own, [_ecs_arn(ident, "service", cluster, p["service"])], ctx)]
    if operation == "DescribeServiceDeployments":
        return [(own, list(p.get("serviceDeploymentArns") or []), {})]
    if operation == "DescribeServiceRevisions":
        return [(own, list(p.get("serviceRevisionArns") or []), {})]
    if operation in ("ContinueServiceDeployment", "StopServiceDeployment"):
        return [(own, [p["serviceDeploymentArn"]], {})]
    if operation == "CreateService":
        arn = _ecs_arn(ident, "service", cluster, p["serviceName"])
        out = [(own, [arn], ctx)]
        if p.get("tags"):
            out.append(("ecs:TagResource", [arn], dict(ctx, **{"ecs:createaction": "CreateService"})))
        return out
    if operation == "CreateCluster":
        arn = "arn:aws:ecs:%s:%s:cluster/%s" % (ident.region, ident.account, p.get("clusterName") or "default")
        out = [(own, [arn], {})]
        if p.get("tags"):
            out.append(("ecs:TagResource", [arn], {"ecs:createaction": "CreateCluster"}))
        return out
    if operation == "DescribeClusters":
        names = p.get("clusters") or ["default"]
        return [(own, [_ecs_cluster(ident, {"cluster": c})[1] for c in names], {})]
    if operation == "RegisterTaskDefinition":
        tags = {t.get("key"): t.get("value", "") for t in p.get("tags") or [] if isinstance(t, dict)}
        req_ctx = {"aws:requesttag/%s" % k.lower(): v for k, v in tags.items() if isinstance(k, str)}
        out = [(own, ["*"], req_ctx)]
        for field in ("taskRoleArn", "executionRoleArn"):
            if p.get(field):
                out.append(("iam:PassRole", [p[field]], {"iam:passedtoservice": ECS_TASKS}))
        if p.get("tags"):
            revs = world.ecs.families.get((ident.account, ident.region, p["family"])) or []
            arn = "arn:aws:ecs:%s:%s:task-definition/%s:%d" % (ident.region, ident.account, p["family"],
                                                               len(revs) + 1)
            out.append(("ecs:TagResource", [arn], dict(req_ctx, **{"ecs:createaction": "RegisterTaskDefinition"})))
        return out
    # DescribeTaskDefinition, DeregisterTaskDefinition, List* and the rest: IAM lists no resource type.
    return [(own, ["*"], ctx if "cluster" in p else {})]


def _ecr_checks(operation, p, ident):
    account = p.get("registryId") or ident.account
    own = "ecr:" + operation

    def repo(name):
        return "arn:aws:ecr:%s:%s:repository/%s" % (ident.region, account, name)

    if operation == "GetAuthorizationToken":
        return [(own, ["*"], {})]
    if operation == "DescribeRepositories":
        return [(own, [repo(n) for n in p.get("repositoryNames") or ["*"]], {})]
    if "repositoryName" in p:
        return [(own, [repo(p["repositoryName"])], {})]
    return [(own, ["*"], {})]


# SQS authorizes a batch by the action of its single form.
SQS_BATCH_ACTIONS = {"DeleteMessageBatch": "DeleteMessage", "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
                     "SendMessageBatch": "SendMessage"}


def _sqs_checks(world, operation, p, ident):
    own = "sqs:" + SQS_BATCH_ACTIONS.get(operation, operation)
    if "QueueUrl" in p:
        q = world.sqs.queues.get(p["QueueUrl"])
        if q is not None:
            return [(own, [q.arn], {})]
        parts = p["QueueUrl"].rstrip("/").split("/")
        if len(parts) >= 2:
            return [(own, ["arn:aws:sqs:%s:%s:%s" % (ident.region, parts[-2], parts[-1])], {})]
    if "QueueName" in p:
        account = p.get("QueueOwnerAWSAccountId") or ident.account
        return [(own, ["arn:aws:sqs:%s:%s:%s" % (ident.region, account, p["QueueName"])], {})]
    return [(own, ["*"], {})]


# CreateDeployment asks for more than its own action. The CodeDeploy user guide ("CodeDeploy
# permissions reference", note 1): "When you specify CreateDeployment permissions, you must also
# specify GetDeploymentConfig permissions for the deployment configuration and GetApplicationRevision
# or RegisterApplicationRevision permissions for the application revision." An AppSpecContent
# revision is registered by the deployment: RegisterApplicationRevision first, either will do.
CODEDEPLOY_REVISION_ACTIONS = ("codedeploy:RegisterApplicationRevision", "codedeploy:GetApplicationRevision")


def _codedeploy_checks(world, operation, p, ident):
    """CodeDeploy's resources: a deployment group (…:deploymentgroup:APP/GROUP) for the calls on a group
    and on its deployments (those named by id: the group of each), an application for
    CreateApplication and ListDeploymentGroups, `*` for ListApplications (and ListDeployments
    without an application). CreateDeployment on a group that exists also asks GetDeploymentConfig
    on the config it runs with (…:deploymentconfig:NAME: the call's, else the group's) and
    RegisterApplicationRevision or GetApplicationRevision on …:application:APP, in that order."""
    own = "codedeploy:" + operation
    base = "arn:aws:codedeploy:%s:%s:" % (ident.region, ident.account)

    def group(app, name):
        return base + "deploymentgroup:%s/%s" % (app, name)

    if operation == "CreateDeployment" and isinstance(p.get("applicationName"), str) and \
            isinstance(p.get("deploymentGroupName"), str):
        app, name = p["applicationName"], p["deploymentGroupName"]
        out = [(own, [group(app, name)], {})]
        config = world.codedeploy.config_of(ident.account, ident.region, app, name)
        if config is not None:  # an unknown group: the call fails as not found once allowed
            out.append(("codedeploy:GetDeploymentConfig",
                        [base + "deploymentconfig:%s" % (p.get("deploymentConfigName") or config)], {}))
            out.append((CODEDEPLOY_REVISION_ACTIONS, [base + "application:%s" % app], {}))
        return out
    if operation == "BatchGetDeploymentGroups" and isinstance(p.get("deploymentGroupNames"), list):
        return [(own, [group(p["applicationName"], n) for n in p["deploymentGroupNames"]] or ["*"], {})]
    if "deploymentGroupName" in p and "applicationName" in p:
        return [(own, [group(p["applicationName"], p["deploymentGroupName"])], {})]
    ids = p.get("deploymentIds") if operation == "BatchGetDeployments" else (
        [p["deploymentId"]] if "deploymentId" in p else None)
    if ids is not None:
        # An unknown deployment: its group cannot be known; IAM then evaluates the action on `*`
        # (the simulator's guess; the call fails as not found when it is allowed).
        groups = [world.codedeploy.group_of(i) for i in ids]
        return [(own, sorted({group(*g) if g else "*" for g in groups}) or ["*"], {})]
    if "applicationName" in p:
        return [(own, [base + "application:%s" % p["applicationName"]], {})]
    return [(own, ["*"], {})]


def _events_checks(operation, p, ident):
    """EventBridge's PutEvents: events:PutEvents on each entry's bus (default "default"), in its
    account and region unless the entry names it by ARN."""
    own = "events:" + operation
    if operation != "PutEvents":
        return [(own, ["*"], {})]
    arns = []
    for e in p.get("Entries") or []:
        bus = (e.get("EventBusName") if isinstance(e, dict) else None) or "default"
        arn = bus if bus.startswith("arn:") else "arn:aws:events:%s:%s:event-bus/%s" % (ident.region, ident.account,
                                                                                      bus)
        if arn not in arns:
            arns.append(arn)
    return [(own, arns or ["*"], {})]


# TransactWriteItems is authorized action by action, each as its single-item form (AWS: "Using IAM
# with DynamoDB transactions"), with dynamodb:EnclosingOperation naming the transaction.
DYNAMODB_TX_ACTIONS = {"ConditionCheck": "ConditionCheckItem", "Put": "PutItem", "Update": "UpdateItem",
                       "Delete": "DeleteItem"}


def _dynamodb_table_arn(ident, name):
    if isinstance(name, str) and name.startswith("arn:"):
        return name
    return "arn:aws:dynamodb:%s:%s:table/%s" % (ident.region, ident.account, name)


def _dynamodb_leading_key(world, ident, name, p, item_member):
    """dynamodb:LeadingKeys: the partition key value the request touches, when it can be told."""
    from .dynamodb import TABLE_ARN_RE
    m = TABLE_ARN_RE.match(name) if isinstance(name, str) else None
    ref = (m.group(2), m.group(1), m.group(3)) if m else (ident.account, ident.region, name)
    t = world.dynamodb.tables.get(ref)
    if t is None:
        return None
    hash_name = t.keys[0][0]
    source = p.get(item_member)
    if isinstance(source, dict) and isinstance(source.get(hash_name), dict):
        v = source[hash_name]
        return [str(next(iter(v.values())))] if len(v) == 1 else None
    kce = p.get("KeyConditionExpression")
    if isinstance(kce, str):
        names = p.get("ExpressionAttributeNames") or {}
        values = p.get("ExpressionAttributeValues") or {}
        for ref_name, ref_value in re.findall(r"(#?[A-Za-z0-9_]+)\s*=\s*(:[A-Za-z0-9_]+)", kce):
            if names.get(ref_name, ref_name) == hash_name and isinstance(values.get(ref_value), dict) \
                    and len(values[ref_value]) == 1:
                return [str(next(iter(values[ref_value].values())))]
    return None


def _dynamodb_checks(world, operation, p, ident):
    """DynamoDB: each call on its table's ARN (a name in the caller's account and region, or the ARN
    given); TransactWriteItems as its actions' single-item forms; context dynamodb:LeadingKeys
    (the partition key touched) and dynamodb:EnclosingOperation (in a transaction)."""
    if operation == "TransactWriteItems":
        out = []
        for a in p.get("TransactItems") or []:
            for kind, action in DYNAMODB_TX_ACTIONS.items():
                body = a.get(kind) if isinstance(a, dict) else None
                if isinstance(body, dict):
                    ctx = {"dynamodb:enclosingoperation": "TransactWriteItems"}
                    lead = _dynamodb_leading_key(world, ident, body.get("TableName"), body,
                                                 "Item" if kind == "Put" else "Key")
                    if lead:
                        ctx["dynamodb:leadingkeys"] = lead
                    out.append(("dynamodb:" + action, [_dynamodb_table_arn(ident, body.get("TableName"))], ctx))
        return out
    if "TableName" not in p:
        return [("dynamodb:" + operation, ["*"], {})]
    ctx = {}
    lead = _dynamodb_leading_key(world, ident, p["TableName"], p, "Item" if operation == "PutItem" else "Key")
    if lead:
        ctx["dynamodb:leadingkeys"] = lead
    if p.get("ReturnValues"):
        ctx["dynamodb:returnvalues"] = p["ReturnValues"]
    return [("dynamodb:" + operation, [_dynamodb_table_arn(ident, p["TableName"])], ctx)]


def checks(world, service, operation, params, ident):
    """What IAM evaluates for a call: [(action, [resource ARN...], context)], in the order AWS checks them;
    an action may be a tuple of actions any one of which authorizes that part of the call."""
    if service == "ecs":
        return _ecs_checks(world, operation, params, ident)
    if service == "ecr":
        return _ecr_checks(operation, params, ident)
    if service == "sqs":
        return _sqs_checks(world, operation, params, ident)
    if service == "codedeploy":
        return _codedeploy_checks(world, operation, params, ident)
    if service == "events":
        return _events_checks(operation, params, ident)
    if service == "dynamodb":
        return _dynamodb_checks(world, operation, params, ident)
    if service == "sts":
        if operation == "GetCallerIdentity":
            return []  # needs no permission, as in AWS
        if operation == "AssumeRole":
            return [("sts:AssumeRole", [params["RoleArn"]], {})]
        return [("sts:" + operation, ["*"], {})]
    return [("%s:%s" % (action_prefix(service), operation), ["*"], {})]
