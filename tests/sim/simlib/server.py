# SPDX-License-Identifier: MIT
"""The simulator's HTTP front: one port (plus an optional TLS port) for every
service, routed by X-Amz-Target (JSON protocols: ECR, ECS, CodeDeploy, SQS, EventBridge), by form Action (STS query
protocol), and by path for the credential endpoints and the /_sim/ control
API. One thread per connection, HTTP/1.1 keep-alive."""

import copy
import email.utils
import http.server
import json
import re
import select
import socket
import socketserver
import ssl
import struct
import sys
import threading
import time
import urllib.parse
import zlib
from xml.sax.saxutils import escape

from . import model
from .auth import verify
from .core import AwsError, new_request_id, redact
from .policy import PolicyError
from .sts import xml_error, xml_response
from .world import AFTER_FAULTS

JSON_SERVICES = {
    "AmazonEC2ContainerRegistry_V20150921": ("ecr", "1.1"),
    "AmazonEC2ContainerServiceV20141113": ("ecs", "1.1"),
    "CodeDeploy_20141006": ("codedeploy", "1.1"),
    "AmazonSQS": ("sqs", "1.0"),
    "AWSEvents": ("events", "1.1"),
    "DynamoDB_20120810": ("dynamodb", "1.0"),
}
VALIDATION_ERRORS = {
    "ecr": ("InvalidParameterException", None),
    "ecs": ("ClientException", None),
    "codedeploy": ("ValidationException", None),
    "sqs": ("InvalidParameterValue", "InvalidParameterValue;Sender"),
    "events": ("ValidationException", None),
    "dynamodb": ("ValidationException", None),
}
# DynamoDB names its errors on the wire with the namespace of the layer that raised them.
DYNAMODB_CORAL = {"ValidationException": "com.amazon.coral.validate",
                  "SerializationException": "com.amazon.coral.service",
                  "UnknownOperationException": "com.amazon.coral.service",
                  "AccessDeniedException": "com.amazon.coral.service",
                  "MissingAuthenticationTokenException": "com.amazon.coral.service",
                  "IncompleteSignatureException": "com.amazon.coral.service",
                  "InvalidSignatureException": "com.amazon.coral.service",
                  "UnrecognizedClientException": "com.amazon.coral.service",
                  "ExpiredTokenException": "com.amazon.coral.service",
                  "ThrottlingException": "com.amazon.coral.availability"}
MAX_BODY = 10 * 1024 * 1024


# A string given to a control may hold U+DC80..U+DCFF, Python's surrogateescape for the bytes
# 0x80..0xFF; json.dumps writes them as \udcNN escapes, sent here as the raw (invalid UTF-8) byte,
# so that tests can make AWS answer bytes that are not UTF-8 (AWS replies only: the control API
# stays JSON that Python reads).
_SURROGATE = re.compile(rb"(?<!\\)((?:\\\\)*)\\udc([89a-f][0-9a-f])")


def raw_bytes(body):
    if b"\\udc" not in body:
        return body
    return _SURROGATE.sub(lambda m: m.group(1) + bytes([int(m.group(2), 16)]), body)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "awssim"
    sys_version = ""

    def date_time_string(self, timestamp=None):
        # The Date header is the simulated server's clock (skew included):
        # clients correct their signing time from it.
        return email.utils.formatdate(self.world.clock.server_now(), usegmt=True)

    def log_message(self, fmt, *args):  # one line per request is written by _log_line
        pass

    def _log_line(self, what, status, started, extra=""):
        sys.stderr.write("awssim: %s %s %d %.1fms%s\n" % (self.command, what, status,
                                                           (time.monotonic() - started) * 1000, extra))
        sys.stderr.flush()

    @property
    def world(self):
        return self.server.world

    # -- plumbing ---------------------------------------------------------
    def _send(self, status, ctype, body, headers=(), fault=None):
        if isinstance(body, str):
            body = body.encode("utf-8", "surrogateescape")  # U+DC80..U+DCFF: the raw bytes (see raw_bytes)
        if ctype.startswith("application/x-amz-json"):
            body = raw_bytes(body)
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        if fault in ("close-mid", "truncated"):
            self.end_headers()
            self.wfile.write(body[:max(1, len(body) // 2)])
            self.wfile.flush()
            if fault == "close-mid":
                # An abortive close: RST instead of FIN.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self):
        n = self.headers.get("Content-Length")
        if n is None:
            return b""
        n = int(n)
        if n > MAX_BODY:
            raise AwsError("RequestEntityTooLarge", "request body over %d bytes" % MAX_BODY, 413)
        return self.rfile.read(n)

    def do_GET(self):
        self._route()

    def do_PUT(self):
        self._route()

    def do_POST(self):
        self._route()

    def do_DELETE(self):
        self._route()

    def _route(self):
        started = time.monotonic()
        try:
            body = self._read_body()
        except (ValueError, AwsError):
            self._send(400, "text/plain", "bad Content-Length")
            return
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_sim/"):
            status = self._control(path, body)
            self._log_line(path, status, started)
            return
        got = self.world.creds.handle(self.command, path, self.headers.items())
        if got is not None:
            status, ctype, text = got
            self.world.record(service="credentials", operation=path, status=status, signature="unsigned")
            self._send(status, ctype, text)
            self._log_line(path, status, started)
            return
        if self.command == "POST" and path == "/":
            target = self.headers.get("X-Amz-Target")
            if target:
                self._json_call(target, body, started)
            else:
                self._query_call(body, started)
            return
        self._send(404, "text/plain", "awssim: nothing at %s %s\n" % (self.command, path))
        self._log_line(path, 404, started)

    # -- faults -------------------------------------------------------------
    def _pre_fault(self, fault, service, error_json):
        """Faults that replace the call; returns True when one was sent."""
        kind = fault["kind"]
        if kind == "delay":
            time.sleep(float(fault["delay"]))
            return False
        if kind == "close-before":
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            return True
        if kind in AFTER_FAULTS:
            return False
        if kind == "error":
            status = int(fault["status"])
            err = AwsError(fault["code"], fault.get("message") if fault.get("message") is not None
                           else "%s (injected by awssim)" % fault["code"], status, sender=status < 500)
            if service == "sqs" and fault["format"] == "json":
                err.namespace = "com.amazonaws.sqs"
                err.query_error = "%s;%s" % (err.code, "Sender" if err.sender else "Receiver")
            error_json(err, xml=fault["format"] == "xml")
            return True
        if service == "dynamodb" and kind in ("throttle", "500"):
            err = {"throttle": AwsError("ProvisionedThroughputExceededException", "The level of configured provisioned "
                                        "throughput for the table was exceeded. Consider increasing your provisioning "
                                        "level with the UpdateTable API.", 400,
                                        namespace="com.amazonaws.dynamodb.v20120810"),
                   "500": AwsError("InternalServerError", "Internal server error", 500,
                                   namespace="com.amazonaws.dynamodb.v20120810", sender=False)}[kind]
            if fault.get("message") is not None:
                err.message = str(fault["message"])
            error_json(err)
            return True
        err = {
            "throttle": AwsError("ThrottlingException", "Rate exceeded", 400),
            "429": AwsError("ThrottlingException", "Rate exceeded", 429),
            "500": AwsError("ServerException" if service in ("ecr", "ecs") else
                            "InternalException" if service == "events" else "InternalFailure",
                            "We encountered an internal error. Please try again.", 500, sender=False),
            "503": AwsError("ServiceUnavailableException", "Service Unavailable", 503, sender=False),
        }[kind]
        if service == "sqs" and kind == "throttle":
            err = AwsError("RequestThrottled", "Request is throttled.", 400, namespace="com.amazonaws.sqs",
                           query_error="RequestThrottled;Sender")
        if fault.get("message") is not None:  # a rule may carry its own (hostile) message
            err.message = str(fault["message"])
        error_json(err)
        return True

    def _hold(self, seconds):
        """A blackhole: nothing is answered until the client closes the connection or `seconds`
        pass; then the connection is closed without a reply. Returns "closed" or "timeout"."""
        deadline = time.monotonic() + seconds
        sock = self.connection
        self.close_connection = True
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            try:
                ready, _, _ = select.select([sock], [], [], min(left, 0.25))
            except (OSError, ValueError):
                return "closed"
            if not ready:
                continue
            try:
                # The raw socket even under TLS: a peek that reads nothing means the peer closed.
                data = socket.socket.recv(sock, 1, socket.MSG_PEEK)
            except (OSError, ValueError):
                return "closed"
            if not data:
                return "closed"
            time.sleep(min(left, 0.05))  # a pipelined request: it waits behind this one

    def _authorize(self, service, operation, params, ident, entry):
        """IAM: after the signature and the request's validation, before faults."""
        with self.world.lock:
            err = self.world.policies.authorize(self.world, service, operation, params, ident)
        if err is not None:
            entry["denied"] = err.denied
            raise err

    # -- AWS JSON protocols ---------------------------------------------------
    def _json_call(self, target, body, started):
        op = target.rpartition(".")[2]
        with self.world.lock:
            self.world.inflight += 1
            self.world.inflight_ops.append(op)
        try:
            self._json_call_counted(target, body, started)
        finally:
            with self.world.lock:
                self.world.inflight -= 1
                self.world.inflight_ops.remove(op)

    def _json_call_counted(self, target, body, started):
        rid = new_request_id()
        prefix, _, operation = target.rpartition(".")
        # received: the wall time the call arrived (time, set by the log, is when it was done: a
        # delay fault comes in between)
        entry = {"service": None, "operation": operation, "signature": None, "status": None, "error": None,
                 "fault": None, "params": None, "protocol": "json", "received": time.time()}
        mono = time.monotonic()
        params = None
        ctx = None
        svc = JSON_SERVICES.get(prefix)
        version = svc[1] if svc else "1.1"

        def error(err, xml=False):
            if entry["service"] == "dynamodb" and err.namespace is None:
                err.namespace = DYNAMODB_CORAL.get(err.code, "com.amazonaws.dynamodb.v20120810")
            if xml:  # as some endpoints and proxies answer, even for a JSON service
                self._send(err.status, "text/xml", xml_error_plain(err, rid), [("x-amzn-RequestId", rid)])
                entry.update(status=err.status, error=err.code)
                return
            payload = {"__type": ("%s#%s" % (err.namespace, err.code)) if err.namespace else err.code,
                       getattr(err, "message_key", "message"): err.message}
            for k, v in (getattr(err, "extra", None) or {}).items():
                payload[k] = v
            headers = [("x-amzn-RequestId", rid)]
            if err.query_error:
                headers.append(("x-amzn-query-error", err.query_error))
            self._send(err.status, "application/x-amz-json-%s" % version, json.dumps(payload), headers)
            entry.update(status=err.status, error=err.code)

        try:
            if svc is None:
                raise AwsError("UnknownOperationException", "Unknown target prefix '%s'" % prefix)
            service = svc[0]
            entry["service"] = service
            ctype = self.headers.get("Content-Type", "")
            if ctype.split(";")[0].strip() != "application/x-amz-json-%s" % version:
                raise AwsError("SerializationException", "Content-Type must be application/x-amz-json-%s, not '%s'"
                               % (version, ctype))
            if service == "sqs" and self.headers.get("x-amzn-query-mode") != "true":
                raise AwsError("InvalidParameterValue", "SQS is a query-compatible JSON service: send "
                               "'x-amzn-query-mode: true'", namespace="com.amazonaws.sqs",
                               query_error="InvalidParameterValue;Sender")
            try:
                ident = verify(self.world.keys, "POST", self.headers.get("Host", ""), self.path,
                               self.headers.items(), body, service)
                entry["signature"] = "ok"
                entry["access_key"] = ident.key.access_key
                if ident.key.parent is not None:  # a role session: the key it came from, at the root
                    entry["source_key"] = self.world.keys.lineage(ident.key.access_key)[-1]
            except AwsError as e:
                entry["signature"] = e.code
                raise
            with self.world.lock:
                fault = self.world.faults.take(service, operation, self.world.keys.lineage(ident.key.access_key),
                                               blackholes=True)
            if fault:  # a partition: the call is lost before anything judges it
                try:  # for the logs only
                    params = json.loads(body.decode("utf-8")) if body else {}
                    entry["params"] = redact(params) if isinstance(params, dict) else params
                except (ValueError, UnicodeDecodeError):
                    pass
                entry.update(fault="blackhole", status=0, error="Blackholed", held=self._hold(fault["hold"]))
                return
            try:
                params = json.loads(body.decode("utf-8")) if body else {}
            except (ValueError, UnicodeDecodeError) as e:
                raise AwsError("SerializationException", "The request body is not valid JSON: %s" % e)
            entry["params"] = redact(params) if isinstance(params, dict) else params
            if operation not in model.operations(service):
                raise AwsError("UnknownOperationException", "Unknown operation %s" % operation)
            handler = type(self.world.service_obj(service)).OPERATIONS.get(operation)
            if handler is None:
                raise AwsError("UnknownOperationException", "awssim does not simulate %s.%s" % (service, operation))
            problems = model.validate(service, operation, copy.deepcopy(params))
            if problems:
                code, qerr = VALIDATION_ERRORS[service]
                raise AwsError(code, "; ".join(problems), namespace="com.amazonaws.sqs" if service == "sqs" else None,
                               query_error=qerr)
            self._authorize(service, operation, params, ident, entry)
            with self.world.lock:
                fault = self.world.faults.take(service, operation, self.world.keys.lineage(ident.key.access_key))
            if fault:
                entry["fault"] = fault["kind"]
                if self._pre_fault(fault, service, error):
                    return
            ctx = _Ctx(ident)
            with self.world.lock:
                result = handler(self.world.service_obj(service), ctx, params)
            entry["carried_out"] = True  # whatever becomes of the reply
            if (service, operation) == ("ecs", "UpdateService"):
                # The deployment the update left PRIMARY: tells a new deployment from a repeat.
                entry["deployment"] = ((result.get("service") or {}).get("deployments") or [{}])[0].get("id")
            if self.server.check_responses:
                wrong = model.validate_output(service, operation, copy.deepcopy(result))
                if wrong:
                    sys.stderr.write("awssim: BUG: %s.%s reply does not match the model: %s\n"
                                     % (service, operation, "; ".join(wrong)))
                    raise AwsError("InternalFailure", "awssim bug: the %s reply does not match the model: %s"
                                   % (operation, "; ".join(wrong)), 500, sender=False)
            text = json.dumps(result)
            kind = fault["kind"] if fault else None
            headers = [("x-amzn-RequestId", rid)]
            if kind == "blackhole-after":
                entry.update(status=0, error="Blackholed", held=self._hold(fault["hold"]))
                return
            if service == "dynamodb":
                # DynamoDB sends the CRC32 of the body; botocore checks it.
                headers.append(("x-amz-crc32", str(zlib.crc32(raw_bytes(text.encode("utf-8", "surrogateescape"))))))
            ctype_out = "application/x-amz-json-%s" % version
            if kind == "malformed-json":
                text = text[:max(1, len(text) // 2)] + "\x00<!-- not json"
            elif kind == "wrong-content-type":
                ctype_out, text = "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"
            elif kind == "oversize":
                # A valid reply padded past any sane client cap (17 MiB).
                text = text[:-1] + ', "padding": "' + "x" * (17 * 1024 * 1024) + '"}'
            self._send(200, ctype_out, text, headers, fault=kind)
            entry.update(status=200)
        except AwsError as e:
            error(e)
        except (BrokenPipeError, ConnectionResetError):
            entry.update(status=0, error="ClientClosed")
        finally:
            entry["request_id"] = rid
            self.world.record(**entry)
            if entry["service"] == "dynamodb":
                with self.world.lock:
                    self.world.dynamodb.record(dict(entry, mono=mono, time=time.time()), params,
                                               getattr(ctx, "note", None), ctx)
            self._log_line("%s.%s" % (entry["service"] or prefix, operation), entry["status"] or 0, started,
                           " sig=%s%s%s%s" % (entry["signature"] or "-",
                                              " error=%s" % entry["error"] if entry["error"] else "",
                                              " fault=%s" % entry["fault"] if entry["fault"] else "",
                                              " denied=%s" % entry["denied"]["action"] if entry.get("denied") else ""))

    # -- STS query protocol -------------------------------------------------
    def _query_call(self, body, started):
        rid = new_request_id()
        entry = {"service": "sts", "operation": None, "signature": None, "status": None, "error": None,
                 "fault": None, "params": None, "protocol": "query"}
        try:
            ctype = self.headers.get("Content-Type", "")
            if ctype.split(";")[0].strip() != "application/x-www-form-urlencoded":
                raise AwsError("InvalidAction", "POST / needs X-Amz-Target (JSON protocols) or a form body "
                               "(query protocol), not Content-Type '%s'" % ctype)
            form = urllib.parse.parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
            params = {k: v[-1] for k, v in form.items()}
            action = params.pop("Action", None)
            version = params.pop("Version", None)
            entry["operation"] = action
            entry["params"] = redact(params)
            sts = self.world.sts
            if action not in type(sts).OPERATIONS:
                raise AwsError("InvalidAction", "Could not find operation %s for version %s" % (action, version))
            if version != "2011-06-15":
                raise AwsError("InvalidAction", "Could not find operation %s for version %s" % (action, version))
            ident = None
            if action in type(sts).UNSIGNED and "Authorization" not in self.headers:
                entry["signature"] = "unsigned"
            else:
                try:
                    ident = verify(self.world.keys, "POST", self.headers.get("Host", ""), self.path,
                                   self.headers.items(), body, "sts", protocol="query")
                    entry["signature"] = "ok"
                    entry["access_key"] = ident.key.access_key
                except AwsError as e:
                    entry["signature"] = e.code
                    raise
            if "DurationSeconds" in params:
                try:
                    params["DurationSeconds"] = int(params["DurationSeconds"])
                except ValueError:
                    raise AwsError("ValidationError", "DurationSeconds must be an integer")
            problems = model.validate("sts", action, dict(params))
            if problems:
                raise AwsError("ValidationError", "; ".join(problems))
            if ident is not None:
                self._authorize("sts", action, params, ident, entry)
            with self.world.lock:
                callers = self.world.keys.lineage(ident.key.access_key) if ident else None
                fault = self.world.faults.take("sts", action, callers, blackholes=True) or \
                    self.world.faults.take("sts", action, callers)
            if fault:
                entry["fault"] = fault["kind"]
                if fault["kind"] in ("blackhole", "blackhole-after"):
                    entry.update(status=0, error="Blackholed", held=self._hold(fault["hold"]))
                    return
                if self._pre_fault(fault, "sts", _raise):
                    return
            with self.world.lock:
                name, result_xml = type(sts).OPERATIONS[action](sts, _Ctx(ident) if ident else None, params)
            kind = fault["kind"] if fault else None
            text = xml_response(name, result_xml, rid)
            ctype_out = "text/xml"
            if kind == "malformed-json":
                text = text[:len(text) // 2]
            elif kind == "wrong-content-type":
                ctype_out, text = "text/html", "<html><body><h1>502 Bad Gateway</h1></body></html>"
            self._send(200, ctype_out, text, [("x-amzn-RequestId", rid)], fault=kind)
            entry["status"] = 200
        except AwsError as e:
            self._send(e.status, "text/xml", xml_error(e, rid), [("x-amzn-RequestId", rid)])
            entry.update(status=e.status, error=e.code)
        except (BrokenPipeError, ConnectionResetError):
            entry.update(status=0, error="ClientClosed")
        finally:
            entry["request_id"] = rid
            self.world.record(**entry)
            self._log_line("sts.%s" % entry["operation"], entry["status"] or 0, started,
                           " sig=%s%s" % (entry["signature"] or "-",
                                          " error=%s" % entry["error"] if entry["error"] else ""))

    # -- control API -----------------------------------------------------------
    def _control(self, path, body):
        w = self.world
        try:
            req = json.loads(body.decode()) if body else {}
        except ValueError as e:
            return self._ctl(400, {"error": "body is not JSON: %s" % e})
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        m, p = self.command, path[len("/_sim"):]
        try:
            if (m, p) == ("GET", "/health"):
                return self._ctl(200, {"ok": True, "port": w.port, "inflight": w.inflight,
                                        "inflight_ops": sorted(w.inflight_ops)})
            if (m, p) == ("POST", "/reset"):
                w.reset()
                return self._ctl(200, {"ok": True})
            if (m, p) == ("POST", "/seed"):
                return self._ctl(200, w.seed(req))
            if (m, p) == ("POST", "/push"):
                d = w.push(req["repository"], req.get("tag"), req.get("account"), req.get("region"),
                           req.get("manifest"), req.get("seed"))
                return self._ctl(200, {"digest": d})
            if (m, p) == ("POST", "/bad-digest"):
                mode = req.get("mode", "exit")
                if mode not in ("exit", "health", None):
                    raise ValueError("mode must be 'exit', 'health' or null")
                with w.lock:
                    if mode is None:
                        w.ecs.bad_digests.pop(req["digest"], None)
                    else:
                        w.ecs.bad_digests[req["digest"]] = mode
                return self._ctl(200, {"ok": True})
            if (m, p) == ("POST", "/image-failure"):
                codes = model.service("ecr").shape_for("ImageFailureCode").enum
                if req.get("code") is not None and req["code"] not in codes:
                    raise ValueError("code must be one of %s" % ", ".join(codes))
                with w.lock:
                    repo = w.ecr.repos[(req.get("account", "123456789012"), req.get("region", "us-east-1"),
                                        req["repository"])]
                    digest = req.get("digest") or repo.tags[req["tag"]]
                    if req.get("code") is None:
                        w.ecr.image_failures.pop((repo.arn, digest), None)
                    else:
                        w.ecr.image_failures[(repo.arn, digest)] = req["code"]
                return self._ctl(200, {"digest": digest})
            if (m, p) == ("POST", "/reply-digest"):
                with w.lock:
                    repo = w.ecr.repos[(req.get("account", "123456789012"), req.get("region", "us-east-1"),
                                        req["repository"])]
                    if req.get("digest") is None:
                        w.ecr.reply_digests.pop((repo.arn, req["tag"]), None)
                    elif not isinstance(req["digest"], str):
                        raise ValueError("digest must be a string or null")
                    else:
                        w.ecr.reply_digests[(repo.arn, req["tag"])] = req["digest"]
                return self._ctl(200, {"ok": True})
            if (m, p) == ("POST", "/endless-pages"):
                with w.lock:
                    repo = w.ecr.repos[(req.get("account", "123456789012"), req.get("region", "us-east-1"),
                                        req["repository"])]
                    (w.ecr.endless_pages.add if req.get("on", True) else w.ecr.endless_pages.discard)(repo.arn)
                return self._ctl(200, {"ok": True})
            if (m, p) == ("POST", "/service-event"):
                with w.lock:
                    w.ecs.add_event(req.get("account", "123456789012"), req.get("region", "us-east-1"),
                                    req["cluster"], req["service"], str(req["message"]))
                return self._ctl(200, {"ok": True})
            if (m, p) == ("POST", "/update-quirk"):
                with w.lock:
                    w.ecs.set_quirk(req.get("account", "123456789012"), req.get("region", "us-east-1"),
                                    req["cluster"], req["service"], req.get("mode"), req.get("seconds"))
                return self._ctl(200, {"ok": True})
            if (m, p) == ("POST", "/alarm"):
                with w.lock:
                    out = w.ecs.set_alarm(req.get("account", "123456789012"), req.get("region", "us-east-1"),
                                          req["cluster"], req["service"], req["alarm"], req.get("state", "ALARM"))
                return self._ctl(200, out)
            if (m, p) == ("POST", "/codedeploy-fail"):
                with w.lock:
                    out = w.codedeploy.plan_failure(req.get("account", "123456789012"), req.get("region", "us-east-1"),
                                                    req["application"], req["deployment_group"],
                                                    req["lifecycle_event"], req.get("count", 1), req.get("message"))
                return self._ctl(200, out)
            if (m, p) == ("POST", "/reply-taskdef-arn"):
                with w.lock:
                    if req.get("arn") is None:
                        w.ecs.reply_taskdef_arns.pop(req["family"], None)
                    else:
                        w.ecs.reply_taskdef_arns[req["family"]] = str(req["arn"])
                return self._ctl(200, {"ok": True})
            if (m, p) == ("POST", "/settings"):
                with w.lock:
                    w.apply_settings(req)
                    return self._ctl(200, dict(w.settings))
            if (m, p) == ("GET", "/settings"):
                return self._ctl(200, dict(w.settings))
            if (m, p) == ("POST", "/faults"):
                with w.lock:
                    for r in req.get("rules", [req] if "kind" in req else []):
                        w.faults.add(r)
                    return self._ctl(200, {"rules": w.faults.rules})
            if (m, p) == ("POST", "/fault-seed"):
                with w.lock:
                    w.faults.rng.seed(int(req["seed"]))
                return self._ctl(200, {"ok": True})
            if (m, p) == ("POST", "/policy"):
                if "policy" not in req:
                    raise ValueError("POST /policy wants {\"policy\": {...} or null, \"access_key\"?: \"AKID\"}")
                key = req.get("access_key")
                if key is not None and not isinstance(key, str):
                    raise ValueError("access_key must be a string")
                try:
                    with w.lock:
                        w.policies.set(req["policy"], key)
                        return self._ctl(200, w.policies.describe())
                except PolicyError as e:
                    return self._ctl(400, {"error": "malformed policy: %s" % e})
            if (m, p) == ("GET", "/policy"):
                with w.lock:
                    return self._ctl(200, w.policies.describe())
            if (m, p) == ("GET", "/faults"):
                return self._ctl(200, {"rules": w.faults.rules})
            if (m, p) == ("DELETE", "/faults"):
                with w.lock:
                    who = q.get("access_key", [None])[0]
                    if who is None:
                        w.faults.rules = []
                    else:  # heal one caller: only the rules that name this key go
                        w.faults.rules = [r for r in w.faults.rules if who not in (r.get("access_key") or [])]
                    return self._ctl(200, {"rules": w.faults.rules})
            if (m, p) == ("GET", "/requests"):
                since = int(q.get("since", ["0"])[0])
                return self._ctl(200, {"requests": w.requests(since), "last": w.seq})
            if (m, p) == ("POST", "/event-rules"):
                w.add_event_rule(req)
                return self._ctl(200, {"ok": True})
            if (m, p) == ("GET", "/event-rules"):
                with w.lock:
                    return self._ctl(200, {"rules": w.events.rules})
            if (m, p) == ("POST", "/event-faults"):
                with w.lock:
                    return self._ctl(200, w.events.set_faults(req))
            if (m, p) == ("GET", "/event-faults"):
                with w.lock:
                    return self._ctl(200, dict(w.events.faults))
            if (m, p) == ("GET", "/events"):
                with w.lock:
                    return self._ctl(200, {"events": list(w.events.history)})
            if (m, p) == ("POST", "/events-fail"):
                with w.lock:
                    return self._ctl(200, w.putevents.plan_failures(req))
            if (m, p) == ("GET", "/events-fail"):
                with w.lock:
                    return self._ctl(200, {"failures": list(w.putevents.failures)})
            if (m, p) == ("GET", "/put-events"):
                with w.lock:
                    return self._ctl(200, w.putevents.recorded(int(q.get("since", ["0"])[0])))
            if (m, p) == ("GET", "/queue-messages"):
                with w.lock:
                    qobj = w.sqs.find(q.get("account", ["123456789012"])[0], q.get("region", ["us-east-1"])[0],
                                      q["queue"][0])
                    if qobj is None:
                        raise KeyError("queue %s" % q["queue"][0])
                    now = time.monotonic()
                    msgs = [{"id": x.id, "body": x.body, "receive_count": x.receive_count,
                             "visible": x.visible_at <= now,
                             "in_flight": x.receipt is not None and x.visible_at > now} for x in qobj.messages]
                return self._ctl(200, {"messages": msgs})
            if (m, p) == ("POST", "/delete-image"):
                out = w.call("ecr", "BatchDeleteImage", {"repositoryName": req["repository"],
                                                         "imageIds": [{"imageTag": req["tag"]}]},
                             req.get("account"), req.get("region"))
                return self._ctl(200, out)
            if (m, p) == ("POST", "/keys"):
                w.keys.add_static(req["access_key"], req["secret"], req.get("account", "123456789012"))
                return self._ctl(200, {"ok": True})
            if (m, p) == ("POST", "/sqs-send"):
                with w.lock:
                    qobj = w.sqs.find(req.get("account", "123456789012"), req.get("region", "us-east-1"),
                                      req["queue"])
                    if qobj is None:
                        raise KeyError("queue %s" % req["queue"])
                    msg = w.sqs.send(qobj, req["body"])
                return self._ctl(200, {"MessageId": msg.id})
            if (m, p) == ("POST", "/container-credentials"):
                with w.lock:
                    w.creds.container_ids[req["id"]] = req.get("account", "123456789012")
                return self._ctl(200, {"path": "/v2/credentials/" + req["id"]})
            if p.startswith("/dynamodb/"):
                return self._dynamodb_control(m, p[len("/dynamodb"):], req, q)
            if (m, p) == ("POST", "/tick"):
                w.tick()
                return self._ctl(200, {"ok": True})
            return self._ctl(404, {"error": "no control endpoint %s %s" % (m, path)})
        except AwsError as e:
            return self._ctl(400, {"error": "%s: %s" % (e.code, e.message)})
        except (KeyError, ValueError, TypeError) as e:
            return self._ctl(400, {"error": "%s: %s" % (type(e).__name__, e)})

    def _dynamodb_control(self, m, p, req, q):
        w = self.world

        def arg(name, default=None):
            return q.get(name, [default])[0]

        if (m, p) == ("POST", "/tables"):
            return self._ctl(200, w.dynamodb_table(req))
        if (m, p) == ("GET", "/tables"):
            with w.lock:
                return self._ctl(200, {"tables": [
                    {"name": t.name, "account": t.account, "region": t.region, "arn": t.arn,
                     "keys": [{"name": n, "type": ty, "role": r} for n, ty, r in t.keys], "ttl_attribute": t.ttl,
                     "item_count": len(t.items)} for t in w.dynamodb.tables.values()]})
        if (m, p) == ("GET", "/items"):
            with w.lock:
                items = w.dynamodb.items_of(arg("account", "123456789012"), arg("region", "us-east-1"),
                                            arg("table"), raw=arg("raw", "0") not in ("0", "", "false"))
            return self._ctl(200, {"items": items})
        if (m, p) == ("POST", "/items"):
            # An item written by the test (any attributes, AttributeValue form), unconditionally.
            out = w.call("dynamodb", "PutItem", {"TableName": req["table"], "Item": req["item"]},
                         req.get("account"), req.get("region"))
            return self._ctl(200, out)
        if (m, p) == ("DELETE", "/items"):
            out = w.call("dynamodb", "DeleteItem", {"TableName": req["table"], "Key": req["key"]},
                         req.get("account"), req.get("region"))
            return self._ctl(200, out)
        if (m, p) == ("GET", "/log"):
            with w.lock:
                return self._ctl(200, {"calls": w.dynamodb.calls(int(arg("since", "0")), arg("table")),
                                       "last": w.dynamodb.seq})
        return self._ctl(404, {"error": "no control endpoint %s /_sim/dynamodb%s" % (m, p)})

    def _ctl(self, status, obj):
        self._send(status, "application/json", json.dumps(obj, default=str))
        return status


def xml_error_plain(err, request_id):
    """An <ErrorResponse> without the STS namespace, as other endpoints and proxies answer."""
    return ("<ErrorResponse><Error><Type>%s</Type><Code>%s</Code><Message>%s</Message></Error>"
            "<RequestId>%s</RequestId></ErrorResponse>\n"
            % ("Sender" if err.sender else "Receiver", escape(err.code), escape(err.message), request_id))


def _raise(err, xml=True):
    raise err  # the query protocol answers every error in XML


class _Ctx:
    def __init__(self, ident):
        self.account = ident.account
        self.region = ident.region
        self.arn = ident.arn
        self.key = ident.key
        self.note = {}  # what a handler tells the service's own log (DynamoDB)


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, world, tls_context=None, check_responses=False):
        self.world = world
        self.check_responses = check_responses
        self.tls_context = tls_context
        super().__init__(addr, Handler)

    def get_request(self):
        sock, addr = super().get_request()
        if self.tls_context is not None:
            sock = self.tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout)):
            return  # a client that went away or failed the handshake
        super().handle_error(request, client_address)


def tls_context(cert, key):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def serve_forever_in_thread(server):
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    return t
