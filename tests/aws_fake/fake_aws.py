#!/usr/bin/python3
"""fake_aws.py - an AWS-shaped server on 127.0.0.1 for serflow's tests.

It answers EC2 Auto Scaling, EC2, ELBv2 (Query API) and Lambda Invoke (REST JSON), and the
instance metadata service (IMDSv2), the way AWS does as far as serflow's clients can tell:

- every API request's SigV4 signature is verified with botocore's own signer (not serflow's):
  known access key, scope (date, region, service), X-Amz-Date within 15 minutes, the session
  token present and signed when the key has one, host and x-amz-date signed;
- every request is checked against botocore's service models (data/lambda, autoscaling, ec2,
  elbv2): the operation exists, the parameters unflatten into the input shape with nothing
  left over, botocore's validator accepts them, and botocore's serializer turns them back into
  exactly the parameters (or path, query and headers) that were sent;
- every answer is built for botocore's parsers, and with --check-responses (the tests' default)
  parsed with them before it is sent: an answer botocore would not read becomes a 500 and a
  recorded problem;
- it keeps an Auto Scaling group whose instances are records (Pending -> InService after
  --pending-s, Terminating -> gone after --terminating-s, private IPs 127.0.1.N), a Lambda
  function that echoes (with a REPORT line in the log tail and a billed duration it records),
  and a target group over the group's instances;
- with --worker-cmd, each instance is also a real process on its loopback address (the launch
  template's user data, run here): {ip}, {port}, {id} and {endpoint} in the command and in the
  values of --worker-env are the instance's address, --worker-port, its id and the fake's own
  base URL (its IMDS and APIs); Terminating sends it SIGTERM and it is Terminated once it has
  exited; every one is stopped when the fake stops;
- with --lambda-url, Invoke runs the function for real: the payload goes to that Lambda Invoke
  API (a `serflow lambda`), whose answer, function error and billed duration
  (X-Serflow-Billed-Duration-Ms) come back as Lambda's (the REPORT line of LogType Tail); its
  concurrency cap (429) is Lambda's TooManyRequestsException. Every billed invocation is recorded
  with the key that signed it; one whose caller hung up before the answer is recorded as
  abandoned (Lambda bills it, the caller never learns it);
- faults on command (POST /_fake/fault): throttling, 5xx, timeouts (a held request), broken
  connections, function errors, for a service and operation, n times ("count") or on every call
  for a window of "for_s" seconds from the first call it meets (POST /_fake/clear_faults ends
  it early).

Control endpoints (unsigned, loopback only): GET /_fake/calls (the calls made, their IAM
actions, problems found, IMDS requests), GET /_fake/state, POST /_fake/state, POST /_fake/fault,
POST /_fake/clear_faults, POST /_fake/reset, POST /_fake/shutdown.

Usage: fake_aws.py [--port N] [--region R] [--group NAME] [--min N] [--max N] [--desired N]
                   [--function NAME] [--pending-s S] [--terminating-s S] [--lifetime-s S]
                   [--no-check-responses] [--worker-cmd JSON --worker-port N [--worker-env JSON]
                   [--worker-log FILE]] [--lambda-url URL]
Prints "ready PORT" on stdout when it listens; exits on SIGTERM, POST /_fake/shutdown, or after
--lifetime-s (default 300: nothing outlives a test that forgot it).
"""
import argparse
import base64
import datetime
import hashlib
import hmac
import io
import json
import math
import os
import re
import secrets
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import botocore.awsrequest
import botocore.exceptions
import botocore.loaders
import botocore.model
import botocore.parsers
import botocore.serialize
import botocore.validate
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

# The static key the tests sign with (and what the self-test's boto3 clients use).
STATIC_KEYS = {"AKIDFAKESERFLOW": ("fake/secret+key", None)}
# Query API versions -> service model names
QUERY_VERSIONS = {"2011-01-01": "autoscaling", "2016-11-15": "ec2", "2015-12-01": "elbv2"}
# IAM actions of API operations whose names differ (AWS's service authorization reference)
IAM_ACTION = {("lambda", "Invoke"): "lambda:InvokeFunction"}
IAM_PREFIX = {"autoscaling": "autoscaling", "ec2": "ec2", "elbv2": "elasticloadbalancing",
              "lambda": "lambda"}
XMLNS = {"autoscaling": "http://autoscaling.amazonaws.com/doc/2011-01-01/",
         "ec2": "http://ec2.amazonaws.com/doc/2016-11-15/",
         "elbv2": "http://elasticloadbalancing.amazonaws.com/doc/2015-12-01/"}
MAX_BODY = 8 << 20
LAMBDA_PAYLOAD_MAX = 6 << 20
ROLE = "serflow-ingress-role"


def now_iso(t=None):
    return datetime.datetime.utcfromtimestamp(t if t is not None else time.time()).strftime(
        "%Y-%m-%dT%H:%M:%SZ")


def xml_escape(s):
    return (str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


class ApiError(Exception):
    def __init__(self, status, code, message, sender=True):
        super().__init__(message)
        self.status, self.code, self.message, self.sender = status, code, message, sender


class Models:
    def __init__(self):
        loader = botocore.loaders.create_loader()
        self.svc = {}
        for name in ("autoscaling", "ec2", "elbv2", "lambda"):
            self.svc[name] = botocore.model.ServiceModel(
                loader.load_service_model(name, "service-2"), name)


# ---- request checks against the models ----

def _member_key(name, shape, protocol):
    ser = shape.serialization
    if protocol == "ec2":
        if "queryName" in ser:
            return ser["queryName"]
        if "name" in ser:
            return ser["name"][0].upper() + ser["name"][1:]
        return name
    return ser.get("name", name)


def _convert(value, shape):
    t = shape.type_name
    if t in ("integer", "long"):
        return int(value)
    if t in ("float", "double"):
        return float(value)
    if t == "boolean":
        if value not in ("true", "false"):
            raise ValueError(f"not a boolean: {value!r}")
        return value == "true"
    if t == "blob":
        return base64.b64decode(value, validate=True)
    if t == "timestamp":
        return datetime.datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    return value


def unflatten(shape, flat, prefix, protocol, used):
    """The Query/EC2 form parameters under prefix as botocore input params (None: absent)."""
    t = shape.type_name
    if t == "structure":
        out = {}
        for mname, mshape in shape.members.items():
            key = _member_key(mname, mshape, protocol)
            v = unflatten(mshape, flat, f"{prefix}.{key}" if prefix else key, protocol, used)
            if v is not None:
                out[mname] = v
        return out if out or not prefix else None
    if t == "list":
        if protocol == "ec2" or shape.serialization.get("flattened"):
            base = prefix
        else:
            base = f"{prefix}.{shape.member.serialization.get('name', 'member')}"
        items, i = [], 1
        while True:
            v = unflatten(shape.member, flat, f"{base}.{i}", protocol, used)
            if v is None:
                break
            items.append(v)
            i += 1
        if not items and flat.get(prefix) == "":
            used.add(prefix)
            return []
        return items or None
    if t == "map":
        raise ApiError(400, "InvalidParameterValue", f"{prefix}: maps are not supported here")
    if prefix in flat:
        used.add(prefix)
        try:
            return _convert(flat[prefix], shape)
        except ValueError as e:
            raise ApiError(400, "InvalidParameterValue", f"{prefix}: {e}")
    return None


def check_query_request(models, body):
    """Action, service and params of a Query/EC2 form body, checked against botocore."""
    try:
        pairs = urllib.parse.parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                                       strict_parsing=True)
    except (UnicodeDecodeError, ValueError) as e:
        raise ApiError(400, "MalformedQueryString", f"body: {e}")
    flat = {}
    for k, v in pairs:
        if k in flat:
            raise ApiError(400, "MalformedQueryString", f"parameter {k} given twice")
        flat[k] = v
    action, version = flat.pop("Action", None), flat.pop("Version", None)
    svc = QUERY_VERSIONS.get(version)
    if not action or not svc:
        raise ApiError(400, "MissingAction", f"Action and a known Version are required "
                       f"(got Action={action!r}, Version={version!r})")
    model = models.svc[svc]
    try:
        op = model.operation_model(action)
    except botocore.model.OperationNotFoundError:
        raise ApiError(400, "InvalidAction", f"{action} is not an operation of {svc}")
    used = set()
    params = unflatten(op.input_shape, flat, "", model.protocol, used) if op.input_shape else {}
    extra = sorted(set(flat) - used)
    if extra:
        raise ApiError(400, "InvalidParameter", f"{action}: unknown parameters {extra}")
    validate(params, op)
    again = botocore.serialize.create_serializer(model.protocol).serialize_to_request(params, op)
    want = {k: str(v) for k, v in again["body"].items()}
    got = dict(flat, Action=action, Version=version)
    if want != got:
        raise ApiError(400, "InvalidParameter",
                       f"{action}: botocore would send {sorted(want.items())}, "
                       f"got {sorted(got.items())}")
    return svc, op, params


def validate(params, op):
    try:
        botocore.validate.validate_parameters(params, op.input_shape)
    except botocore.exceptions.ParamValidationError as e:
        raise ApiError(400, "ValidationError", str(e).replace("\n", " "))


def _uri_regex(uri):
    out, pos = "", 0
    for m in re.finditer(r"\{([^}]+)\}", uri):
        out += re.escape(uri[pos:m.start()])
        name = m.group(1)
        out += f"(?P<{name[:-1]}>.+)" if name.endswith("+") else f"(?P<{name}>[^/]+)"
        pos = m.end()
    return "^" + out + re.escape(uri[pos:]) + "$"


def check_rest_json_request(models, svc, method, raw_path, query, headers, body):
    model = models.svc[svc]
    for name in model.operation_names:
        op = model.operation_model(name)
        uri = op.http["requestUri"].split("?")[0]
        if op.http["method"] != method:
            continue
        m = re.match(_uri_regex(uri), raw_path)
        if not m:
            continue
        params, used_q = {}, set()
        for mname, mshape in op.input_shape.members.items():
            ser = mshape.serialization
            loc, lname = ser.get("location"), ser.get("name", mname)
            if loc == "uri":
                params[mname] = urllib.parse.unquote(m.group(lname.rstrip("+")))
            elif loc == "querystring":
                if lname in query:
                    params[mname] = _convert(query[lname], mshape)
                    used_q.add(lname)
            elif loc == "header":
                if headers.get(lname) is not None:
                    params[mname] = _convert(headers.get(lname), mshape) \
                        if mshape.type_name != "string" else headers.get(lname)
        payload = op.input_shape.serialization.get("payload")
        if payload:
            params[payload] = body
        extra = sorted(set(query) - used_q)
        if extra:
            raise ApiError(400, "InvalidParameterValueException",
                           f"{name}: unknown query parameters {extra}")
        validate(params, op)
        again = botocore.serialize.create_serializer("rest-json").serialize_to_request(params, op)
        if again["url_path"] != raw_path:
            raise ApiError(400, "InvalidParameterValueException",
                           f"{name}: botocore would send path {again['url_path']}, "
                           f"got {raw_path}")
        want_q = {k: str(v) for k, v in again["query_string"].items()}
        if want_q != query:
            raise ApiError(400, "InvalidParameterValueException",
                           f"{name}: botocore would send query {want_q}, got {query}")
        for h, v in again["headers"].items():
            if h.lower() in ("content-type", "content-md5"):
                continue
            if headers.get(h) != v:
                raise ApiError(400, "InvalidParameterValueException",
                               f"{name}: header {h}: botocore would send {v!r}, "
                               f"got {headers.get(h)!r}")
        return op, params
    raise ApiError(404, "UnknownOperationException", f"{method} {raw_path}: no such operation")


# ---- signatures ----

AUTH_RE = re.compile(r"^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request,"
                     r" ?SignedHeaders=([a-z0-9;._-]+), ?Signature=([0-9a-f]{64})$")


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.keys = dict(STATIC_KEYS)
        self.calls = []
        self.problems = []
        self.faults = []
        self.imds_tokens = {}
        self.imds_requests = 0
        self.imds_expiry_s = 6 * 3600
        self.next_instance = 1
        self.group = {"name": args.group, "min": args.min, "max": args.max, "desired": 0,
                      "created": time.time()}
        self.instances = {}  # id -> dict(state, az, launched, ip, changed[, pid, ended])
        self.procs = {}  # id -> the instance's worker process (--worker-cmd)
        self.function = {"name": args.function, "memory_mb": args.memory_mb,
                         "version": "$LATEST", "invocations": 0, "billed_ms": 0,
                         "abandoned": 0, "abandoned_billed_ms": 0}
        self.invocations = []  # with --lambda-url: each billed one (billed_ms, key, ...)
        self.target_group_arn = ("arn:aws:elasticloadbalancing:%s:123456789012:targetgroup/"
                                  "serflow-workers/0123456789abcdef" % args.region)
        self._set_desired(args.desired)

    # Auto Scaling rules
    def _tick(self):
        t = time.time()
        for iid, ins in list(self.instances.items()):
            if ins["state"] == "Pending" and t - ins["changed"] >= self.args.pending_s:
                ins["state"], ins["changed"] = "InService", t
            elif ins["state"] == "Terminating" and t - ins["changed"] >= self.args.terminating_s:
                p = self.procs.get(iid)
                if p is not None and p.poll() is None:
                    if t - ins["changed"] < self.args.terminating_s + 10:
                        continue  # still draining: an instance ends when its worker has
                    p.kill()
                    p.wait()
                ins["state"], ins["changed"] = "Terminated", t
                ins["ended"] = t

    def live(self):
        return [i for i, v in self.instances.items() if v["state"] in ("Pending", "InService")]

    def _launch(self):
        n = self.next_instance
        self.next_instance += 1
        iid = "i-%017x" % (0x5e1f10 * 1000 + n)
        self.instances[iid] = {"state": "Pending", "az": self.args.region + "a",
                               "launched": time.time(), "changed": time.time(),
                               "ip": "127.0.1.%d" % (n % 250 + 1)}
        if self.args.worker_cmd:
            self._start_worker(iid)
        return iid

    def _start_worker(self, iid):
        """the launch template's user data: the worker process of this instance"""
        ins = self.instances[iid]
        subst = {"{ip}": ins["ip"], "{port}": str(self.args.worker_port), "{id}": iid,
                 "{endpoint}": self.args.endpoint}

        def fill(a):
            for k, v in subst.items():
                a = a.replace(k, v)
            return a
        argv = [fill(a) for a in json.loads(self.args.worker_cmd)]
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("AWS_", "SERFLOW_AUTH"))}  # no key but the instance's own
        env.update({k: fill(v) for k, v in json.loads(self.args.worker_env or "{}").items()})
        log = open(self.args.worker_log, "ab") if self.args.worker_log else subprocess.DEVNULL
        self.procs[iid] = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                           stderr=log, start_new_session=True)
        if log is not subprocess.DEVNULL:
            log.close()
        ins["pid"] = self.procs[iid].pid

    def _stop_worker(self, iid):
        p = self.procs.get(iid)
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass

    def stop_workers(self):
        for iid in list(self.procs):
            self._stop_worker(iid)
        t = time.time() + 5
        for p in self.procs.values():
            try:
                p.wait(max(0.0, t - time.time()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait()

    def _set_desired(self, n):
        self.group["desired"] = n
        live = self.live()
        while len(live) < n:
            live.append(self._launch())
        # scale in: newest first (as serflow's own shedding rule, and a valid AWS policy)
        for iid in sorted(live, key=lambda i: self.instances[i]["launched"])[n:]:
            self.instances[iid]["state"], self.instances[iid]["changed"] = \
                "Terminating", time.time()
            self._stop_worker(iid)

    def take_fault(self, svc, op):
        now = time.time()
        for f in self.faults:
            if f["service"] not in ("*", svc) or f["operation"] not in ("*", op):
                continue
            if f["for_s"] > 0:
                # a window: every matching call fails from the first one met for for_s seconds
                if f["until"] is None:
                    f["until"] = now + f["for_s"]
                if now < f["until"]:
                    return dict(f)
                continue
            if f["count"] > 0:
                f["count"] -= 1
                return dict(f)
        return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-aws"

    def log_message(self, fmt, *args):  # quiet: the tests read the control endpoints
        pass

    # ---- plumbing ----
    def _send(self, status, body, headers=()):
        if isinstance(body, str):
            body = body.encode("utf-8")
        try:
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _json(self, status, obj):
        self._send(status, json.dumps(obj), [("Content-Type", "application/json")])

    def _body(self):
        n = self.headers.get("Content-Length")
        if n is None:
            return b""
        n = int(n)
        if n < 0 or n > MAX_BODY:
            raise ApiError(413, "RequestEntityTooLarge", "body too large")
        return self.rfile.read(n)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_PUT(self):
        self._dispatch("PUT")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def _dispatch(self, method):
        st = self.server.state
        path = self.path.split("?", 1)[0]
        try:
            body = self._body()
        except (ValueError, ApiError):
            self._send(400, "bad Content-Length", [("Connection", "close")])
            self.close_connection = True
            return
        if path.startswith("/_fake/"):
            return self._control(method, path, body)
        if path.startswith("/latest/"):
            return self._imds(method, path)
        self._api(method, body, st)

    # ---- control ----
    def _control(self, method, path, body):
        st = self.server.state
        with st.lock:
            st._tick()
            if path == "/_fake/calls":
                return self._json(200, {"calls": st.calls, "problems": st.problems,
                                        "imds_requests": st.imds_requests,
                                        "iam_actions": sorted({c["iam_action"] for c in st.calls
                                                               if c["status"] < 300})})
            if path == "/_fake/state" and method == "GET":
                return self._json(200, {"group": st.group, "instances": st.instances,
                                        "function": st.function,
                                        "invocations": st.invocations,
                                        "target_group_arn": st.target_group_arn})
            req = json.loads(body or b"{}")
            if path == "/_fake/state":
                g = req.get("group", {})
                for k in ("min", "max"):
                    if k in g:
                        st.group[k] = int(g[k])
                if "desired" in g:
                    st._set_desired(int(g["desired"]))
                if "imds_expiry_s" in req:
                    st.imds_expiry_s = float(req["imds_expiry_s"])
                if "memory_mb" in req:
                    st.function["memory_mb"] = int(req["memory_mb"])
                return self._json(200, {"ok": True})
            if path == "/_fake/fault":
                f = {"service": req.get("service", "*"), "operation": req.get("operation", "*"),
                     "kind": req["kind"], "count": int(req.get("count", 1)),
                     "delay_s": float(req.get("delay_s", 3.0)),
                     "for_s": float(req.get("for_s", 0.0)), "until": None}
                if f["kind"] not in ("throttle", "server_error", "timeout", "reset",
                                     "function_error"):
                    return self._json(400, {"error": "unknown kind"})
                st.faults.append(f)
                return self._json(200, {"ok": True})
            if path == "/_fake/clear_faults":
                # ends the faults of a service and operation ("*": any), windows included
                svc, op = req.get("service", "*"), req.get("operation", "*")
                st.faults[:] = [f for f in st.faults if not (svc in ("*", f["service"]) and
                                                             op in ("*", f["operation"]))]
                return self._json(200, {"ok": True})
            if path == "/_fake/reset":
                st.calls.clear()
                st.problems.clear()
                st.faults.clear()
                st.imds_requests = 0
                return self._json(200, {"ok": True})
            if path == "/_fake/shutdown":
                self._json(200, {"ok": True})
                threading.Thread(target=self.server.shutdown, daemon=True).start()
                return None
        return self._json(404, {"error": "no such control endpoint"})

    # ---- IMDSv2 ----
    def _imds(self, method, path):
        st = self.server.state
        with st.lock:
            st.imds_requests += 1
            if path == "/latest/api/token" and method == "PUT":
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
                if not ttl or not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
                    return self._send(400, "bad or missing TTL header")
                tok = "AQAEA" + secrets.token_urlsafe(40)
                st.imds_tokens[tok] = time.time() + int(ttl)
                return self._send(200, tok, [("X-aws-ec2-metadata-token-ttl-seconds", ttl)])
            tok = self.headers.get("X-aws-ec2-metadata-token")
            if method != "GET":
                return self._send(405, "method not allowed")
            if not tok or st.imds_tokens.get(tok, 0) < time.time():
                return self._send(401, "")
            base = "/latest/meta-data/iam/security-credentials/"
            if path == base:
                return self._send(200, ROLE)
            if path == base + ROLE:
                ak = "ASIAFAKE%012d" % len(st.keys)
                secret, token = secrets.token_urlsafe(30), "IQoJb3JpZ2luX2Vj" + \
                    secrets.token_urlsafe(300)
                st.keys[ak] = (secret, token)
                exp = time.time() + st.imds_expiry_s
                return self._json(200, {"Code": "Success", "LastUpdated": now_iso(),
                                        "Type": "AWS-HMAC", "AccessKeyId": ak,
                                        "SecretAccessKey": secret, "Token": token,
                                        "Expiration": now_iso(exp)})
            return self._send(404, "")

    # ---- the APIs ----
    def _service_of(self, path, body):
        if path.startswith("/2015-03-31/functions/"):
            return "lambda"
        if body:
            for k, v in urllib.parse.parse_qsl(body.decode("utf-8", "replace")):
                if k == "Version":
                    return QUERY_VERSIONS.get(v, "unknown")
        return "unknown"

    def _api(self, method, body, st):
        raw_path, _, raw_query = self.path.partition("?")
        svc = self._service_of(raw_path, body)
        op_name, status = "?", 0
        try:
            key = self._verify(method, body, svc, st)
            if svc == "lambda":
                query = dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True))
                op, params = check_rest_json_request(self.server.models, "lambda", method,
                                                     raw_path, query, self.headers, body)
            else:
                if method != "POST" or raw_path != "/":
                    raise ApiError(400, "InvalidRequest", "Query API calls are POST /")
                svc, op, params = check_query_request(self.server.models, body)
            op_name = op.name
            with st.lock:
                fault = st.take_fault(svc, op_name)
            if fault and fault["kind"] in ("timeout", "reset"):
                self._record(svc, op_name, 0, key, fault["kind"])
                if fault["kind"] == "timeout":
                    time.sleep(fault["delay_s"])
                self.close_connection = True
                return
            if fault and fault["kind"] == "throttle":
                raise self._throttle(svc)
            if fault and fault["kind"] == "server_error":
                raise ApiError(500, {"lambda": "ServiceException", "ec2": "InternalError"}.get(
                    svc, "InternalFailure"), "We encountered an internal error.", sender=False)
            if op_name == "Invoke" and self.server.lambda_url:
                status, headers, out = self._forward_invoke(st, params, fault, key)
            else:
                with st.lock:
                    st._tick()
                    status, headers, out = getattr(self, "_op_" + op_name)(st, params, fault)
            bad = self._check_response(svc, op, status, headers, out)
            if bad:
                raise ApiError(500, "InternalFailure", "fake: botocore cannot parse: " + bad,
                               sender=False)
            self._record(svc, op_name, status, key, fault["kind"] if fault else None,
                         params=params if svc != "lambda" else None)
            return self._send(status, out, headers)
        except ApiError as e:
            self._record(svc, op_name, e.status, None, e.code)
            status, headers, out = self._error(svc, e)
            if op_name != "?":
                self._check_response(svc, self.server.models.svc[svc].operation_model(op_name),
                                     status, headers, out, expect_code=e.code)
            return self._send(status, out, headers)
        except Exception as e:  # a bug of the fake: say so, loudly, in the problems
            with st.lock:
                st.problems.append({"what": "fake failed", "error": f"{type(e).__name__}: {e}"})
            return self._send(500, "fake failed", [("Connection", "close")])

    def _record(self, svc, op, status, key, note, params=None):
        st = self.server.state
        with st.lock:
            act = IAM_ACTION.get((svc, op), "%s:%s" % (IAM_PREFIX.get(svc, svc), op))
            st.calls.append({"service": svc, "operation": op, "iam_action": act,
                             "status": status, "access_key": key, "note": note,
                             "time": time.time(), "params": params})

    def _throttle(self, svc):
        if svc == "lambda":
            return ApiError(429, "TooManyRequestsException", "Rate Exceeded.")
        if svc == "ec2":
            return ApiError(503, "RequestLimitExceeded", "Request limit exceeded.")
        return ApiError(400, "Throttling", "Rate exceeded")

    def _verify(self, method, body, svc, st):
        """Checks the request's SigV4 signature with botocore's signer; returns the key id."""
        auth = self.headers.get("Authorization", "")
        m = AUTH_RE.match(auth)
        if not m:
            raise ApiError(403, "IncompleteSignature" if auth else "MissingAuthenticationToken",
                           "Authorization header missing or malformed")
        ak, date, region, scope_svc, signed, sig = m.groups()
        amz_date = self.headers.get("X-Amz-Date", "")
        with st.lock:
            secret_token = st.keys.get(ak)
        if not secret_token:
            raise ApiError(403, "InvalidClientTokenId",
                           "The security token included in the request is invalid.")
        secret, token = secret_token
        signing = {"elbv2": "elasticloadbalancing"}.get(svc, svc)
        if region != st.args.region or scope_svc != signing or date != amz_date[:8]:
            raise ApiError(403, "SignatureDoesNotMatch",
                           f"credential scope {date}/{region}/{scope_svc} is not "
                           f"{amz_date[:8]}/{st.args.region}/{signing}")
        try:
            t = datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            raise ApiError(403, "IncompleteSignature", "X-Amz-Date missing or malformed")
        if abs(t - time.time()) > 900:
            raise ApiError(403, "SignatureDoesNotMatch", "Signature expired (X-Amz-Date)")
        names = signed.split(";")
        if "host" not in names or "x-amz-date" not in names or names != sorted(set(names)):
            raise ApiError(403, "SignatureDoesNotMatch", "host and x-amz-date must be signed")
        if token and (self.headers.get("X-Amz-Security-Token") != token or
                      "x-amz-security-token" not in names):
            raise ApiError(403, "InvalidClientTokenId", "session token missing or not signed")
        req = AWSRequest(method=method, url="http://%s%s" % (self.headers.get("Host"),
                                                            self.path), data=body)
        for n in names:
            for v in self.headers.get_all(n) or []:
                req.headers[n] = v
        req.context["timestamp"] = amz_date
        signer = SigV4Auth(Credentials(ak, secret, token), signing, region)
        signer._modify_request_before_signing(req)
        creq = signer.canonical_request(req)
        want = signer.signature(signer.string_to_sign(req, creq), req)
        if not hmac.compare_digest(want, sig):
            with st.lock:
                st.problems.append({"what": "signature mismatch", "canonical_request": creq})
            raise ApiError(403, "SignatureDoesNotMatch",
                           "The request signature we calculated does not match the signature "
                           "you provided.")
        return ak

    def _error(self, svc, e):
        rid = secrets.token_hex(16)
        if svc == "lambda":
            return e.status, [("Content-Type", "application/json"), ("x-amzn-RequestId", rid),
                              ("X-Amzn-ErrorType", e.code)], \
                json.dumps({"Type": "User" if e.sender else "Service", "message": e.message})
        if svc == "ec2":
            return e.status, [("Content-Type", "text/xml")], (
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>%s"
                "</Code><Message>%s</Message></Error></Errors><RequestID>%s</RequestID>"
                "</Response>" % (xml_escape(e.code), xml_escape(e.message), rid))
        ns = XMLNS.get(svc, XMLNS["autoscaling"])
        return e.status, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], (
            "<ErrorResponse xmlns=\"%s\">\n  <Error>\n    <Type>%s</Type>\n    <Code>%s</Code>\n"
            "    <Message>%s</Message>\n  </Error>\n  <RequestId>%s</RequestId>\n"
            "</ErrorResponse>\n" % (ns, "Sender" if e.sender else "Receiver",
                                    xml_escape(e.code), xml_escape(e.message), rid))

    def _check_response(self, svc, op, status, headers, body, expect_code=None):
        """With --check-responses: botocore's own parser must read the answer. Returns what is
        wrong ("" when nothing), recorded as a problem."""
        if not self.server.check_responses:
            return ""
        model = self.server.models.svc[svc]
        parser = botocore.parsers.create_parser(model.protocol)
        resp = {"status_code": status, "headers": botocore.awsrequest.HeadersDict(headers),
                "body": body.encode("utf-8") if isinstance(body, str) else body}
        err = ""
        try:
            parsed = parser.parse(resp, op.output_shape)
            if expect_code and parsed.get("Error", {}).get("Code") != expect_code:
                err = f"error code read as {parsed.get('Error')}, sent {expect_code}"
        except Exception as e:  # any failure to parse is what we look for
            err = f"{type(e).__name__}: {e}"
        if err:
            st = self.server.state
            with st.lock:
                st.problems.append({"what": "botocore cannot parse the answer",
                                    "operation": op.name, "error": err})
        return err

    # ---- operations ----
    def _xml(self, svc, op, result):
        ns = XMLNS[svc]
        rid = secrets.token_hex(16)
        if svc == "ec2":
            return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<%sResponse xmlns=\"%s\">\n"
                    "  <requestId>%s</requestId>\n%s</%sResponse>\n" % (op, ns, rid, result, op))
        res = "  <%sResult>\n%s  </%sResult>\n" % (op, result, op) if result is not None else ""
        return ("<%sResponse xmlns=\"%s\">\n%s  <ResponseMetadata>\n    <RequestId>%s"
                "</RequestId>\n  </ResponseMetadata>\n</%sResponse>\n" % (op, ns, res, rid, op))

    def _op_SetDesiredCapacity(self, st, p, fault):
        g = st.group
        if p["AutoScalingGroupName"] != g["name"]:
            raise ApiError(400, "ValidationError", "AutoScalingGroup name not found - %s"
                           % p["AutoScalingGroupName"])
        n = p["DesiredCapacity"]
        if n > g["max"]:
            raise ApiError(400, "ValidationError", "New SetDesiredCapacity value %d is above "
                           "max value %d for the AutoScalingGroup." % (n, g["max"]))
        if n < g["min"]:
            raise ApiError(400, "ValidationError", "New SetDesiredCapacity value %d is below "
                           "min value %d for the AutoScalingGroup." % (n, g["min"]))
        st._set_desired(n)
        return 200, [("Content-Type", "text/xml")], self._xml("autoscaling",
                                                               "SetDesiredCapacity", None)

    def _op_DescribeAutoScalingGroups(self, st, p, fault):
        g = st.group
        names = p.get("AutoScalingGroupNames")
        members = ""
        if names is None or g["name"] in names:
            ins = ""
            for iid, v in sorted(st.instances.items()):
                if v["state"] == "Terminated":
                    continue
                ins += ("        <member>\n          <InstanceId>%s</InstanceId>\n"
                        "          <InstanceType>c5.large</InstanceType>\n"
                        "          <AvailabilityZone>%s</AvailabilityZone>\n"
                        "          <LifecycleState>%s</LifecycleState>\n"
                        "          <HealthStatus>Healthy</HealthStatus>\n"
                        "          <LaunchTemplate><LaunchTemplateId>lt-0123456789abcdef0"
                        "</LaunchTemplateId><LaunchTemplateName>serflow-worker"
                        "</LaunchTemplateName><Version>1</Version></LaunchTemplate>\n"
                        "          <ProtectedFromScaleIn>false</ProtectedFromScaleIn>\n"
                        "        </member>\n" % (iid, v["az"], v["state"]))
            members = (
                "      <member>\n        <AutoScalingGroupName>%s</AutoScalingGroupName>\n"
                "        <AutoScalingGroupARN>arn:aws:autoscaling:%s:123456789012:"
                "autoScalingGroup:00000000-0000-0000-0000-000000000000:autoScalingGroupName/%s"
                "</AutoScalingGroupARN>\n        <MinSize>%d</MinSize>\n"
                "        <MaxSize>%d</MaxSize>\n        <DesiredCapacity>%d</DesiredCapacity>\n"
                "        <DefaultCooldown>300</DefaultCooldown>\n"
                "        <AvailabilityZones><member>%sa</member></AvailabilityZones>\n"
                "        <HealthCheckType>EC2</HealthCheckType>\n"
                "        <HealthCheckGracePeriod>0</HealthCheckGracePeriod>\n"
                "        <CreatedTime>%s</CreatedTime>\n        <Instances>\n%s        </Instances>\n"
                "        <SuspendedProcesses/>\n        <TerminationPolicies><member>Default"
                "</member></TerminationPolicies>\n        <NewInstancesProtectedFromScaleIn>false"
                "</NewInstancesProtectedFromScaleIn>\n      </member>\n"
                % (xml_escape(g["name"]), st.args.region, xml_escape(g["name"]), g["min"],
                   g["max"], g["desired"], st.args.region, now_iso(g["created"]), ins))
        return 200, [("Content-Type", "text/xml")], self._xml(
            "autoscaling", "DescribeAutoScalingGroups",
            "    <AutoScalingGroups>\n%s    </AutoScalingGroups>\n" % members)

    def _op_TerminateInstanceInAutoScalingGroup(self, st, p, fault):
        iid, dec = p["InstanceId"], p["ShouldDecrementDesiredCapacity"]
        v = st.instances.get(iid)
        if not v or v["state"] not in ("Pending", "InService"):
            raise ApiError(400, "ValidationError", "Instance Id not found - No managed instance "
                           "found for instance ID: %s" % iid)
        g = st.group
        if dec and g["desired"] - 1 < g["min"]:
            raise ApiError(400, "ValidationError", "Currently, desiredSize equals minSize (%d). "
                           "Terminating instance without replacement will violate group's min "
                           "size constraint. Either set shouldDecrementDesiredCapacity flag to "
                           "false or lower group's min size." % g["min"])
        v["state"], v["changed"] = "Terminating", time.time()
        st._stop_worker(iid)
        if dec:
            g["desired"] -= 1
        else:
            st._launch()
        act = ("    <Activity>\n      <ActivityId>%s</ActivityId>\n"
               "      <AutoScalingGroupName>%s</AutoScalingGroupName>\n"
               "      <Description>Terminating EC2 instance: %s</Description>\n"
               "      <Cause>At %s instance %s was taken out of service in response to a user "
               "request%s.</Cause>\n      <StartTime>%s</StartTime>\n"
               "      <StatusCode>InProgress</StatusCode>\n      <Progress>0</Progress>\n"
               "    </Activity>\n" % (secrets.token_hex(8), xml_escape(g["name"]), iid,
                                      now_iso(), iid,
                                      ", shrinking the capacity from %d to %d" %
                                      (g["desired"] + 1, g["desired"]) if dec else "",
                                      now_iso()))
        return 200, [("Content-Type", "text/xml")], self._xml(
            "autoscaling", "TerminateInstanceInAutoScalingGroup", act)

    def _op_DescribeInstances(self, st, p, fault):
        ids = p.get("InstanceIds") or sorted(st.instances)
        for iid in ids:
            if iid not in st.instances:
                raise ApiError(400, "InvalidInstanceID.NotFound",
                               "The instance ID '%s' does not exist" % iid)
        codes = {"Pending": (0, "pending"), "InService": (16, "running"),
                 "Terminating": (32, "shutting-down"), "Terminated": (48, "terminated")}
        items = ""
        for iid in ids:
            v = st.instances[iid]
            code, name = codes[v["state"]]
            ip = "" if name == "terminated" else \
                "          <privateIpAddress>%s</privateIpAddress>\n" % v["ip"]
            items += ("        <item>\n          <instanceId>%s</instanceId>\n"
                      "          <imageId>ami-0123456789abcdef0</imageId>\n"
                      "          <instanceState><code>%d</code><name>%s</name></instanceState>\n"
                      "          <instanceType>c5.large</instanceType>\n"
                      "          <launchTime>%s</launchTime>\n%s"
                      "          <placement><availabilityZone>%s</availabilityZone></placement>\n"
                      "        </item>\n" % (iid, code, name, now_iso(v["launched"]), ip, v["az"]))
        res = ("  <reservationSet>\n    <item>\n      <reservationId>r-0123456789abcdef0"
               "</reservationId>\n      <ownerId>123456789012</ownerId>\n      <instancesSet>\n%s"
               "      </instancesSet>\n    </item>\n  </reservationSet>\n" % items) if items else \
            "  <reservationSet/>\n"
        return 200, [("Content-Type", "text/xml")], self._xml("ec2", "DescribeInstances", res)

    def _op_DescribeTargetHealth(self, st, p, fault):
        if p["TargetGroupArn"] != st.target_group_arn:
            raise ApiError(400, "TargetGroupNotFound", "Target groups '%s' not found"
                           % p["TargetGroupArn"])
        health = {"Pending": "initial", "InService": "healthy", "Terminating": "draining"}
        ms = ""
        for iid, v in sorted(st.instances.items()):
            if v["state"] in health:
                ms += ("      <member>\n        <Target><Id>%s</Id><Port>8080</Port></Target>\n"
                       "        <HealthCheckPort>8080</HealthCheckPort>\n"
                       "        <TargetHealth><State>%s</State></TargetHealth>\n"
                       "      </member>\n" % (iid, health[v["state"]]))
        return 200, [("Content-Type", "text/xml")], self._xml(
            "elbv2", "DescribeTargetHealth",
            "    <TargetHealthDescriptions>\n%s    </TargetHealthDescriptions>\n" % ms)

    def _op_Invoke(self, st, p, fault):
        fn = st.function
        name = p["FunctionName"].split(":")[-1] if p["FunctionName"].startswith("arn:") \
            else p["FunctionName"]
        if name != fn["name"]:
            raise ApiError(404, "ResourceNotFoundException",
                           "Function not found: arn:aws:lambda:%s:123456789012:function:%s"
                           % (st.args.region, name))
        if p.get("InvocationType", "RequestResponse") != "RequestResponse":
            raise ApiError(400, "InvalidParameterValueException",
                           "the fake answers RequestResponse only")
        payload = p.get("Payload") or b""
        if len(payload) > LAMBDA_PAYLOAD_MAX:
            raise ApiError(413, "RequestTooLargeException",
                           "Request must be smaller than 6291456 bytes for the InvokeFunction "
                           "operation")
        rid = "%08x-0000-4000-8000-%012x" % (fn["invocations"], secrets.randbits(48))
        duration_ms = 1.25 + len(payload) / 100000.0
        billed = int(math.ceil(duration_ms))
        fn["invocations"] += 1
        fn["billed_ms"] += billed
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", rid),
                   ("X-Amz-Executed-Version", fn["version"])]
        if fault and fault["kind"] == "function_error":
            headers.append(("X-Amz-Function-Error", "Unhandled"))
            out = json.dumps({"errorType": "Runtime.ExitError",
                              "errorMessage": "RequestId: %s Error: Runtime exited with error: "
                                              "exit status 1" % rid})
        else:
            out = json.dumps({"function": name, "bytes": len(payload),
                              "sha256": hashlib.sha256(payload).hexdigest()})
        if p.get("LogType") == "Tail":
            log = ("START RequestId: %s Version: %s\nEND RequestId: %s\nREPORT RequestId: %s\t"
                   "Duration: %.2f ms\tBilled Duration: %d ms\tMemory Size: %d MB\t"
                   "Max Memory Used: 42 MB\t\n" % (rid, fn["version"], rid, rid, duration_ms,
                                                  billed, fn["memory_mb"]))
            headers.append(("X-Amz-Log-Result", base64.b64encode(log.encode()).decode()))
        return 200, headers, out


    def _client_gone(self):
        """1 when the caller hung up while its answer was being made (it waits silently)"""
        try:
            r, _, _ = select.select([self.connection], [], [], 0)
            return bool(r) and self.connection.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def _forward_invoke(self, st, p, fault, key):
        """Invoke run for real by the Lambda Invoke API at --lambda-url (outside the lock: the
        calls run in parallel, as on Lambda)"""
        fn = st.function
        name = p["FunctionName"].split(":")[-1] if p["FunctionName"].startswith("arn:") \
            else p["FunctionName"]
        if name != fn["name"]:
            raise ApiError(404, "ResourceNotFoundException",
                           "Function not found: arn:aws:lambda:%s:123456789012:function:%s"
                           % (st.args.region, name))
        if p.get("InvocationType", "RequestResponse") != "RequestResponse":
            raise ApiError(400, "InvalidParameterValueException",
                           "the fake answers RequestResponse only")
        payload = p.get("Payload") or b""
        if len(payload) > LAMBDA_PAYLOAD_MAX:
            raise ApiError(413, "RequestTooLargeException",
                           "Request must be smaller than 6291456 bytes for the InvokeFunction "
                           "operation")
        try:
            json.loads(payload)
        except ValueError:
            raise ApiError(400, "InvalidRequestContentException",
                           "Could not parse request body into json")
        url = "%s/2015-03-31/functions/%s/invocations" % (self.server.lambda_url,
                                                          urllib.parse.quote(name, safe=""))
        req = urllib.request.Request(url, data=payload, method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                code, hdrs, out = r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            code, hdrs, out = e.code, e.headers, e.read()
        except OSError as e:
            raise ApiError(503, "ServiceException", "the function runtime: %s" % e,
                           sender=False)
        billed = hdrs.get("X-Serflow-Billed-Duration-Ms")
        if code == 429:
            raise ApiError(429, "TooManyRequestsException", "Rate Exceeded.")
        if code == 413:
            raise ApiError(413, "RequestTooLargeException", "the function runtime answered 413")
        if code != 200:
            raise ApiError(code if code >= 500 else 400, "ServiceException" if code >= 500
                           else "InvalidRequestContentException",
                           "the function runtime answered %d" % code, sender=code < 500)
        fn_error = hdrs.get("X-Amz-Function-Error")
        if fault and fault["kind"] == "function_error":
            fn_error = "Unhandled"  # the function ran (and is billed) but failed
            out = json.dumps({"errorType": "Runtime.ExitError",
                              "errorMessage": "fake: function error injected"}).encode()
        gone = self._client_gone()
        with st.lock:
            fn["invocations"] += 1
            rid = "%08x-0000-4000-8000-%012x" % (fn["invocations"], secrets.randbits(48))
            if billed is not None and re.match(r"^\d+(\.\d+)?$", billed):
                b = float(billed)
                fn["billed_ms"] += b
                st.invocations.append({"billed_ms": b, "access_key": key, "abandoned": gone,
                                       "function_error": bool(fn_error), "bytes": len(payload),
                                       "time": time.time()})
                if gone:
                    fn["abandoned"] += 1
                    fn["abandoned_billed_ms"] += b
        headers = [("Content-Type", "application/json"), ("x-amzn-RequestId", rid),
                   ("X-Amz-Executed-Version", fn["version"])]
        if fn_error:
            headers.append(("X-Amz-Function-Error", fn_error))
        if p.get("LogType") == "Tail":
            log = ("START RequestId: %s Version: %s\nEND RequestId: %s\nREPORT RequestId: %s\t"
                   "Duration: %s ms\tBilled Duration: %s ms\tMemory Size: %d MB\t"
                   "Max Memory Used: 42 MB\t\n" % (rid, fn["version"], rid, rid, billed or "0",
                                                    billed or "0", fn["memory_mb"]))
            headers.append(("X-Amz-Log-Result", base64.b64encode(log.encode()).decode()))
        return 200, headers, out


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        # a client that hung up (a timeout it chose, a refused 6 MB body) is not news
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError, TimeoutError)):
            return
        super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--region", default="us-east-1")
    ap.add_argument("--group", default="serflow-workers")
    ap.add_argument("--min", type=int, default=0)
    ap.add_argument("--max", type=int, default=8)
    ap.add_argument("--desired", type=int, default=0)
    ap.add_argument("--function", default="serflow-fn")
    ap.add_argument("--memory-mb", type=int, default=1769)
    ap.add_argument("--pending-s", type=float, default=0.3)
    ap.add_argument("--terminating-s", type=float, default=0.3)
    ap.add_argument("--lifetime-s", type=float, default=300)
    ap.add_argument("--no-check-responses", action="store_true")
    ap.add_argument("--worker-cmd", help="JSON argv of an instance's worker ({ip} {port} {id})")
    ap.add_argument("--worker-env", help="JSON object: the workers' environment additions")
    ap.add_argument("--worker-port", type=int, default=8081)
    ap.add_argument("--worker-log", help="the workers' stdout and stderr, appended")
    ap.add_argument("--lambda-url", help="run Invoke at this Lambda Invoke API")
    args = ap.parse_args()
    srv = Server(("127.0.0.1", args.port), Handler)
    args.endpoint = "http://127.0.0.1:%d" % srv.server_address[1]  # the workers' {endpoint}
    srv.models = Models()
    srv.state = State(args)
    srv.check_responses = not args.no_check_responses
    srv.lambda_url = args.lambda_url.rstrip("/") if args.lambda_url else None
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    timer = threading.Timer(args.lifetime_s, srv.shutdown)
    timer.daemon = True
    timer.start()
    print("ready %d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        with srv.state.lock:
            srv.state.stop_workers()
        srv.server_close()


if __name__ == "__main__":
    main()
