# SPDX-License-Identifier: MIT
"""awssim IAM identity policies: allow and implicit deny per action,
wildcards, NotAction, explicit deny, conditions, the implied iam:PassRole and
ecs:TagResource checks, AccessDenied in each protocol's shape, the control
endpoint and --policy, and malformed policies refused."""

import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))

from harness import PYTHON, SIM, SIM_KEY, Sim, aws_error, check, check_eq  # noqa: E402

ACCOUNT = "123456789012"
USER = "arn:aws:iam::%s:user/awssim" % ACCOUNT
ECS = "arn:aws:ecs:us-east-1:%s:" % ACCOUNT
ECR = "arn:aws:ecr:us-east-1:%s:repository/" % ACCOUNT
OTHER_KEY = ("AKIDAWSSIMOTHER00002", "awssim/other/secret/key/0123456789abcd")
IMAGE = "%s.dkr.ecr.us-east-1.amazonaws.com/team/web:prod" % ACCOUNT


def world(ctx, keys=(SIM_KEY,)):
    return Sim(ctx, keys=keys, seed={
        "repositories": [{"name": "team/web", "images": [{"tag": "prod", "seed": "one"}]},
                         {"name": "other/api", "images": [{"tag": "prod", "seed": "two"}]}],
        "clusters": ["prod"],
        "task_definitions": [{"family": "web", "containerDefinitions": [{"name": "app", "image": IMAGE,
                                                                          "memory": 128}]}],
        "services": [{"cluster": "prod", "serviceName": "web", "taskDefinition": "web:1", "desiredCount": 1},
                     {"cluster": "prod", "serviceName": "api", "taskDefinition": "web:1", "desiredCount": 1}],
        "queues": ["events"],
    })


def policy(*statements):
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource="*", **more):
    return dict({"Effect": "Allow", "Action": action, "Resource": resource}, **more)


def set_policy(sim, doc, access_key=None, expect=200):
    body = {"policy": doc}
    if access_key is not None:
        body["access_key"] = access_key
    return sim.control("POST", "/policy", body, expect=expect)


def denied_msg(action, resource, explicit=False):
    return "User: %s is not authorized to perform: %s on resource: %s %s" % (
        USER, action, resource, "with an explicit deny in an identity-based policy" if explicit
        else "because no identity-based policy allows the %s action" % action)


def expect_denied(fn, action, resource, explicit=False, **kw):
    code, message, status, _ = aws_error(fn, **kw)
    check_eq((code, status), ("AccessDeniedException", 400), "%s denied" % action)
    check_eq(message, denied_msg(action, resource, explicit), "the message of the denial")


def register(ecs, **kw):
    return ecs.register_task_definition(family="web", containerDefinitions=[
        {"name": "app", "image": IMAGE, "memory": 128}], **kw)["taskDefinition"]


def test_allowed_and_denied_per_action(ctx):
    sim = world(ctx)
    ecs, ecr = sim.client("ecs"), sim.client("ecr")
    set_policy(sim, policy(
        allow(["ecs:DescribeServices", "ecs:UpdateService"], ECS + "service/prod/web"),
        allow("ecs:ListTasks", ECS + "container-instance/prod/*"),
        allow(["ecs:DescribeTasks"], ECS + "task/prod/*"),
        allow(["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"]),
        allow(["ecr:DescribeImages", "ecr:BatchGetImage"], ECR + "team/web")))
    check_eq(ecs.describe_services(cluster="prod", services=["web"])["services"][0]["serviceName"], "web",
             "DescribeServices of the allowed service")
    expect_denied(ecs.describe_services, "ecs:DescribeServices", ECS + "service/prod/api", cluster="prod",
                  services=["web", "api"])
    ecs.update_service(cluster="prod", service=ECS + "service/prod/web", desiredCount=2)
    expect_denied(ecs.update_service, "ecs:UpdateService", ECS + "service/prod/api", cluster="prod",
                  service="api", desiredCount=2)
    tasks = ecs.list_tasks(cluster="prod", serviceName="web")["taskArns"]
    check(tasks, "ListTasks on the cluster's container instances")
    ecs.describe_tasks(cluster="prod", tasks=tasks)
    expect_denied(ecs.list_tasks, "ecs:ListTasks", ECS + "container-instance/default/*")
    register(ecs)
    ecs.describe_task_definition(taskDefinition="web:1")
    expect_denied(ecs.deregister_task_definition, "ecs:DeregisterTaskDefinition", "*", taskDefinition="web:2")
    expect_denied(ecs.list_clusters, "ecs:ListClusters", "*")
    ecr.describe_images(repositoryName="team/web", imageIds=[{"imageTag": "prod"}])
    ecr.batch_get_image(repositoryName="team/web", imageIds=[{"imageTag": "prod"}])
    expect_denied(ecr.describe_images, "ecr:DescribeImages", ECR + "other/api", repositoryName="other/api")
    expect_denied(ecr.list_images, "ecr:ListImages", ECR + "team/web", repositoryName="team/web")
    expect_denied(ecr.describe_images, "ecr:DescribeImages", "arn:aws:ecr:us-east-1:210987654321:repository/team/web",
                  repositoryName="team/web", registryId="210987654321")
    # A denied call changed nothing and is logged as denied.
    check_eq(ecs.describe_services(cluster="prod", services=["web"])["services"][0]["desiredCount"], 2,
             "the allowed update was carried out")
    log = sim.requests(operation="UpdateService")
    check_eq([(r["status"], r["error"], (r.get("denied") or {}).get("action")) for r in log],
             [(200, None, None), (400, "AccessDeniedException", "ecs:UpdateService")], "the request log")
    check("carried_out" not in log[1], "the denied update was not carried out")


def test_wildcards_and_case(ctx):
    sim = world(ctx)
    ecs, ecr = sim.client("ecs"), sim.client("ecr")
    # Actions are case-insensitive; resources are not; * and ? both match.
    set_policy(sim, policy(allow("ECS:describe*", ECS + "service/pro?/w*"),
                           allow("ecr:*Images", ECR + "team/*")))
    ecs.describe_services(cluster="prod", services=["web"])
    expect_denied(ecs.describe_services, "ecs:DescribeServices", ECS + "service/prod/api", cluster="prod",
                  services=["api"])
    ecr.list_images(repositoryName="team/web")
    ecr.describe_images(repositoryName="team/web")
    expect_denied(ecr.batch_get_image, "ecr:BatchGetImage", ECR + "team/web", repositoryName="team/web",
                  imageIds=[{"imageTag": "prod"}])
    set_policy(sim, policy(allow("ecr:DescribeImages", ECR + "Team/*")))
    expect_denied(ecr.describe_images, "ecr:DescribeImages", ECR + "team/web", repositoryName="team/web")
    set_policy(sim, policy(allow("*", "*")))
    ecr.describe_images(repositoryName="team/web")


def test_not_action_and_explicit_deny(ctx):
    sim = world(ctx)
    ecs = sim.client("ecs")
    set_policy(sim, policy(
        {"Effect": "Allow", "NotAction": ["ecs:Update*", "ecs:Deregister*"], "Resource": "*"},
        {"Sid": "NoApi", "Effect": "Deny", "Action": "ecs:DescribeServices", "Resource": ECS + "service/prod/api"},
        {"Effect": "Allow", "Action": "ecs:DeregisterTaskDefinition", "NotResource": ECS + "nothing/*"}))
    ecs.describe_services(cluster="prod", services=["web"])
    expect_denied(ecs.update_service, "ecs:UpdateService", ECS + "service/prod/web", cluster="prod",
                  service="web", desiredCount=2)
    # The Allow of NotAction covers DescribeServices of api as well: the Deny wins.
    expect_denied(ecs.describe_services, "ecs:DescribeServices", ECS + "service/prod/api", explicit=True,
                  cluster="prod", services=["api"])
    ecs.deregister_task_definition(taskDefinition="web:1")


def test_passrole_implied_and_its_condition(ctx):
    sim = world(ctx)
    ecs = sim.client("ecs")
    task_role = "arn:aws:iam::%s:role/web-task" % ACCOUNT
    exec_role = "arn:aws:iam::%s:role/ecsTaskExecutionRole" % ACCOUNT
    roles = {"taskRoleArn": task_role, "executionRoleArn": exec_role}
    set_policy(sim, policy(allow("ecs:RegisterTaskDefinition")))
    expect_denied(lambda: register(ecs, **roles), "iam:PassRole", task_role)
    passrole = allow("iam:PassRole", "arn:aws:iam::%s:role/web-*" % ACCOUNT,
                     Condition={"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}})
    set_policy(sim, policy(allow("ecs:RegisterTaskDefinition"), passrole))
    register(ecs, taskRoleArn=task_role)
    expect_denied(lambda: register(ecs, **roles), "iam:PassRole", exec_role)
    set_policy(sim, policy(allow("ecs:RegisterTaskDefinition"), dict(passrole, Resource=[task_role, exec_role])))
    check_eq(register(ecs, **roles)["revision"], 3, "both roles passed: registered")
    # The condition must hold: a PassRole only to another service does not let ECS tasks have it.
    set_policy(sim, policy(allow("ecs:RegisterTaskDefinition"), dict(
        passrole, Resource="*", Condition={"StringLike": {"iam:PassedToService": "ecs.*"}})))
    expect_denied(lambda: register(ecs, **roles), "iam:PassRole", task_role)
    set_policy(sim, policy(allow("ecs:RegisterTaskDefinition"), dict(
        passrole, Resource="*", Condition={"StringLike": {"iam:PassedToService": "ecs-tasks.*"}})))
    register(ecs, executionRoleArn=exec_role)
    # A register without roles asks for no PassRole; a refused one registered nothing.
    set_policy(sim, policy(allow(["ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"])))
    check_eq(register(ecs)["revision"], 5, "no role, no PassRole; the refused calls registered nothing")


def test_tagresource_implied_on_create(ctx):
    sim = world(ctx)
    ecs = sim.client("ecs")
    tags = [{"key": "team", "value": "web"}]
    set_policy(sim, policy(allow("ecs:RegisterTaskDefinition")))
    register(ecs)
    expect_denied(lambda: register(ecs, tags=tags), "ecs:TagResource", ECS + "task-definition/web:3")
    tag = allow("ecs:TagResource", ECS + "task-definition/web:*",
                Condition={"StringEquals": {"ecs:CreateAction": "RegisterTaskDefinition"}})
    set_policy(sim, policy(allow("ecs:RegisterTaskDefinition"), tag))
    check_eq(register(ecs, tags=tags)["revision"], 3, "tagged on create")
    set_policy(sim, policy(allow("ecs:RegisterTaskDefinition"), dict(
        tag, Condition={"StringEquals": {"ecs:CreateAction": "CreateService"}})))
    expect_denied(lambda: register(ecs, tags=tags), "ecs:TagResource", ECS + "task-definition/web:4")
    # aws:RequestTag/<key> is in the context of the create.
    set_policy(sim, policy(allow("ecs:RegisterTaskDefinition", Condition={"StringEquals": {
        "aws:RequestTag/team": "web"}}), tag))
    register(ecs, tags=tags)
    expect_denied(lambda: register(ecs, tags=[{"key": "team", "value": "api"}]), "ecs:RegisterTaskDefinition", "*")


def test_conditions_on_the_cluster(ctx):
    sim = world(ctx)
    ecs = sim.client("ecs")
    set_policy(sim, policy(allow(["ecs:UpdateService", "ecs:ListTasks"], "*", Condition={
        "ArnEquals": {"ecs:cluster": ECS + "cluster/prod"}})))
    ecs.list_tasks(cluster="prod")
    ecs.update_service(cluster=ECS + "cluster/prod", service="web", desiredCount=1)
    expect_denied(ecs.list_tasks, "ecs:ListTasks", ECS + "container-instance/default/*")
    set_policy(sim, policy(allow("ecs:ListTasks", "*", Condition={"ArnLike": {"ecs:cluster": ECS + "cluster/p*"}}),
                           allow("ecs:ListClusters", "*", Condition={"Null": {"ecs:cluster": "true"}}),
                           allow("ecs:DescribeClusters", "*",
                                 Condition={"StringNotEqualsIfExists": {"ecs:cluster": "x"}})))
    ecs.list_tasks(cluster="prod")
    ecs.list_clusters()
    ecs.describe_clusters(clusters=["prod"])
    expect_denied(ecs.list_tasks, "ecs:ListTasks", ECS + "container-instance/default/*", cluster="default")


def test_error_shapes_per_protocol(ctx):
    sim = world(ctx)
    set_policy(sim, policy(allow("sqs:GetQueueUrl")))
    # STS: query protocol, XML, 403 AccessDenied.
    role = "arn:aws:iam::%s:role/deployer" % ACCOUNT
    code, message, status, _ = aws_error(sim.client("sts").assume_role, RoleArn=role, RoleSessionName="s1")
    check_eq((code, status), ("AccessDenied", 403), "STS's AccessDenied")
    check_eq(message, denied_msg("sts:AssumeRole", role), "STS's message")
    check_eq(sim.client("sts").get_caller_identity()["Arn"], USER, "GetCallerIdentity needs no permission")
    # SQS: JSON 1.0, 403, coral's AccessDeniedException with the query-compatible code, lower-case action.
    sqs = sim.client("sqs")
    url = sqs.get_queue_url(QueueName="events")["QueueUrl"]
    code, message, status, headers = aws_error(sqs.receive_message, QueueUrl=url)
    check_eq((code, status), ("AccessDenied", 403), "SQS's code as botocore reads it")
    check_eq(headers.get("x-amzn-query-error"), "AccessDenied;Sender", "SQS's query-compatible code")
    check_eq(message, denied_msg("sqs:receivemessage", "arn:aws:sqs:us-east-1:%s:events" % ACCOUNT),
             "SQS's message")
    import urllib.request
    import botocore.auth
    import botocore.awsrequest
    import botocore.credentials
    req = botocore.awsrequest.AWSRequest(method="POST", url=sim.url + "/", data=json.dumps({"QueueUrl": url}),
                                         headers={"X-Amz-Target": "AmazonSQS.ReceiveMessage",
                                                  "Content-Type": "application/x-amz-json-1.0",
                                                  "x-amzn-query-mode": "true"})
    botocore.auth.SigV4Auth(botocore.credentials.Credentials(*SIM_KEY), "sqs", "us-east-1").add_auth(req)
    try:
        urllib.request.urlopen(urllib.request.Request(sim.url + "/", data=req.body, headers=dict(req.headers),
                                                      method="POST"), timeout=10)
        raise AssertionError("SQS answered a denied call")
    except urllib.error.HTTPError as e:
        body = json.loads(e.read())
    check_eq(sorted(body), ["Message", "__type"], "SQS's error body")
    check_eq(body["__type"], "com.amazon.coral.service#AccessDeniedException", "SQS's __type")
    # ECR, ECS and CodeDeploy: JSON 1.1, 400 AccessDeniedException.
    for service, fn, kw in (("ecr", "get_authorization_token", {}), ("ecs", "list_clusters", {}),
                            ("codedeploy", "get_deployment", {"deploymentId": "d-ABCDEFGHI"})):
        code, message, status, _ = aws_error(getattr(sim.client(service), fn), **kw)
        check_eq((code, status), ("AccessDeniedException", 400), "%s's AccessDenied" % service)
        check(message.startswith("User: %s is not authorized to perform: %s:" % (USER, service)),
              "%s's message: %r" % (service, message))


def test_control_endpoint(ctx):
    sim = world(ctx, keys=(SIM_KEY, OTHER_KEY))
    ecs, other = sim.client("ecs"), sim.client("ecs", key=OTHER_KEY)
    check_eq(sim.control("GET", "/policy"), {"policy": None, "access_keys": {}}, "no policy at first")
    ecs.list_clusters()
    doc = policy(allow("ecs:ListClusters"))
    set_policy(sim, doc, access_key=OTHER_KEY[0])
    ecs.list_clusters()
    other.list_clusters()
    expect_denied(other.list_services, "ecs:ListServices", "*", cluster="prod")
    ecs.list_services(cluster="prod")
    # Without access_key: every identity, but a key's own policy replaces it.
    set_policy(sim, policy(allow("ecs:ListServices")))
    expect_denied(ecs.list_clusters, "ecs:ListClusters", "*")
    other.list_clusters()
    check_eq(sim.control("GET", "/policy"), {"policy": policy(allow("ecs:ListServices")),
                                             "access_keys": {OTHER_KEY[0]: doc}}, "GET /policy")
    set_policy(sim, None, access_key=OTHER_KEY[0])
    other.list_services(cluster="prod")
    expect_denied(other.list_clusters, "ecs:ListClusters", "*")
    # A reset keeps the policies, like the static keys.
    sim.control("POST", "/reset")
    expect_denied(ecs.list_clusters, "ecs:ListClusters", "*")
    # After the signature and the request's validation, before faults.
    sim.fault("ecs.ListClusters", "500")
    code = aws_error(ecs.list_clusters)[0]
    check_eq(code, "AccessDeniedException", "denied before the fault")
    check_eq(len(sim.control("GET", "/faults")["rules"]), 1, "the fault was not used")
    check_eq(aws_error(ecs.list_clusters, maxResults="many")[0], "ClientException",
             "an invalid request is refused before IAM")
    check_eq(aws_error(sim.client("ecs", key=(SIM_KEY[0], "wrong")).list_clusters)[0], "SignatureDoesNotMatch",
             "a bad signature before IAM")
    set_policy(sim, None)
    check_eq(aws_error(ecs.list_clusters)[0], "ServerException", "null removes it: the fault now")


def test_malformed_policy_refused(ctx):
    sim = world(ctx)
    good = allow("ecs:ListClusters")
    for doc, named in (
            ([good], "JSON object"),
            ({"Version": "2012-10-17"}, "no Statement"),
            ({"Version": "2020-01-01", "Statement": [good]}, "Version"),
            (policy(), "non-empty list"),
            (policy(dict(good, Effect="allow")), "Effect"),
            (policy({"Effect": "Allow", "Resource": "*"}), "Action and NotAction"),
            (policy(dict(good, NotAction="ecs:X")), "Action and NotAction"),
            (policy({"Effect": "Allow", "Action": "ecs:X"}), "Resource and NotResource"),
            (policy(dict(good, Action="ListClusters")), "service:Action"),
            (policy(dict(good, Action=[])), "Action must be"),
            (policy(dict(good, Resource="team/web")), "ARN"),
            (policy(dict(good, Principal="*")), "Principal"),
            (policy(dict(good, Condition={"StringEqualz": {"a:b": "c"}})), "StringEqualz"),
            (policy(dict(good, Condition={"Bool": {"aws:SecureTransport": "yes"}})), "true"),
            (policy(dict(good, Actions="ecs:X")), "'Actions'"),
            (policy(dict(good, Sid="A"), dict(good, Sid="A")), "Sid A"),
            ({"Statement": [good], "Extra": 1}, "'Extra'")):
        got = set_policy(sim, doc, expect=400)
        check("malformed policy" in got["error"] and named in got["error"],
              "%s refused naming %r: %s" % (json.dumps(doc)[:80], named, got["error"]))
    check_eq(sim.control("GET", "/policy")["policy"], None, "nothing was set")
    check("policy" in sim.control("POST", "/policy", {}, expect=400)["error"], "a body without policy")
    # --policy FILE: a malformed one stops awssim from starting, naming the file and the problem.
    bad = ctx.write("bad.json", json.dumps(policy(dict(good, Effect="Maybe"))))
    status, _, err = ctx.run([PYTHON, SIM, "--port", "0", "--policy", bad], timeout=20)
    check(status not in (0, None) and bad in err and "Effect" in err, "awssim refused it: %d %s" % (status, err))
    status, _, err = ctx.run([PYTHON, SIM, "--port", "0", "--policy", ctx.write("notjson", "{")], timeout=20)
    check(status not in (0, None) and "notjson" in err, "not JSON: %d %s" % (status, err))


def test_policy_file_enforced(ctx):
    path = ctx.write("policy.json", json.dumps(policy(allow("ecs:ListClusters"))))
    port_file = ctx.path("p.port")
    proc = ctx.spawn([PYTHON, SIM, "--port", "0", "--port-file", port_file, "--access-key", ":".join(SIM_KEY),
                      "--policy", path], name="awssim-policy")
    from harness import wait_for
    wait_for(lambda: os.path.exists(port_file) and open(port_file).read().strip(), 10, "awssim to listen")
    sim = Sim.__new__(Sim)  # a client for that process: the same endpoint logic as Sim
    sim.ctx, sim.proc, sim.key, sim.tls_url, sim.ca = ctx, proc, SIM_KEY, None, None
    sim.port = int(open(port_file).read())
    sim.url = "http://127.0.0.1:%d" % sim.port
    ecs = sim.client("ecs")
    ecs.list_clusters()
    expect_denied(ecs.create_cluster, "ecs:CreateCluster", ECS + "cluster/x", clusterName="x")
    check_eq(sim.control("GET", "/policy")["policy"], policy(allow("ecs:ListClusters")), "the file's policy")
