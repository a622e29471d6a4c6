"""Warm latency per flow against its floor, and the AWS requests each flow sends (`make bench`).

Every function runs as its real release `bootstrap`, kept warm under a loopback Lambda Runtime
API (`Warm`), and gets API Gateway v2 events of its real routes. Two sets of warm processes run
side by side:

- the direct set talks to DynamoDB Local and moto themselves: its invocations give the warm
  latency (from the event handed out to the response posted);
- the recorded set talks to them through a loopback proxy per emulator (`Recorder`), which
  names every request (service and operation) and times each one against the emulator: the
  flow's floor is the time its own AWS calls took at the emulators (the union of their
  intervals, so calls made at once count once), measured in the same run.

Each sample of a flow uses a user of its own, prepared through the same functions (an email
step-up, an authenticator app enrolled and verified), and the two sets alternate sample by
sample (A B A B). Codes are computed with pyotp and read from moto's outbox.
"""

import hashlib
import http.server
import json
import os
import queue
import re
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pyotp

# List prices used for the cost per million logins (us-east-1, on-demand, USD).
PRICES = {
    "dynamodb_wru": 0.625 / 1e6,   # per write request unit
    "dynamodb_rru": 0.125 / 1e6,   # per read request unit
    "kms_sign": 0.15 / 1e4,        # asymmetric (ECC) Sign, per request
    "kms_symmetric": 0.03 / 1e4,   # Decrypt, per request
    "lambda_request": 0.20 / 1e6,
    "lambda_gb_second": 0.0000133334,  # arm64
    "http_api_request": 1.00 / 1e6,
}
MEMORY_MB = 256  # infra/template.yaml Globals


def api_event(method, path, route_key, user, body=None, headers=None, path_params=None):
    """An API Gateway HTTP API (payload 2.0) event for `route_key`, as `user` (JWT claims)."""
    now = time.time()
    ev = {
        "version": "2.0", "routeKey": route_key, "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "user-agent": "bench",
                    **(headers or {})},
        "requestContext": {
            "accountId": "000000000000", "apiId": "bench", "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": str(uuid.uuid4()), "routeKey": route_key, "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
            "authorizer": {"jwt": {"claims": {
                "sub": user["sub"], "email": user["email"], "plan": user["plan"],
                "org_id": "org-bench", "org_role": "member",
                "iss": "http://127.0.0.1:3000", "aud": "console",
                "exp": str(int(now) + 600), "iat": str(int(now)),
            }, "scopes": None}},
        },
        "isBase64Encoded": False,
    }
    if path_params:
        ev["pathParameters"] = path_params
    if body is not None:
        ev["body"] = json.dumps(body)
    return json.dumps(ev).encode()


def new_user(plan="paid"):
    sub = "bench-" + uuid.uuid4().hex
    return {"sub": sub, "email": f"{sub}@bench.local.test", "plan": plan}


def lambda_env(name, runtime_port):
    return {
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{runtime_port}",
        "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(MEMORY_MB), "AWS_LAMBDA_LOG_GROUP_NAME": "/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench", "RUST_LOG": "warn",
    }


class _Quiet(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as Lambda's Runtime API and AWS endpoints

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out as separate writes: without this, Nagle's algorithm holds
        # the body until the client's delayed ACK (40 ms), as no real endpoint does.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""


class RuntimeApi:
    """A Lambda Runtime API on loopback that stamps times at its socket, as the proxy does.

    A poll's time is when the last byte of its request came in, and an event's is just before
    its first byte goes out, built beforehand; an answer's time is when its last byte came in,
    before any Python parses it. So the harness's own parsing sits outside every interval, as
    the proxy's sits outside the floor (http.server's, until stop 33, added about 0.03 ms to
    each: 0.216 -> 0.190 and 0.242 -> 0.208 ms for the hello world, 500 each way, alternated).
    `next_event(polled)` gives the payload for a poll (None closes the connection: the harness
    is ending); `answer(kind, body, at)` takes a response or an error."""

    def __init__(self, next_event, answer):
        self._on_poll, self._on_answer = next_event, answer
        self.handed = None
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.25)
        self.port = self.sock.getsockname()[1]
        self.closing = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closing.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            try:
                while (request := read_request(conn)) is not None:
                    method, path, body, at = request
                    if method == "GET" and path.endswith("/runtime/invocation/next"):
                        payload = self._on_poll(at)
                        if payload is None:
                            return
                        raw = runtime_event(payload)
                        self.handed = time.perf_counter()
                        conn.sendall(raw)
                    elif method == "POST" and "/runtime/" in path:
                        self._on_answer(path.rsplit("/", 1)[-1], body, at)
                        conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                    else:
                        conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            except OSError:
                return  # the function was stopped

    def close(self):
        self.closing.set()
        self.sock.close()


def runtime_event(payload):
    """The bytes of a Runtime API answer to `GET .../invocation/next` carrying `payload`."""
    head = (
        "HTTP/1.1 200 OK\r\n"
        f"Lambda-Runtime-Aws-Request-Id: {uuid.uuid4()}\r\n"
        f"Lambda-Runtime-Deadline-Ms: {int(time.time() * 1000) + 30000}\r\n"
        "Lambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:us-east-1:000000000000:function:bench\r\n"
        "Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(payload)}\r\n\r\n")
    return head.encode("latin-1") + payload


def read_request(sock):
    """(method, path, body, when its last byte came in) of one HTTP/1.1 request on `sock`, or
    None when the peer closed. Only the framing is read before the time is taken."""
    message = read_message(sock, until_close=False)
    if message is None:
        return None
    at = time.perf_counter()
    data, end, framing = message
    method, path, _ = data[:end].decode("latin-1").split("\r\n", 1)[0].split(" ", 2)
    return method, path, body_of(data, end, framing), at


def dechunk(data):
    """The body of a chunked transfer coding."""
    out, rest = b"", data
    while True:
        size_line, rest = rest.split(b"\r\n", 1)
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return out
        out, rest = out + rest[:size], rest[size + 2:]


class WarmRuntime(RuntimeApi):
    """A Runtime API that hands out queued events, one at a time, and queues the answers."""

    def __init__(self):
        self.events = queue.Queue()
        self.answers = queue.Queue()
        # Set while the function waits in a poll: between invocations, so its CPU time is still.
        self.waiting = threading.Event()
        super().__init__(self._next, lambda kind, body, at: self.answers.put((kind, body, at)))

    def _next(self, _polled):
        self.waiting.set()
        while True:
            try:
                event = self.events.get(timeout=0.25)
            except queue.Empty:
                if self.closing.is_set():
                    return None
                continue
            self.waiting.clear()
            return event


class Warm:
    """One function's bootstrap, started once and kept warm; `invoke` sends it one event."""

    def __init__(self, bin_dir, name, env_extra=None):
        self.name = name
        self.cpu = None  # of the last invocation
        self.rt = WarmRuntime()
        env = dict(os.environ)
        env.update(lambda_env(name, self.rt.port))
        env.update(env_extra or {})
        self.proc = subprocess.Popen([str(bin_dir / name)], env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def invoke(self, method, path, route_key, user, body=None, headers=None, path_params=None):
        """(status, JSON body, ms from the event's first byte out to the response's last byte
        in). `cpu` is then the CPU time the invocation took, in ms: from the poll it was handed
        to until the function polls again, every thread, user and kernel."""
        payload = api_event(method, path, route_key, user, body, headers, path_params)
        self.wait_for_poll(route_key)
        before = cpu_ms(self.proc.pid)
        self.rt.events.put(payload)
        try:
            kind, raw, answered = self.rt.answers.get(timeout=30)
        except queue.Empty:
            raise RuntimeError(f"{self.name}: no answer to {route_key} within 30 s") from None
        self.wait_for_poll(route_key)
        self.cpu = cpu_ms(self.proc.pid) - before
        if kind != "response":
            raise RuntimeError(f"{self.name}: {route_key} failed: {raw[:300]!r}")
        reply = json.loads(raw)
        text = reply.get("body") or "null"
        try:
            body = json.loads(text)
        except json.JSONDecodeError:
            body = text  # the hello world answers plain text
        return reply["statusCode"], body, (answered - self.rt.handed) * 1000.0

    def wait_for_poll(self, route_key):
        if not self.rt.waiting.wait(30):
            raise RuntimeError(f"{self.name}: no poll for an event within 30 s ({route_key})")

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.rt.close()


def cpu_ms(pid):
    """CPU time every thread of `pid` has run so far (schedstat, ns precision), in ms."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            total += int((task / "schedstat").read_text().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e6


def classify(path, headers, body):
    """(service, operation) of one AWS request as the SDK sends it."""
    target = headers.get("X-Amz-Target", "")
    if target.startswith("DynamoDB_"):
        return "dynamodb", target.split(".", 1)[1]
    if target.startswith("TrentService."):
        return "kms", target.split(".", 1)[1]
    if target.startswith("PinpointSMSVoiceV2."):
        return "sms-voice", target.split(".", 1)[1]
    if path.startswith("/v2/email/"):
        return "ses", "SendEmail" if "outbound-emails" in path else path
    form = parse_qs(body.decode("utf-8", "replace"))
    if "Action" in form:
        return "sns", form["Action"][0]
    return "other", path


def capacity(op, request, response):
    """DynamoDB request units of one call: (read units, write units, largest item in bytes).

    Priced as on-demand DynamoDB bills them: a strongly consistent read of an item up to 4 KB
    is 1 read unit, found or not; a transactional write of an item up to 1 KB is 2 write units
    (a condition check is counted as one, the dearer reading). The largest item read is
    reported so the 4 KB / 1 KB assumptions can be checked against it.
    """
    req = json.loads(request or b"{}")
    try:
        res = json.loads(response or b"{}")
    except json.JSONDecodeError:
        res = {}
    largest = 0
    if op == "BatchGetItem":
        keys = sum(len(t.get("Keys", [])) for t in req.get("RequestItems", {}).values())
        for items in (res.get("Responses") or {}).values():
            for item in items:
                largest = max(largest, len(json.dumps(item)))
        return keys, 0, largest
    if op == "GetItem":
        largest = len(json.dumps(res.get("Item", {})))
        return 1, 0, largest
    if op == "Query":
        for item in res.get("Items", []):
            largest = max(largest, len(json.dumps(item)))
        size = sum(len(json.dumps(i)) for i in res.get("Items", []))
        return max(1, -(-size // 4096)), 0, largest
    if op == "TransactWriteItems":
        items = req.get("TransactItems", [])
        for item in items:
            if "Put" in item:
                largest = max(largest, len(json.dumps(item["Put"].get("Item", {}))))
        return 0, 2 * len(items), largest
    if op in ("PutItem", "UpdateItem", "DeleteItem"):
        return 0, 1, len(json.dumps(req.get("Item", {})))
    return 0, 0, 0


class Recorder(http.server.ThreadingHTTPServer):
    """A loopback proxy in front of one emulator: forwards each request unchanged over a
    kept-alive connection and records what it was and how long the emulator took."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, upstream):
        super().__init__(("127.0.0.1", 0), RecorderHandler)
        u = urlsplit(upstream)
        self.upstream = (u.hostname, u.port)
        self.calls = []
        self.lock = threading.Lock()
        self.local = threading.local()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.server_address[1]}"

    def send(self, method, path, body, headers):
        """Forwards one request; (status, headers, body, start, end). The request's bytes are
        built before `start` and the response is parsed after `end`, so the interval is the
        emulator's answer and the bytes on loopback, not this proxy's Python."""
        head = f"{method} {path} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        raw = head.encode("latin-1") + body
        for attempt in (1, 2):
            # moto answers `Connection: close`, so the functions connect for every moto call:
            # a new connection is timed too, as any client of that emulator pays for it.
            start = time.perf_counter()
            sock = getattr(self.local, "sock", None)
            if sock is None:
                sock = self.local.sock = socket.create_connection(self.upstream, timeout=30)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                sock.sendall(raw)
                message, keep = read_response(sock)
                end = time.perf_counter()
                if not keep:
                    sock.close()
                    self.local.sock = None
                return (*parse_response(*message), start, end)
            except OSError:
                sock.close()
                self.local.sock = None
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self):
        self.shutdown()
        self.server_close()


class RecorderHandler(_Quiet):
    def do_GET(self):
        self.forward("GET")

    def do_POST(self):
        self.forward("POST")

    def do_PUT(self):
        self.forward("PUT")

    def do_DELETE(self):
        self.forward("DELETE")

    def forward(self, method):
        body = self.body()
        service, op = classify(self.path, self.headers, body)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("content-length", "connection")}
        headers["Content-Length"] = str(len(body))
        status, answer_headers, data, start, end = self.server.send(method, self.path, body,
                                                                    headers)
        units = capacity(op, body, data) if service == "dynamodb" else (0, 0, 0)
        with self.server.lock:
            self.server.calls.append({"service": service, "op": op, "start": start,
                                      "end": end, "status": status, "units": units})
        self.send_response(status)
        for k, v in answer_headers:
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date",
                                 "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def read_response(sock):
    """`read_message`'s answer for one HTTP/1.1 response (Content-Length, chunked, or up to the
    close), and whether the connection stays open. Only the framing is read here; see
    `parse_response`."""
    message = read_message(sock, until_close=True)
    if message is None:
        raise ConnectionResetError("the emulator closed the connection")
    data, end, framing = message
    return message, framing != "close" and b"\r\nconnection: close" not in data[:end].lower()


def read_message(sock, until_close):
    """(bytes, length of the head, framing) of one HTTP/1.1 message on `sock`, framed by its
    Content-Length (`length`, also a request with neither), its chunks (`chunked`) or, with
    `until_close` and neither, the peer's close (`close`); None if the peer closed before the
    message was whole."""
    buf = bytearray()

    def more():
        chunk = sock.recv(65536)
        buf.extend(chunk)
        return bool(chunk)

    while b"\r\n\r\n" not in buf:
        if not more():
            return None
    end = buf.index(b"\r\n\r\n") + 4
    head = bytes(buf[:end]).lower()
    length = re.search(rb"\r\ncontent-length: *(\d+)", head)
    if length:
        total = end + int(length.group(1))
        while len(buf) < total:
            if not more():
                return None
        return bytes(buf[:total]), end, "length"
    if b"\r\ntransfer-encoding: chunked" in head:
        while not buf.endswith(b"\r\n0\r\n\r\n"):
            if not more():
                return None
        return bytes(buf), end, "chunked"
    if until_close:
        while more():
            pass
        return bytes(buf), end, "close"
    return bytes(buf[:end]), end, "length"


def parse_response(data, end, framing):
    """(status, [(header, value)], body) of a response `read_message` read."""
    lines = data[:end - 4].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    headers = [tuple(x.strip() for x in line.split(":", 1)) for line in lines[1:] if ":" in line]
    return status, headers, body_of(data, end, framing)


def body_of(data, end, framing):
    """The body of a message `read_message` read."""
    return dechunk(data[end:]) if framing == "chunked" else data[end:]


def union_ms(intervals):
    """The time covered by at least one of `intervals` (start, end), in ms."""
    total, last = 0.0, None
    for start, end in sorted(intervals):
        if last is None or start > last:
            total += end - start
            last = end
        elif end > last:
            total += end - last
            last = end
    return total * 1000.0


class Functions:
    """The functions a set needs, warm, with the AWS endpoints `env_extra` gives them."""

    NAMES = ("verify", "settings", "step-up", "add-totp")

    def __init__(self, bin_dir, env_extra=None):
        self.warm = {n: Warm(bin_dir, n, env_extra) for n in self.NAMES}

    def __getitem__(self, name):
        return self.warm[name]

    def close(self):
        for w in self.warm.values():
            w.close()


def latest_code(moto, email):
    """The 6-digit code of the newest email moto "sent" to `email`."""
    with urllib.request.urlopen(f"{moto}/moto-api/data.json", timeout=10) as r:
        data = json.load(r)
    mails = [m for m in data.get("ses", {}).get("Message", [])
             if email in (m.get("destinations", {}).get("ToAddresses") or [])]
    if not mails:
        raise RuntimeError(f"no email to {email}")
    found = re.search(r"(?<!\d)\d{6}(?!\d)", mails[-1].get("body", ""))
    if not found:
        raise RuntimeError("the email holds no code")
    return found.group(0)


def expect(status, want, what, body):
    if status != want:
        raise RuntimeError(f"{what}: {status} {body}")


def email_step_up(fns, moto, user):
    """A step-up by email for `user`: (challenge id, code), not yet verified."""
    status, body, _ = fns["step-up"].invoke("POST", "/v1/step-up/email",
                                            "POST /v1/step-up/email", user, {})
    expect(status, 202, "email step-up", body)
    return body["challenge_id"], latest_code(moto, user["email"])


def verify_step_up(fns, user, challenge_id, code):
    return fns["step-up"].invoke("POST", "/v1/step-up/email/verify",
                                 "POST /v1/step-up/email/verify", user,
                                 {"challenge_id": challenge_id, "code": code})


def clear_of_step_edge(app, margin=0.5):
    """The time to compute a code at, at least `margin` s before the app's time step ends (it
    waits out the step otherwise): a code computed as one step ends would reach the function in
    the next, one step off the window the bench aims at."""
    left = app.interval - time.time() % app.interval
    if left < margin:
        time.sleep(left + 0.01)
    return time.time()


def user_with_app(fns, moto):
    """A new user with an active authenticator app: (user, pyotp.TOTP)."""
    user = new_user()
    challenge_id, code = email_step_up(fns, moto, user)
    status, body, _ = verify_step_up(fns, user, challenge_id, code)
    expect(status, 200, "step-up verify", body)
    token = body["step_up_token"]
    status, body, _ = fns["add-totp"].invoke(
        "POST", "/v1/factors/totp", "POST /v1/factors/totp", user, {"label": "bench"},
        headers={"x-step-up-token": token})
    expect(status, 201, "add app", body)
    digest = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256,
              "SHA512": hashlib.sha512}[body["algorithm"].upper()]
    app = pyotp.TOTP(body["secret"], digits=body["digits"], interval=body["period"],
                     digest=digest)
    factor = body["factor_id"]
    # The previous step's code: the current and next stay free for the login.
    status, body, _ = fns["add-totp"].invoke(
        "POST", f"/v1/factors/totp/{factor}/verify", "POST /v1/factors/totp/{factor_id}/verify",
        user, {"code": app.at(clear_of_step_edge(app) - app.interval)},
        path_params={"factor_id": factor})
    expect(status, 200, "verify app", body)
    return user, app


FLOWS = ("POST /v1/challenges", "TOTP login verify", "email step-up verify", "GET /v1/mfa")


def sample(fns, moto):
    """One sample of each flow through `fns`: {flow: ms}, {flow: (start, end)} of each
    measured invocation (to find the AWS calls it made) and {flow: CPU ms} of each."""
    user, app = user_with_app(fns, moto)
    times, spans, cpus = {}, {}, {}

    def timed(flow, function, *args, want, **kw):
        start = time.perf_counter()
        status, body, ms = fns[function].invoke(*args, **kw)
        spans[flow] = (start, time.perf_counter())
        expect(status, want, flow, body)
        times[flow] = ms
        cpus[flow] = fns[function].cpu
        return body

    started = timed("POST /v1/challenges", "verify", "POST", "/v1/challenges",
                    "POST /v1/challenges", user, {}, want=201)
    challenge = started["challenge_id"]
    timed("TOTP login verify", "verify", "POST", f"/v1/challenges/{challenge}/verify",
          "POST /v1/challenges/{challenge_id}/verify", user,
          {"method": "totp", "code": app.at(clear_of_step_edge(app) + app.interval)},
          path_params={"challenge_id": challenge}, want=200)
    timed("GET /v1/mfa", "settings", "GET", "/v1/mfa", "GET /v1/mfa", user, want=200)
    fresh = new_user()
    challenge_id, code = email_step_up(fns, moto, fresh)
    timed("email step-up verify", "step-up", "POST", "/v1/step-up/email/verify",
          "POST /v1/step-up/email/verify", fresh,
          {"challenge_id": challenge_id, "code": code}, want=200)
    return times, spans, cpus


def run(bin_dir, samples):
    """Warm latency, floor, CPU and AWS requests per flow: (rows, the largest item seen, the
    hello world's warm latency and CPU per invocation under the same harness)."""
    moto = os.environ["AWS_ENDPOINT_URL"]
    dynamodb = os.environ["AWS_ENDPOINT_URL_DYNAMODB"]
    rec_dynamodb, rec_moto = Recorder(dynamodb), Recorder(moto)
    direct = Functions(bin_dir)
    recorded = Functions(bin_dir, {"AWS_ENDPOINT_URL": rec_moto.url,
                                   "AWS_ENDPOINT_URL_DYNAMODB": rec_dynamodb.url})
    latency = {f: [] for f in FLOWS}
    cpu = {f: [] for f in FLOWS}
    floor = {f: [] for f in FLOWS}
    requests = {f: None for f in FLOWS}
    units = {f: [] for f in FLOWS}
    largest = 0
    hello = Warm(bin_dir, "bench-hello")
    hello_ms, hello_cpu = [], []
    # Every timestamp here is taken by a Python thread woken by a socket; by default a thread
    # waits up to 5 ms for the GIL, longer than some whole flows. 0.1 ms keeps the wake-ups prompt.
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        for _ in range(samples + 1):
            status, _, ms = hello.invoke("GET", "/", "$default", new_user())
            expect(status, 200, "hello", None)
            hello_ms.append(ms)
            hello_cpu.append(hello.cpu)
        for fns in (direct, recorded):  # warm: each process has answered once
            sample(fns, moto)
        for _ in range(samples):
            times, _, cpus = sample(direct, moto)
            for f, ms in times.items():
                latency[f].append(ms)
                cpu[f].append(cpus[f])
            with rec_dynamodb.lock, rec_moto.lock:
                rec_dynamodb.calls.clear()
                rec_moto.calls.clear()
            _, spans, _ = sample(recorded, moto)
            with rec_dynamodb.lock, rec_moto.lock:
                calls = rec_dynamodb.calls + rec_moto.calls
            for f, (start, end) in spans.items():
                mine = [c for c in calls if start <= c["start"] <= end]
                floor[f].append(union_ms([(c["start"], c["end"]) for c in mine]))
                counted = {}
                for c in mine:
                    key = f"{c['service']} {c['op']}"
                    counted[key] = counted.get(key, 0) + 1
                if requests[f] is not None and requests[f] != counted:
                    raise RuntimeError(f"{f}: requests differ between samples: "
                                       f"{requests[f]} and {counted}")
                requests[f] = counted
                units[f].append((sum(c["units"][0] for c in mine),
                                 sum(c["units"][1] for c in mine)))
                largest = max([largest] + [c["units"][2] for c in mine])
    finally:
        sys.setswitchinterval(switch)
        hello.close()
        direct.close()
        recorded.close()
        rec_dynamodb.close()
        rec_moto.close()
    rows = []
    for f in FLOWS:
        lat, flo = statistics.median(latency[f]), statistics.median(floor[f])
        rru = statistics.median(u[0] for u in units[f])
        wru = statistics.median(u[1] for u in units[f])
        rows.append({"flow": f, "latency": lat, "floor": flo, "ratio": lat / flo,
                     "cpu": statistics.median(cpu[f]),
                     "requests": requests[f], "rru": rru, "wru": wru,
                     "dynamodb": sum(n for k, n in requests[f].items()
                                     if k.startswith("dynamodb "))})
    return rows, largest, statistics.median(hello_ms[1:]), statistics.median(hello_cpu[1:])


def login_cost(rows, signer_requests):
    """Dollars per million TOTP logins (login start + TOTP verify) at list prices, with the
    assertion signed by KMS (`signer_requests` Sign calls per login) or in process."""
    by = {r["flow"]: r for r in rows}
    login = [by["POST /v1/challenges"], by["TOTP login verify"]]
    million = 1e6
    parts = {
        "DynamoDB": million * sum(r["rru"] * PRICES["dynamodb_rru"]
                                  + r["wru"] * PRICES["dynamodb_wru"] for r in login),
        "KMS Sign": million * signer_requests * PRICES["kms_sign"],
        "Lambda requests": million * 2 * PRICES["lambda_request"],
        "Lambda duration": million * sum(r["latency"] for r in login) / 1000.0
                           * MEMORY_MB / 1024 * PRICES["lambda_gb_second"],
        "API Gateway (HTTP API)": million * 2 * PRICES["http_api_request"],
    }
    return parts, sum(parts.values())


def chart(rows, path):
    """Bars of each flow's median warm latency next to its floor."""
    width, bar_h, gap, left, top = 760, 16, 14, 190, 44
    height = top + len(rows) * (2 * bar_h + gap) + 40
    scale = (width - left - 90) / max(max(r["latency"], r["floor"]) for r in rows)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="13">',
           '<text x="10" y="22" font-size="15">Warm latency per flow (median ms) and its floor '
           '(the same AWS calls at the emulators)</text>']
    for i, r in enumerate(rows):
        y = top + i * (2 * bar_h + gap)
        out.append(f'<text x="{left - 8}" y="{y + bar_h + 4}" text-anchor="end">{r["flow"]}</text>')
        for j, (ms, colour, what) in enumerate(((r["latency"], "#3b6ea5", "latency"),
                                                (r["floor"], "#999", "floor"))):
            w = max(1, ms * scale)
            yy = y + j * bar_h
            out.append(f'<rect x="{left}" y="{yy}" width="{w:.1f}" height="{bar_h - 2}" '
                       f'fill="{colour}"/>')
            out.append(f'<text x="{left + w + 6:.1f}" y="{yy + 12}" font-size="11">'
                       f'{what} {ms:.2f}</text>')
    y = height - 16
    out.append(f'<rect x="{left}" y="{y - 10}" width="12" height="10" fill="#3b6ea5"/>'
               f'<text x="{left + 16}" y="{y}">through the function</text>'
               f'<rect x="{left + 170}" y="{y - 10}" width="12" height="10" fill="#999"/>'
               f'<text x="{left + 186}" y="{y}">floor</text>')
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
