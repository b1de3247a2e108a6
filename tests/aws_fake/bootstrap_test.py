#!/usr/bin/python3
"""bootstrap_test.py - the Lambda package's bootstrap answers an invocation through a Runtime
API server on loopback, as it would on Lambda (in ctest as aws_bootstrap).

Builds the zip with scripts/aws-package.sh (the same script as `make aws-package`), unpacks it
into a temporary task root, serves the Lambda Runtime API (GET .../invocation/next with the
request id and deadline headers, POST .../response and .../error) on 127.0.0.1, runs the zip's
`bootstrap` with only the environment Lambda gives a custom runtime, hands it one OIP v2 JSON
event, checks the answer (an OIP response: one label, ten probabilities, an exit stage), then
stops the bootstrap and removes everything. Usage: bootstrap_test.py BUILD_DIR
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REQ_ID = "8f507cfc-example-4697-b07a-ac58fc914c95"


class Runtime(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def _send(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        st = self.server.st
        if self.path != "/2018-06-01/runtime/invocation/next":
            return self._send(404)
        with st["lock"]:
            first = not st["served"]
            st["served"] = True
        if not first:  # a long poll that never ends: the test stops the bootstrap
            st["done"].wait(60)
            return self._send(500)
        ev = json.dumps(st["event"]).encode()
        self._send(200, ev, [("Lambda-Runtime-Aws-Request-Id", REQ_ID),
                             ("Lambda-Runtime-Deadline-Ms", "9999999999999"),
                             ("Lambda-Runtime-Invoked-Function-Arn",
                              "arn:aws:lambda:us-east-1:123456789012:function:serflow-fn"),
                             ("Lambda-Runtime-Trace-Id", "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700"),
                             ("Content-Type", "application/json")])

    def do_POST(self):
        st = self.server.st
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        st["posts"].append((self.path, body))
        self._send(202, b'{"status":"OK"}', [("Content-Type", "application/json")])
        st["done"].set()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the bootstrap's open long poll is cut when the test stops it


def unzip(zpath, dest):
    with zipfile.ZipFile(zpath) as z:
        for info in z.infolist():
            z.extract(info, dest)
            mode = info.external_attr >> 16
            if mode:
                os.chmod(os.path.join(dest, info.filename), stat.S_IMODE(mode))


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))
    tmp = tempfile.mkdtemp(prefix="sf_bootstrap_")
    srv = proc = None
    try:
        out = os.path.join(tmp, "out")
        subprocess.run(["bash", os.path.join(ROOT, "scripts/aws-package.sh"), build, out],
                       check=True, timeout=120)
        task = os.path.join(tmp, "task")
        unzip(os.path.join(out, "serflow-function.zip"), task)
        names = sorted(os.listdir(task))
        assert names == ["bin", "bootstrap", "lib", "model"], names
        st = {"lock": threading.Lock(), "served": False, "posts": [], "done": threading.Event(),
              "event": {"id": "req-1", "inputs": [{"name": "input", "datatype": "FP32",
                                                   "shape": [1, 784],
                                                   "data": [((i * 37) % 255) / 255.0
                                                            for i in range(784)]}]}}
        srv = Server(("127.0.0.1", 0), Runtime)
        srv.st = st
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        env = {"LAMBDA_TASK_ROOT": task, "LAMBDA_RUNTIME_DIR": "/var/runtime",
               "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % srv.server_address[1],
               "AWS_LAMBDA_FUNCTION_NAME": "serflow-fn", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1769",
               "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_REGION": "us-east-1",
               "_HANDLER": "bootstrap", "SERFLOW_MODEL_DIR": os.path.join(task, "model"),
               "SERFLOW_TAU": "0.5", "PATH": "/usr/bin:/bin", "TZ": ":UTC"}
        proc = subprocess.Popen([os.path.join(task, "bootstrap")], env=env, cwd=task)
        if not st["done"].wait(90):
            print("bootstrap_test: no answer within 90 s")
            return 1
        path, body = st["posts"][0]
        if path != "/2018-06-01/runtime/invocation/%s/response" % REQ_ID:
            print("bootstrap_test: posted to", path, body[:500])
            return 1
        ans = json.loads(body)
        outs = {o["name"]: o for o in ans["outputs"]}
        assert outs["label"]["shape"] == [1] and 0 <= outs["label"]["data"][0] < 10, outs
        assert len(outs["probabilities"]["data"]) == 10, outs
        assert outs["exit_stage"]["data"][0] >= 1, outs
        print("bootstrap_test: the zip's bootstrap answered: label %d at stage %d"
              % (outs["label"]["data"][0], outs["exit_stage"]["data"][0]))
        return 0
    finally:
        if proc:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if srv:
            srv.st["done"].set()
            srv.shutdown()
            srv.server_close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
