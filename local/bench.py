#!/usr/bin/env python3
"""Cold starts of every function against a hello-world baseline (`make bench`).

Each function's real release binary runs under a small Lambda Runtime API on 127.0.0.1, the
way Lambda runs a `provided.al2023` bootstrap. Init is the time from spawning the process to
its first `GET /runtime/invocation/next`; it then gets one API Gateway v2 event of one of its
real routes, and its peak RSS (VmHWM) is read once that event is answered. The baseline is
`bench-hello` (a `lambda_http` hello world, same release profile), measured alternately with
each function (A B A B ...), and every figure is a median over the rounds with its ratio to the
baseline's median in the same run. Arm64 zip sizes come from `make build-lambda`'s output when
it exists. Writes a Markdown report and an SVG chart.

Usage: bench.py BIN_DIR REPORT.md CHART.svg [ROUNDS]
Needs the local stack (DynamoDB Local, moto) for the events; `local/bench.sh` starts it.
"""

import http.server
import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from pathlib import Path

# Each function with an event of one of its routes: (method, path, route key, body).
FUNCTIONS = {
    "step-up": ("POST", "/v1/step-up/email", "POST /v1/step-up/email", "{}"),
    "add-totp": ("POST", "/v1/factors/totp", "POST /v1/factors/totp", "{}"),
    "add-phone": ("POST", "/v1/factors/phone", "POST /v1/factors/phone",
                  '{"phone_number":"+14155550134","channel":"sms"}'),
    "verify": ("POST", "/v1/challenges", "POST /v1/challenges", "{}"),
    "regenerate-recovery": ("POST", "/v1/recovery-code", "POST /v1/recovery-code", "{}"),
    "settings": ("GET", "/v1/mfa", "GET /v1/mfa", None),
    "admin-reset": ("GET", "/v1/orgs/org-bench/members/u-other/events",
                    "GET /v1/orgs/{org_id}/members/{user_id}/events", None),
    "self-reset": ("POST", "/v1/mfa/reset-requests", "POST /v1/mfa/reset-requests", "{}"),
}
BASELINE = "bench-hello"
TEMPLATE_NAMES = {
    "step-up": "StepUpFunction", "add-totp": "AddTotpFunction", "add-phone": "AddPhoneFunction",
    "verify": "VerifyFunction", "regenerate-recovery": "RegenerateRecoveryFunction",
    "settings": "SettingsFunction", "admin-reset": "AdminResetFunction",
    "self-reset": "SelfResetFunction",
}


def event(name):
    """An API Gateway HTTP API (payload 2.0) event for the function's route, with JWT claims."""
    method, path, route_key, body = FUNCTIONS.get(name, FUNCTIONS["settings"])
    now = time.time()
    user = "bench-" + uuid.uuid4().hex
    ev = {
        "version": "2.0", "routeKey": route_key, "rawPath": path, "rawQueryString": "",
        "headers": {"content-type": "application/json", "user-agent": "bench"},
        "requestContext": {
            "accountId": "000000000000", "apiId": "bench", "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "bench"},
            "requestId": str(uuid.uuid4()), "routeKey": route_key, "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
            "authorizer": {"jwt": {"claims": {
                "sub": user, "email": f"{user}@bench.local.test", "plan": "trial",
                "org_id": "org-bench", "org_role": "member",
                "iss": "http://127.0.0.1:3000", "aud": "console",
                "exp": str(int(now) + 600), "iat": str(int(now)),
            }, "scopes": None}},
        },
        "isBase64Encoded": False,
    }
    if "{org_id}" in route_key:
        ev["pathParameters"] = {"org_id": "org-bench", "user_id": "u-other"}
    if body is not None:
        ev["body"] = body
    return json.dumps(ev).encode()


class Runtime(http.server.ThreadingHTTPServer):
    """One function's Runtime API: hands out one event, records when it was first asked."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, payload):
        super().__init__(("127.0.0.1", 0), RuntimeHandler)
        self.payload = payload
        self.first_poll = None
        self.answered = threading.Event()
        self.closing = threading.Event()
        self.answer = None
        self.given = False


class RuntimeHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        rt = self.server
        if not self.path.endswith("/runtime/invocation/next"):
            self.send_error(404)
            return
        if rt.first_poll is None:
            rt.first_poll = time.perf_counter()
        if rt.given:
            # One event per process: a later poll waits until the harness ends the process.
            rt.closing.wait(30)
            return
        rt.given = True
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4()))
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                         "arn:aws:lambda:us-east-1:000000000000:function:bench")
        self.send_header("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(rt.payload)))
        self.end_headers()
        self.wfile.write(rt.payload)

    def do_POST(self):
        rt = self.server
        length = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(length) if length else b""
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()
        rt.answer = (self.path.rsplit("/", 1)[-1], body)
        rt.answered.set()


def peak_rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


# Where a CA bundle is one file, as on Lambda's Amazon Linux 2023 (/etc/pki/tls/certs); this
# machine's store is also a directory of ~150 files, which the HTTPS client reads at init.
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
ONE_BUNDLE = {"SSL_CERT_FILE": str(CA_BUNDLE), "SSL_CERT_DIR": "/nonexistent"}


def measure(bin_dir, name, extra_env=None):
    """(init ms, peak RSS KB, HTTP status answered) of one cold start of `name`."""
    rt = Runtime(event(name))
    thread = threading.Thread(target=rt.serve_forever, daemon=True)
    thread.start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{rt.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256", "AWS_LAMBDA_LOG_GROUP_NAME": "/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench", "RUST_LOG": "warn",
    })
    env.update(extra_env or {})
    start = time.perf_counter()
    proc = subprocess.Popen([str(bin_dir / name)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        if not rt.answered.wait(30):
            raise RuntimeError(f"{name}: no answer to its event within 30 s")
        if rt.first_poll is None:
            raise RuntimeError(f"{name}: answered without polling")
        rss = peak_rss_kb(proc.pid)
        kind, body = rt.answer
        if kind != "response":
            raise RuntimeError(f"{name}: the event failed: {body[:300]!r}")
        status = json.loads(body).get("statusCode")
        return (rt.first_poll - start) * 1000.0, rss, status
    finally:
        proc.kill()
        proc.wait()
        rt.closing.set()
        rt.shutdown()
        rt.server_close()


def fmt(v):
    return f"{v:.2f}" if v is not None else "-"


def zip_size(bootstrap):
    """The size of the deployment zip Lambda gets for a bootstrap (deflated, as sam does)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.write(bootstrap, "bootstrap")
    return buf.tell()


def chart(rows, base_ms, path):
    """Bars of each function's median init next to the baseline's."""
    width, bar_h, gap, left = 720, 22, 10, 170
    top = 40
    height = top + (len(rows) + 1) * (bar_h + gap) + 30
    scale = (width - left - 80) / max([base_ms] + [r["init"] for r in rows])
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="13">',
           f'<text x="10" y="22" font-size="15">Cold start: median init (ms), '
           f'{len(rows)} functions and the hello-world baseline</text>']
    entries = [(BASELINE + " (baseline)", base_ms, "#999")] + [
        (r["name"], r["init"], "#3b6ea5") for r in rows]
    for i, (label, ms, colour) in enumerate(entries):
        y = top + i * (bar_h + gap)
        w = max(1, ms * scale)
        out.append(f'<text x="{left - 8}" y="{y + 16}" text-anchor="end">{label}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar_h}" fill="{colour}"/>')
        out.append(f'<text x="{left + w + 6:.1f}" y="{y + 16}">{ms:.1f} ms</text>')
    x = left + base_ms * scale
    out.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 20}" '
               f'stroke="#999" stroke-dasharray="4 3"/>')
    out.append("</svg>")
    Path(path).write_text("\n".join(out) + "\n")


def main():
    bin_dir, report, svg = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 7
    names = list(FUNCTIONS)
    samples = {n: [] for n in names + [BASELINE]}
    bundled = {n: [] for n in names + [BASELINE]}
    statuses = {}
    started = time.time()
    for _ in range(rounds):
        for name in names:
            for who in (BASELINE, name):  # A B A B ...
                init, rss, status = measure(bin_dir, who)
                samples[who].append((init, rss))
                statuses[who] = status
                if CA_BUNDLE.exists():
                    bundled[who].append(measure(bin_dir, who, ONE_BUNDLE)[0])
    base_bundled = statistics.median(bundled[BASELINE]) if bundled[BASELINE] else None
    base_init = statistics.median(s[0] for s in samples[BASELINE])
    base_rss = statistics.median(s[1] for s in samples[BASELINE])
    sam_build = Path(__file__).resolve().parent.parent / "infra/.aws-sam/build"
    rows = []
    for name in names:
        init = statistics.median(s[0] for s in samples[name])
        rss = statistics.median(s[1] for s in samples[name])
        arm = sam_build / TEMPLATE_NAMES[name] / "bootstrap"
        one = statistics.median(bundled[name]) if bundled[name] else None
        rows.append({
            "name": name, "init": init, "init_x": init / base_init,
            "bundled": one, "bundled_x": one / base_bundled if one else None,
            "rss": rss / 1024,
            "rss_x": rss / base_rss, "status": statuses[name],
            "size": (bin_dir / name).stat().st_size / 1e6,
            "zip": zip_size(arm) / 1e6 if arm.exists() else None,
        })
    took = time.time() - started
    lines = [
        "| function | init, median ms | x baseline | init, one CA bundle, ms | x baseline | "
        "peak RSS, MB | x baseline | event answered | binary (host), MB | arm64 zip, MB |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| {BASELINE} (baseline) | {base_init:.2f} | 1.00 | {fmt(base_bundled)} | 1.00 | "
        f"{base_rss / 1024:.1f} | 1.00 | {statuses[BASELINE]} | "
        f"{(bin_dir / BASELINE).stat().st_size / 1e6:.2f} | |",
    ]
    for r in rows:
        zip_text = f"{r['zip']:.2f}" if r["zip"] is not None else "(run `make build-lambda`)"
        lines.append(
            f"| {r['name']} | {r['init']:.2f} | {r['init_x']:.2f} | {fmt(r['bundled'])} | "
            f"{fmt(r['bundled_x'])} | {r['rss']:.1f} | {r['rss_x']:.2f} | {r['status']} | "
            f"{r['size']:.2f} | {zip_text} |")
    table = "\n".join(lines)
    print(table)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    if dirty:
        commit += " with the changes of the commit that adds this report"

    chart(rows, base_init, svg)
    report.write_text(f"""# Performance

Written by `make bench` (`local/bench.sh`, `local/bench.py`); do not edit by hand. Commit
{commit}, {time.strftime('%Y-%m-%d', time.gmtime())}, {os.cpu_count()} cores, {rounds} rounds
(A B A B: the baseline before each function), {took:.0f} s.

## Cold start

Each function's release binary under a Lambda Runtime API on loopback: init is process start
to its first poll for an event; peak RSS is read after it answered one API Gateway v2 event of
a real route (the status it answered is shown; a 4xx still runs the whole handler). The
baseline `{BASELINE}` is a `lambda_http` hello world in the same release profile. Ratios are
of medians measured in the same run. The HTTPS client reads the system's CA store at init;
here that is also a directory of about 150 files, while Lambda's Amazon Linux 2023 keeps one
bundle file: "one CA bundle" is the same cold start with `SSL_CERT_FILE` set to this machine's
bundle (and no directory), measured in the same rounds. Arm64 zips are those `make build-lambda` (`sam build`)
wrote, deflated as SAM uploads them.

{table}

![median init per function against the baseline]({svg.name})

## Round trips

The AWS requests per call are counted by the dev gateway (`GET /__dev/calls`) in
`tests/api/round_trips.rs`, which holds each flow at its count: `POST /v1/challenges` 3
DynamoDB requests, a TOTP login verify 3 (and one KMS `Sign`), an email step-up verify 3,
`GET /v1/mfa` 3.
""")


if __name__ == "__main__":
    main()
