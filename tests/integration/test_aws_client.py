# SPDX-License-Identifier: MIT
"""common/aws, common/credentials and common/http against awssim, through
build/awscall: every credential source end to end, endpoint precedence,
every injected fault, the retry budget, clock skew, TLS and concurrency.
Every test's outputs are scanned for secrets by the runner."""

import json
import os
import time

from harness import ROOT, SIM_KEY, Failure, Sim, check, check_eq, daemon_path, wait_for

AWSCALL = os.path.join(os.path.dirname(os.environ.get("ECR_DEPLOYD_BIN") or
                                       os.path.join(ROOT, "build", "ecr-deployd")), "awscall")
ROLE = "arn:aws:iam::210987654321:role/deployer"


def base_env(ctx, sim, **extra):
    """A clean environment: no AWS settings from the machine, HOME in the
    test's directory, IMDS off unless a test points it at the simulator."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=ctx.path(), AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_ENDPOINT_URL=sim.url)
    env.update({k: v for k, v in extra.items() if v is not None})
    for k in [k for k, v in extra.items() if v is None]:
        env.pop(k, None)
    return env


def static_env(ctx, sim, **extra):
    return base_env(ctx, sim, AWS_ACCESS_KEY_ID=SIM_KEY[0], AWS_SECRET_ACCESS_KEY=SIM_KEY[1], **extra)


def awscall(ctx, env, *args, timeout=60):
    status, out, err = ctx.run([AWSCALL] + [str(a) for a in args], env=env, timeout=timeout)
    results = [json.loads(l) for l in out.splitlines() if l.strip()]
    return status, results, err


def source_of(err):
    return err.rsplit("credentials=", 1)[-1].strip()


def both_services(ctx, sim, env, *extra):
    """One signed ECR call and one signed ECS call with the same credentials; both must be accepted."""
    s1, r1, e1 = awscall(ctx, env, *extra, "ecr", "DescribeRepositories")
    s2, r2, e2 = awscall(ctx, env, *extra, "ecs", "ListClusters")
    check_eq((s1, s2), (0, 0), "ECR and ECS calls: %s %s / %s %s" % (r1, e1, r2, e2))
    return source_of(e2)


def test_environment_credentials(ctx):
    sim = Sim(ctx)
    env = static_env(ctx, sim)
    status, res, err = awscall(ctx, env, "ecr", "CreateRepository", '{"repositoryName":"web"}')
    check_eq((status, res[0]["ok"]), (0, True), "ECR call: %s" % err)
    status, res, err = awscall(ctx, env, "ecs", "CreateCluster", '{"clusterName":"prod"}')
    check_eq(res[0]["body"]["cluster"]["clusterName"], "prod", "ECS call")
    check_eq(source_of(err), "environment", "source")
    log = sim.requests()
    check_eq([(r["service"], r["signature"]) for r in log], [("ecr", "ok"), ("ecs", "ok")], "signed and accepted")
    status, res, err = awscall(ctx, base_env(ctx, sim, AWS_ACCESS_KEY_ID=SIM_KEY[0]), "ecs", "ListClusters")
    check_eq((status, res[0]["code"]), (1, "CredentialsError"), "half-set environment")
    check("AWS_SECRET_ACCESS_KEY is not" in res[0]["message"], "says what is missing")


def test_profile_static_keys_and_region(ctx):
    sim = Sim(ctx)
    ctx.write("config", "[default]\nregion = us-west-2\n\n[profile ops]\nregion = us-east-1\n"
                        "  # an indented line belongs to a nested block\n")
    creds = ctx.write("credentials", "[ops]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % SIM_KEY)
    ctx.secret_holders.add(creds)
    env = base_env(ctx, sim, AWS_REGION=None, AWS_CONFIG_FILE=ctx.path("config"),
                   AWS_SHARED_CREDENTIALS_FILE=creds)
    status, res, err = awscall(ctx, env, "--profile", "ops", "ecs", "CreateCluster", '{"clusterName":"a"}')
    check_eq(status, 0, "profile call: %s" % err)
    check_eq(source_of(err), "profile 'ops'", "source")
    check_eq(both_services(ctx, sim, env, "--profile", "ops"), "profile 'ops'", "both services")
    check(":us-east-1:" in res[0]["body"]["cluster"]["clusterArn"], "region from the profile")
    status, res, err = awscall(ctx, dict(env, AWS_PROFILE="missing"), "--region", "us-east-1", "ecs", "ListClusters")
    check_eq(res[0]["code"], "CredentialsError", "a named profile that does not exist")
    check("profile 'missing'" in res[0]["message"], "names the profile: %r" % res[0]["message"])
    bad = ctx.write("bad-config", "[default]\nregion us-east-1\n")
    status, res, err = awscall(ctx, dict(env, AWS_CONFIG_FILE=bad), "--region", "us-east-1", "ecs", "ListClusters")
    check("bad-config:2: expected 'key = value'" in res[0]["message"], "file:line in the error: %r" % res[0]["message"])


def test_profile_assume_role(ctx):
    sim = Sim(ctx)
    ctx.write("config", "[profile deploy]\nrole_arn = %s\nsource_profile = base\nrole_session_name = ecr-deployd-test\n"
              % ROLE)
    creds = ctx.write("credentials", "[base]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % SIM_KEY)
    ctx.secret_holders.add(creds)
    env = base_env(ctx, sim, AWS_CONFIG_FILE=ctx.path("config"), AWS_SHARED_CREDENTIALS_FILE=creds,
                   AWS_PROFILE="deploy")
    status, res, err = awscall(ctx, env, "ecs", "CreateCluster", '{"clusterName":"x"}')
    check_eq(status, 0, "assumed-role call: %s" % err)
    check(":210987654321:" in res[0]["body"]["cluster"]["clusterArn"], "acts in the role's account")
    check("role '%s'" % ROLE in source_of(err), "source names the role: %s" % source_of(err))
    sts = sim.requests(service="sts")
    check_eq([(r["operation"], r["signature"], r["params"]["RoleSessionName"]) for r in sts],
             [("AssumeRole", "ok", "ecr-deployd-test")], "a signed AssumeRole")
    ecs = sim.requests(service="ecs")
    check(ecs[0]["access_key"].startswith("ASIA"), "the ECS call used the temporary key")
    both_services(ctx, sim, env)


def test_web_identity(ctx):
    sim = Sim(ctx)
    sim.settings(web_identity_tokens=["eks-token-1"])
    tok = ctx.write("token", "eks-token-1\n")
    ctx.secrets.add("eks-token-1")
    ctx.secret_holders.add(tok)
    env = base_env(ctx, sim, AWS_WEB_IDENTITY_TOKEN_FILE=tok, AWS_ROLE_ARN=ROLE, AWS_ROLE_SESSION_NAME="pod-1")
    status, res, err = awscall(ctx, env, "ecr", "CreateRepository", '{"repositoryName":"wi-repo"}')
    check_eq(status, 0, "web identity call: %s %s" % (res, err))
    check_eq(res[0]["body"]["repository"]["registryId"], "210987654321", "the role's account")
    sts = sim.requests(service="sts")
    check_eq([(r["operation"], r["signature"]) for r in sts], [("AssumeRoleWithWebIdentity", "unsigned")],
             "an unsigned AssumeRoleWithWebIdentity")
    check("web identity" in both_services(ctx, sim, env), "both services")
    ctx.write("token", "forged\n")
    status, res, err = awscall(ctx, env, "ecr", "DescribeRepositories")
    check_eq(res[0]["code"], "CredentialsError", "a rejected token")
    check("InvalidIdentityToken" in res[0]["message"], "with STS's reason: %r" % res[0]["message"])
    status, res, err = awscall(ctx, base_env(ctx, sim, AWS_WEB_IDENTITY_TOKEN_FILE=tok), "ecs", "ListClusters")
    check("AWS_ROLE_ARN is not" in res[0]["message"], "role missing: %r" % res[0]["message"])
    # From a profile.
    ctx.write("token", "eks-token-1\n")
    ctx.write("config", "[profile wi]\nrole_arn = %s\nweb_identity_token_file = %s\n" % (ROLE, tok))
    status, res, err = awscall(ctx, base_env(ctx, sim, AWS_CONFIG_FILE=ctx.path("config"), AWS_PROFILE="wi"),
                               "ecs", "ListClusters")
    check_eq(status, 0, "web identity from a profile: %s" % err)
    check("profile 'wi'" in source_of(err), "source: %s" % source_of(err))


def test_container_credentials(ctx):
    sim = Sim(ctx)
    sim.settings(container_authorization="Bearer s3cr3t-container-token")
    ctx.secrets.add("s3cr3t-container-token")
    path = sim.control("POST", "/container-credentials", {"id": "task-7"})["path"]
    tokfile = ctx.write("auth-token", "Bearer s3cr3t-container-token\n")
    ctx.secret_holders.add(tokfile)
    env = base_env(ctx, sim, AWS_CONTAINER_CREDENTIALS_FULL_URI=sim.url + path,
                   AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=tokfile)
    status, res, err = awscall(ctx, env, "ecs", "CreateCluster", '{"clusterName":"c"}')
    check_eq(status, 0, "container credentials: %s" % err)
    check_eq(source_of(err), "container credentials", "source")
    got = [r for r in sim.requests(service="credentials")]
    check_eq([r["status"] for r in got], [200], "one credentials fetch")
    check_eq(both_services(ctx, sim, env), "container credentials", "both services")
    env2 = dict(env, AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer wrong")
    del env2["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"]
    status, res, err = awscall(ctx, env2, "ecs", "ListClusters")
    check_eq(res[0]["code"], "CredentialsError", "a wrong authorization token")
    check("HTTP 401" in res[0]["message"], "says why: %r" % res[0]["message"])
    # Only https or loopback/link-local hosts; refused before any request is made.
    env3 = base_env(ctx, sim, AWS_CONTAINER_CREDENTIALS_FULL_URI="http://192.0.2.1/creds")
    status, res, err = awscall(ctx, env3, "ecs", "ListClusters")
    check("must be https, or http to a loopback" in res[0]["message"], "host refused: %r" % res[0]["message"])
    env4 = dict(env2, AWS_CONTAINER_AUTHORIZATION_TOKEN="Bearer x\r\nX-Evil: 1")
    status, res, err = awscall(ctx, env4, "ecs", "ListClusters")
    check("CR or LF" in res[0]["message"], "header injection refused: %r" % res[0]["message"])


def test_imds_v2(ctx):
    sim = Sim(ctx)
    env = base_env(ctx, sim, AWS_EC2_METADATA_DISABLED=None, AWS_EC2_METADATA_SERVICE_ENDPOINT=sim.url)
    status, res, err = awscall(ctx, env, "ecr", "CreateRepository", '{"repositoryName":"imds-repo"}')
    check_eq(status, 0, "IMDS credentials: %s %s" % (res, err))
    check_eq(source_of(err), "EC2 instance metadata", "source")
    paths = [r["operation"] for r in sim.requests(service="credentials")]
    check_eq(paths, ["/latest/api/token", "/latest/meta-data/iam/security-credentials/",
                     "/latest/meta-data/iam/security-credentials/awssim-instance-role"], "the IMDSv2 dance")
    check_eq(both_services(ctx, sim, env), "EC2 instance metadata", "both services")
    status, res, err = awscall(ctx, base_env(ctx, sim), "ecs", "ListClusters")
    check_eq(res[0]["code"], "CredentialsError", "nothing configured and IMDS disabled")
    check("no credentials found" in res[0]["message"] and "disabled" in res[0]["message"],
          "a clear sentence: %r" % res[0]["message"])


def test_credentials_refresh_before_expiry(ctx):
    sim = Sim(ctx)
    sim.settings(credential_lifetime_seconds=12)
    env = base_env(ctx, sim, AWS_EC2_METADATA_DISABLED=None, AWS_EC2_METADATA_SERVICE_ENDPOINT=sim.url)
    status, res, err = awscall(ctx, env, "--repeat", 16, "--interval-ms", 1000, "ecs", "ListClusters", timeout=90)
    check_eq((status, sum(r["ok"] for r in res)), (0, 16), "every call succeeded: %s" % err)
    keys = []
    for r in sim.requests(service="ecs"):
        if r["access_key"] not in keys:
            keys.append(r["access_key"])
    check(len(keys) >= 2, "refreshed to new keys before expiry (keys used: %d)" % len(keys))
    check(not sim.requests(error="ExpiredTokenException"), "no call ever used an expired key")


def test_refresh_failure_keeps_using_unexpired_credentials(ctx):
    sim = Sim(ctx)
    sim.settings(credential_lifetime_seconds=16)
    env = static_env(ctx, sim)
    p = ctx.spawn([AWSCALL, "--role-arn", ROLE, "--repeat", "22", "--interval-ms", "1000", "ecs", "ListClusters"],
                  env=env, name="awscall")
    wait_for(lambda: sim.requests(operation="AssumeRole"), 10, "the first AssumeRole")
    sim.fault("sts.AssumeRole", "503", rate=1.0)
    wait_for(lambda: sim.requests(operation="AssumeRole", fault="503"), 20, "a refresh attempt to fail")
    during = len(sim.requests(service="ecs", status=200))
    time.sleep(2)  # let calls run while refresh keeps failing (a pace, not a synchronisation)
    check(len(sim.requests(service="ecs", status=200)) > during, "calls go on with the unexpired key")
    sim.control("DELETE", "/faults")
    status = p.wait(60)
    out = [json.loads(l) for l in p.read_stdout().splitlines()]
    check_eq((status, sum(r["ok"] for r in out)), (0, 22), "all calls succeeded: %s" % p.read_stderr()[-500:])
    ok_sts = sim.requests(operation="AssumeRole", status=200)
    check(len(ok_sts) >= 2, "a refresh succeeded after the fault cleared (%d)" % len(ok_sts))
    failed_sts = sim.requests(operation="AssumeRole", fault="503")
    gaps = [b["time"] - a["time"] for a, b in zip(failed_sts, failed_sts[1:])]
    check(all(g > 0.05 for g in gaps), "failed refreshes are spaced by backoff, not hammered: %r" % gaps)


def test_cross_account_role(ctx):
    sim = Sim(ctx)
    env = static_env(ctx, sim)
    status, res, err = awscall(ctx, env, "--role-arn", ROLE, "ecs", "CreateCluster", '{"clusterName":"x"}')
    check_eq(status, 0, "assumed role: %s" % err)
    check(":210987654321:" in res[0]["body"]["cluster"]["clusterArn"], "in the other account")
    check("assumed with environment" in source_of(err), "source: %s" % source_of(err))


def test_endpoint_precedence(ctx):
    sim = Sim(ctx)
    dead = "http://127.0.0.1:9"  # discard port: nothing listens
    env = static_env(ctx, sim, AWS_ENDPOINT_URL=dead, AWS_ENDPOINT_URL_ECS=sim.url)
    status, res, err = awscall(ctx, env, "--max-attempts", 1, "ecs", "ListClusters")
    check_eq(status, 0, "AWS_ENDPOINT_URL_ECS wins over AWS_ENDPOINT_URL: %s" % res)
    status, res, err = awscall(ctx, env, "--max-attempts", 1, "ecr", "DescribeRepositories")
    check_eq(res[0]["code"], "ConnectionError", "ECR falls back to AWS_ENDPOINT_URL (dead)")
    status, res, err = awscall(ctx, env, "--endpoint", sim.url, "ecr", "DescribeRepositories")
    check_eq(status, 0, "the configured endpoint wins over both")
    env2 = static_env(ctx, sim, AWS_ENDPOINT_URL=dead, AWS_ENDPOINT_URL_ECS=dead,
                      AWS_IGNORE_CONFIGURED_ENDPOINT_URLS="true")
    status, res, err = awscall(ctx, env2, "--endpoint", sim.url, "ecs", "ListClusters")
    check_eq(status, 0, "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS leaves the configured one")


def fault_case(ctx, sim, kind, extra=(), **fault):
    sim.fault("ecs.ListClusters", kind, **fault)
    return awscall(ctx, static_env(ctx, sim), "--retry-base-ms", 20, *extra, "ecs", "ListClusters")


def test_each_fault_is_retried_to_success(ctx):
    sim = Sim(ctx)
    for kind, extra, fault in (("throttle", (), {}), ("429", (), {}), ("500", (), {}), ("503", (), {}),
                               ("close-before", (), {}), ("close-mid", (), {}), ("truncated", (), {}),
                               ("malformed-json", (), {}), ("wrong-content-type", (), {}),
                               ("delay", ("--timeout-ms", 400), {"delay": 1.5})):
        status, res, err = fault_case(ctx, sim, kind, extra, **fault)
        check_eq((status, res[0]["ok"], res[0]["attempts"]), (0, True, 2), "%s then success" % kind)


def test_persistent_faults_end_in_clean_errors(ctx):
    sim = Sim(ctx)
    want = {"throttle": ("ThrottlingException", 400, 0), "429": ("ThrottlingException", 429, 0),
            "500": ("ServerException", 500, 0), "503": ("ServiceUnavailableException", 503, 0),
            "close-before": ("ConnectionError", 0, -104), "truncated": ("ConnectionError", 0, -104),
            "malformed-json": ("MalformedResponse", 200, 0), "wrong-content-type": ("MalformedResponse", 200, 0)}
    for kind, (code, http_status, transport) in want.items():
        status, res, err = fault_case(ctx, sim, kind, ("--max-attempts", 3), rate=1.0)
        sim.control("DELETE", "/faults")
        r = res[0]
        check_eq((status, r["ok"], r["code"], r["http_status"], r["attempts"]), (1, False, code, http_status, 3),
                 "persistent %s" % kind)
        if transport:
            check_eq(r["transport"], transport, "transport error of %s" % kind)
        if http_status >= 400:
            check(r["request_id"], "the request id of %s" % kind)
    status, res, err = fault_case(ctx, sim, "delay", ("--timeout-ms", 300, "--max-attempts", 2), delay=1, rate=1.0)
    sim.control("DELETE", "/faults")
    check_eq((res[0]["code"], res[0]["transport"], res[0]["attempts"]), ("RequestTimeout", -110, 2), "timeouts")
    status, res, err = fault_case(ctx, sim, "oversize", ())
    check_eq((res[0]["code"], res[0]["transport"], res[0]["attempts"]), ("ConnectionError", -27, 1),
             "an oversized reply is refused, not retried")
    check("larger than" in res[0]["message"], "says why: %r" % res[0]["message"])
    # Client errors are never retried.
    status, res, err = awscall(ctx, static_env(ctx, sim), "ecr", "DescribeImages", '{"repositoryName":"none"}')
    check_eq((res[0]["code"], res[0]["attempts"]), ("RepositoryNotFoundException", 1), "no retry of a 400")


def test_retry_budget_stops_a_storm(ctx):
    sim = Sim(ctx)
    sim.fault("ecs.ListClusters", "503", rate=1.0)
    status, res, err = awscall(ctx, static_env(ctx, sim), "--budget", 20, "--max-attempts", 5, "--retry-base-ms",
                               1, "--parallel", 20, "ecs", "ListClusters")
    sent = len(sim.requests(operation="ListClusters"))
    check_eq(sum(not r["ok"] for r in res), 20, "all failed")
    check(sent <= 20 + 4, "20 calls made at most 4 retries between them with a budget of 20 (sent %d)" % sent)
    budget = int(err.split("budget=")[1].split(",")[0])
    check_eq(budget, 20 - 5 * (sent - 20), "each retry took 5 tokens and no failure paid any back")


def test_clock_skew_is_corrected(ctx):
    sim = Sim(ctx)
    sim.settings(clock_skew_seconds=900)
    status, res, err = awscall(ctx, static_env(ctx, sim), "ecs", "ListClusters")
    check_eq((status, res[0]["attempts"]), (0, 2), "one rejected attempt, then success: %s" % res)
    skew = int(err.split("skew=")[1].split(",")[0])
    check(abs(skew - 900) <= 5, "learned the skew from the Date header (%d)" % skew)
    check_eq([r["error"] for r in sim.requests()], ["InvalidSignatureException", None], "what the server saw")


def test_tls(ctx):
    sim = Sim(ctx, tls=True)
    env = static_env(ctx, sim, AWS_ENDPOINT_URL=sim.tls_url)
    status, res, err = awscall(ctx, env, "--ca-bundle", sim.ca, "ecs", "ListClusters")
    check_eq(status, 0, "trusted CA: %s" % res)
    status, res, err = awscall(ctx, env, "--ca-bundle", sim.other_ca, "ecs", "ListClusters")
    check_eq((res[0]["code"], res[0]["transport"], res[0]["attempts"]), ("ConnectionError", -13, 1),
             "an untrusted certificate is refused and not retried")
    status, res, err = awscall(ctx, env, "ecs", "ListClusters")
    check_eq(res[0]["transport"], -13, "the system store does not trust the test CA either")


def test_two_hundred_requests_in_flight(ctx):
    sim = Sim(ctx)
    t0 = time.monotonic()
    status, res, err = awscall(ctx, static_env(ctx, sim), "--parallel", 200, "ecs", "ListClusters")
    took = time.monotonic() - t0
    check_eq((status, sum(r["ok"] for r in res)), (0, 200), "200 calls")
    check("max_in_flight=200" in err, "all 200 in flight at once: %s" % err)
    conns = int(err.split("connections=")[1].split(",")[0])
    check(conns <= 16, "keep-alive reuse: %d connections for 200 calls" % conns)
    print("    200 concurrent calls in %.2fs over %d connections" % (took, conns))


def test_proxy_from_environment(ctx):
    import http.server
    import socketserver
    import threading
    import urllib.request
    sim = Sim(ctx)
    seen = []

    class Proxy(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(self.path)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            req = urllib.request.Request(self.path, data=body, method="POST",
                                         headers={k: v for k, v in self.headers.items()
                                                  if k.lower() not in ("proxy-connection", "connection")})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    status, headers, data = r.status, r.getheaders(), r.read()
            except urllib.error.HTTPError as e:
                status, headers, data = e.code, e.headers.items(), e.read()
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in ("transfer-encoding", "connection"):
                    self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Proxy)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        env = static_env(ctx, sim, http_proxy="http://127.0.0.1:%d" % srv.server_address[1], no_proxy="")
        status, res, err = awscall(ctx, env, "ecs", "ListClusters")
        check_eq(status, 0, "through the proxy: %s" % res)
        check_eq(len(seen), 1, "the proxy carried the call")
    finally:
        srv.shutdown()
        srv.server_close()


def _serve_on_a_free_port(ctx, name, argv_of):
    """Starts the server argv_of(port) on a free loopback port and waits until it accepts; tried
    5 times (another process may take the port between the probe and the start). Returns
    (process, port)."""
    import socket
    for _ in range(5):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        p = ctx.spawn(argv_of(port), name=name)

        def listening():
            if not p.alive():
                return "exited"
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return "up"
            except OSError:
                return None
        if wait_for(listening, 10, name + " to listen") == "up":
            return p, port
    raise Failure("%s did not start on a free port in 5 tries" % name)


def test_http2_when_the_server_offers_it(ctx):
    """nghttpd (Debian's nghttp2-server) speaks HTTP/2 over TLS; the client asked for HTTP/2
    (--http2, the daemon's aws.http_version "2") must negotiate it and multiplex parallel calls
    over one connection. nghttpd is not AWS, so the replies are errors; the protocol is the point."""
    import shutil
    import subprocess
    nghttpd = shutil.which("nghttpd")
    if not nghttpd:
        raise Failure("nghttpd missing: scripts/install-deps installs nghttp2-server")
    d = ctx.path("tls")
    subprocess.run(["bash", os.path.join(ROOT, "tests", "sim", "make-test-ca"), d], check=True)
    os.makedirs(ctx.path("docroot"))
    _, port = _serve_on_a_free_port(ctx, "nghttpd", lambda port: [
        nghttpd, "-d", ctx.path("docroot"), "--address=127.0.0.1", str(port),
        os.path.join(d, "server.key"), os.path.join(d, "server.pem")])
    import types
    server = types.SimpleNamespace(url="https://127.0.0.1:%d" % port)
    env = base_env(ctx, server, AWS_ACCESS_KEY_ID="AKIDNOTUSED0000", AWS_SECRET_ACCESS_KEY="not-a-real-secret")
    status, res, err = awscall(ctx, env, "--ca-bundle", os.path.join(d, "ca.pem"), "--http2", "--max-attempts",
                               1, "--parallel", 50, "ecs", "ListClusters")
    check_eq({r["http_version"] for r in res}, {20}, "HTTP/2 negotiated: %s" % res[:1])
    conns = int(err.split("connections=")[1].split(",")[0])
    check_eq(conns, 1, "50 parallel calls multiplexed over one HTTP/2 connection")
    check(all(not r["ok"] and r["attempts"] == 1 for r in res), "nghttpd's replies are not AWS replies")


def _nghttpx(ctx, sim):
    """nghttpx (Debian's nghttp2-proxy) in front of the simulator's plain HTTP port: TLS with the
    simulator's test certificate, offering both h2 and http/1.1 in ALPN, so that only the client's
    offer decides the protocol; Host passed through (the simulator checks SigV4 against it). Its
    access log has a line per request: the ALPN protocol it was served over, then the request
    line. Returns (https URL, access log path)."""
    import shutil
    if not shutil.which("nghttpx"):
        raise Failure("nghttpx missing: scripts/install-deps installs nghttp2-proxy")
    tls = os.path.dirname(sim.ca)
    log = ctx.path("nghttpx-access.log")
    _, port = _serve_on_a_free_port(ctx, "nghttpx", lambda port: [
        "nghttpx", "--conf=/dev/null", "--frontend=127.0.0.1,%d" % port, "--backend=127.0.0.1,%d" % sim.port,
        "--workers=1", "--no-ocsp", "--no-via", "--accesslog-file=" + log, "--accesslog-format=$alpn $request",
        "--errorlog-file=" + ctx.path("nghttpx-error.log"),
        os.path.join(tls, "server.key"), os.path.join(tls, "server.pem")])
    return "https://127.0.0.1:%d" % port, log


def _served_over(log, since):
    """The ALPN protocols of the access log's lines after the first `since`."""
    with open(log) as f:
        return [l.split(" ", 1)[0] for l in f.read().splitlines()[since:]]


def test_http_1_1_by_default_http_2_when_asked(ctx):
    """Issue 19: HTTP/1.1 is the default (in the bench it cost 0.56 to 0.62 times HTTP/2's CPU per
    request), a connection for each request in flight; aws.http_version "2" (awscall's --http2)
    offers HTTP/2 and multiplexes the requests over one connection. Through nghttpx, which speaks
    both, so the client's offer alone decides; the daemon's requests are read off nghttpx's own
    access log."""
    from test_daemon import daemon_env, write_config
    from test_deploy import target, world
    sim = Sim(ctx, seed=world(), tls=True)
    url, log = _nghttpx(ctx, sim)
    env = static_env(ctx, sim, AWS_ENDPOINT_URL=url)
    status, res, err = awscall(ctx, env, "--ca-bundle", sim.ca, "--parallel", 8, "ecs", "ListClusters")
    check_eq((status, {r["http_version"] for r in res}), (0, {11}), "HTTP/1.1 by default: %s" % res[:1])
    conns = int(err.split("connections=")[1].split(",")[0])
    check(2 <= conns <= 8, "8 calls in flight over HTTP/1.1 took %d connections" % conns)
    status, res, err = awscall(ctx, env, "--ca-bundle", sim.ca, "--http2", "--parallel", 8, "ecs", "ListClusters")
    check_eq((status, {r["http_version"] for r in res}), (0, {20}), "HTTP/2 when asked: %s" % res[:1])
    conns = int(err.split("connections=")[1].split(",")[0])
    check_eq(conns, 1, "8 calls multiplexed over one HTTP/2 connection")
    check_eq(_served_over(log, 0), ["http/1.1"] * 8 + ["h2"] * 8, "what nghttpx served")

    watch = {"name": "web", "repository": "team/web", "tag": "prod", "targets": [target("web")]}
    for setting, want in ((None, "http/1.1"), ("1.1", "http/1.1"), ("2", "h2")):
        aws = {"region": "us-east-1", "ca_bundle": sim.ca}
        if setting:
            aws["http_version"] = setting
        main = write_config(ctx, [watch], aws=aws, dry_run=True)
        since = len(_served_over(log, 0))
        status, out, err = ctx.run([daemon_path(), "-c", main, "--once"], timeout=60,
                                   env=daemon_env(ctx, sim, AWS_ENDPOINT_URL=url))
        check_eq(status, 0, "one cycle through nghttpx, http_version %s\n%s" % (setting, err[-2000:]))
        got = _served_over(log, since)
        check(got and set(got) == {want}, "http_version %s: the daemon's requests went over %s" % (setting, got))

    main = write_config(ctx, [watch], aws={"region": "us-east-1", "http_version": "3"})
    status, out, err = ctx.run([daemon_path(), "-c", main, "--check-config"], timeout=30, env=daemon_env(ctx, sim))
    check(status != 0 and "aws.http_version: '3' is not allowed here: one of '1.1', '2'" in err,
          "a version it does not speak is refused, naming the setting and the choices: %s" % err[-500:])


def test_fifo_as_aws_file_is_refused_without_blocking(ctx):
    """A FIFO (or any non-regular file) where the AWS config, credentials or a web identity
    token file is expected is refused at once, naming the file and what it is; reading it
    would block the event loop forever."""
    sim = Sim(ctx)
    fifo = ctx.path("fifo")
    os.mkfifo(fifo)
    creds = ctx.write("credentials", "[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n" % SIM_KEY)
    ctx.secret_holders.add(creds)
    cases = [
        ("AWS_CONFIG_FILE", dict(AWS_CONFIG_FILE=fifo, AWS_SHARED_CREDENTIALS_FILE=creds), "'%s'" % fifo),
        ("AWS_SHARED_CREDENTIALS_FILE", dict(AWS_SHARED_CREDENTIALS_FILE=fifo), "'%s'" % fifo),
        ("AWS_WEB_IDENTITY_TOKEN_FILE", dict(AWS_WEB_IDENTITY_TOKEN_FILE=fifo, AWS_ROLE_ARN=ROLE),
         "token file '%s'" % fifo),
        ("a directory as token file", dict(AWS_WEB_IDENTITY_TOKEN_FILE=ctx.path(), AWS_ROLE_ARN=ROLE),
         "a directory"),
    ]
    for what, extra, named in cases:
        t0 = time.monotonic()
        status, res, err = awscall(ctx, base_env(ctx, sim, **extra), "ecs", "ListClusters")
        took = time.monotonic() - t0
        check(took < 5.0, "%s: answered in %.1f s, not blocked" % (what, took))
        check_eq(res[0]["code"], "CredentialsError", what)
        msg = res[0]["message"]
        check(named in msg and ("a FIFO" in msg or "a directory" in msg), "%s: names it: %r" % (what, msg))
    check_eq(sim.requests(service="ecs"), [], "nothing sent without credentials")
