#!/usr/bin/env python3
"""Cold starts of every function against a hello-world baseline (`make bench`).

Each function's real release binary runs under a small Lambda Runtime API on 127.0.0.1, the
way Lambda runs a `provided.al2023` bootstrap. Init is the time from spawning the process to
its first `GET /runtime/invocation/next`; it then gets one API Gateway v2 event of one of its
real routes, and its peak RSS (VmHWM) is read once that event is answered. The baseline is
`bench-hello` (a `lambda_http` hello world, same release profile), measured alternately with
each function (A B A B ...), and every figure is a median over the rounds with its ratio to the
baseline's median in the same run. Arm64 zip sizes come from `make build-lambda`'s output when
it exists. Then `bench_flows` measures warm latency per flow against its floor, names the AWS
requests of each flow and prices a million TOTP logins. Writes a Markdown report and two SVG
charts (CHART.svg, and `performance-latency.svg` beside it).

Usage: bench.py BIN_DIR REPORT.md CHART.svg [ROUNDS]   (BENCH_SAMPLES: samples per flow, 101)
Needs the local stack (DynamoDB Local, moto) for the events and pyotp; `local/bench.sh` starts
the one and installs the other.
"""

import io
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import bench_flows

# Each function with an event of one of its routes: (method, path, route key, body).
FUNCTIONS = {
    "step-up": ("POST", "/v1/step-up/email", "POST /v1/step-up/email", "{}"),
    "add-totp": ("POST", "/v1/factors/totp", "POST /v1/factors/totp", "{}"),
    "add-phone": ("POST", "/v1/factors/phone", "POST /v1/factors/phone",
                  '{"phone_number":"+14155550134","channel":"sms"}'),
    "add-webauthn": ("POST", "/v1/factors/webauthn", "POST /v1/factors/webauthn", "{}"),
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
    "add-webauthn": "AddWebauthnFunction",
    "verify": "VerifyFunction", "regenerate-recovery": "RegenerateRecoveryFunction",
    "settings": "SettingsFunction", "admin-reset": "AdminResetFunction",
    "self-reset": "SelfResetFunction",
}


def event(name):
    """An API Gateway HTTP API (payload 2.0) event for the function's route, with JWT claims."""
    method, path, route_key, body = FUNCTIONS.get(name, FUNCTIONS["settings"])
    params = {"org_id": "org-bench", "user_id": "u-other"} if "{org_id}" in route_key else None
    return bench_flows.api_event(method, path, route_key, bench_flows.new_user("trial"),
                                 json.loads(body) if body is not None else None,
                                 path_params=params)


class Runtime(bench_flows.RuntimeApi):
    """One function's Runtime API: hands out one event, records when it was first asked (at
    its socket, as `bench_flows.RuntimeApi` stamps every time)."""

    def __init__(self, payload):
        super().__init__(self._next, self._answer)
        self.payload = payload
        self.first_poll = None
        self.pid = None
        # Set once `pid` is: a function can poll before Popen has returned to the harness.
        self.pid_known = threading.Event()
        self.init_cpu = None
        self.answered = threading.Event()
        self.answer = None
        self.given = False
        self.answered_at = None

    def _next(self, polled):
        if self.first_poll is None:
            self.first_poll = polled
            # The process waits for this answer meanwhile, so its CPU time does not grow.
            self.init_cpu = bench_flows.cpu_ms(self.pid) if self.pid_known.wait(5) else None
        if self.given:
            # One event per process: a later poll waits until the harness ends the process.
            self.closing.wait(30)
            return None
        self.given = True
        return self.payload

    def _answer(self, kind, body, at):
        self.answered_at = at
        self.answer = (kind, body)
        self.answered.set()


def peak_rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM")


def minor_faults(pid):
    """Page faults served from memory so far: mostly the binary's pages as they are first
    touched (the kernel maps the file in as code runs)."""
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[7])


def measure(bin_dir, name):
    """(init ms, peak RSS KB, HTTP status answered, minor faults, init CPU ms, first event ms)
    of one cold start of `name`."""
    rt = Runtime(event(name))
    env = dict(os.environ)
    env.update(bench_flows.lambda_env(name, rt.port))
    start = time.perf_counter()
    proc = subprocess.Popen([str(bin_dir / name)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    rt.pid = proc.pid
    rt.pid_known.set()
    try:
        if not rt.answered.wait(30):
            raise RuntimeError(f"{name}: no answer to its event within 30 s")
        if rt.first_poll is None:
            raise RuntimeError(f"{name}: answered without polling")
        rss = peak_rss_kb(proc.pid)
        faults = minor_faults(proc.pid)
        kind, body = rt.answer
        if kind != "response":
            raise RuntimeError(f"{name}: the event failed: {body[:300]!r}")
        status = json.loads(body).get("statusCode")
        if rt.init_cpu is None:
            raise RuntimeError(f"{name}: polled before its pid was known")
        first_event = (rt.answered_at - rt.handed) * 1000.0
        return (rt.first_poll - start) * 1000.0, rss, status, faults, rt.init_cpu, first_event
    finally:
        proc.kill()
        proc.wait()
        rt.close()


def newest_source(root):
    """The newest modification time of the code a function is built from (every tracked Rust
    file, manifest and the lock file): an arm64 bootstrap older than it is from older code."""
    listed = subprocess.run(["git", "ls-files", "*.rs", "*Cargo.toml", "Cargo.lock"], cwd=root,
                            capture_output=True, text=True).stdout.split()
    return max((root / f).stat().st_mtime for f in listed if (root / f).exists())


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


GOALS = {"POST /v1/challenges": 4, "TOTP login verify": 4, "email step-up verify": 4,
         "GET /v1/mfa": 3}


def flows_table(flows, hello_cpu):
    lines = ["| flow | AWS requests | DynamoDB requests (goal) | read / write units | "
             "warm latency, median ms | floor, median ms | x floor | overhead, ms | "
             "function CPU, median ms | CPU beyond the hello world, per AWS request, ms |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in flows:
        asked = ", ".join(f"{k} x{n}" if n > 1 else k for k, n in sorted(r["requests"].items()))
        calls = sum(r["requests"].values())
        lines.append(
            f"| {r['flow']} | {asked} | {r['dynamodb']} ({GOALS[r['flow']]}) | "
            f"{r['rru']:g} / {r['wru']:g} | {r['latency']:.2f} | {r['floor']:.2f} | "
            f"{r['ratio']:.2f} | {r['latency'] - r['floor']:+.2f} | {r['cpu']:.2f} | "
            f"{(r['cpu'] - hello_cpu) / calls:.2f} |")
    return "\n".join(lines)


def costs_table(flows):
    by = {r["flow"]: r for r in flows}
    signs = by["TOTP login verify"]["requests"].get("kms Sign", 0)
    kms_parts, kms_total = bench_flows.login_cost(flows, signs)
    local_parts, local_total = bench_flows.login_cost(flows, 0)
    lines = ["| per million TOTP logins, USD | signed by KMS (`ASSERTION_SIGNER=kms`, the "
             "default) | signed in process (`ASSERTION_SIGNER=local`) |", "|---|---|---|"]
    for part in kms_parts:
        lines.append(f"| {part} | {kms_parts[part]:.2f} | {local_parts[part]:.2f} |")
    lines.append(f"| **total** | **{kms_total:.2f}** | **{local_total:.2f}** |")
    return "\n".join(lines)


def main():
    bin_dir, report, svg = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 11
    names = list(FUNCTIONS)
    samples = {n: [] for n in names + [BASELINE]}
    statuses = {}
    started = time.time()
    for _ in range(rounds):
        for name in names:
            for who in (BASELINE, name):  # A B A B ...
                init, rss, status, faults, cpu, first = measure(bin_dir, who)
                samples[who].append((init, rss, faults, cpu, first))
                statuses[who] = status
    base_init = statistics.median(s[0] for s in samples[BASELINE])
    base_rss = statistics.median(s[1] for s in samples[BASELINE])
    base_faults = statistics.median(s[2] for s in samples[BASELINE])
    base_cpu = statistics.median(s[3] for s in samples[BASELINE])
    sam_build = Path(__file__).resolve().parent.parent / "infra/.aws-sam/build"
    source_time = newest_source(Path(__file__).resolve().parent.parent)
    rows = []
    for name in names:
        init = statistics.median(s[0] for s in samples[name])
        rss = statistics.median(s[1] for s in samples[name])
        arm = sam_build / TEMPLATE_NAMES[name] / "bootstrap"
        rows.append({
            "name": name, "init": init, "init_x": init / base_init,
            "faults": statistics.median(s[2] for s in samples[name]),
            "cpu": statistics.median(s[3] for s in samples[name]),
            "first": statistics.median(s[4] for s in samples[name]),
            "rss": rss / 1024,
            "rss_x": rss / base_rss, "status": statuses[name],
            "size": (bin_dir / name).stat().st_size / 1e6,
            "zip": zip_size(arm) / 1e6 if arm.exists() else None,
            # A bootstrap older than the code was built from older code.
            "zip_stale": arm.exists() and arm.stat().st_mtime < source_time,
        })
    # 25 samples left a flow's ratio moving by 0.1 between runs; 101 take about 40 s.
    samples_n = int(os.environ.get("BENCH_SAMPLES", "101"))
    flows, largest, hello_ms, hello_cpu = bench_flows.run(bin_dir, samples_n)
    latency_svg = svg.with_name("performance-latency.svg")
    bench_flows.chart(flows, latency_svg)
    took = time.time() - started
    lines = [
        "| function | init, median ms | x baseline | init CPU, median ms | x baseline | "
        "peak RSS, MB | x baseline | page faults | event answered | first event, median ms | "
        "binary (host), MB | arm64 zip, MB |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        f"| {BASELINE} (baseline) | {base_init:.2f} | 1.00 | {base_cpu:.2f} | 1.00 | "
        f"{base_rss / 1024:.1f} | 1.00 | {base_faults:.0f} | {statuses[BASELINE]} | "
        f"{statistics.median(s[4] for s in samples[BASELINE]):.2f} | "
        f"{(bin_dir / BASELINE).stat().st_size / 1e6:.2f} | |",
    ]
    for r in rows:
        zip_text = f"{r['zip']:.2f}" if r["zip"] is not None else "(run `make build-lambda`)"
        if r["zip_stale"]:
            zip_text += " (older build: run `make build-lambda`)"
        lines.append(
            f"| {r['name']} | {r['init']:.2f} | {r['init_x']:.2f} | {r['cpu']:.2f} | "
            f"{r['cpu'] / base_cpu:.2f} | "
            f"{r['rss']:.1f} | {r['rss_x']:.2f} | {r['faults']:.0f} | {r['status']} | "
            f"{r['first']:.2f} | {r['size']:.2f} | {zip_text} |")
    table = "\n".join(lines)
    print(table)
    flow_table = flows_table(flows, hello_cpu)
    print(flow_table)
    cost_table = costs_table(flows)
    print(cost_table)
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

Each function's release binary under a Lambda Runtime API on loopback, which takes every time
at its socket (a request's last byte in, an answer's first byte out), so none of its own
Python is inside a figure: init is process start to its first poll for an event; peak RSS is read after it answered one API Gateway v2 event of
a real route (the status it answered is shown; a 4xx still runs the whole handler). The
baseline `{BASELINE}` is a `lambda_http` hello world in the same release profile, as the
crate's examples write it (`#[tokio::main]`: a worker thread per core); the functions run on
one thread (see Levers). Ratios are of medians measured in the same run. Init CPU is the CPU
time all the process's threads had used when it first polled (`/proc/PID/task/*/schedstat`):
steadier than the wall clock on a shared 2-core machine. Page faults (minor, by then) are
mostly the binary's pages mapped in as its code first runs: most of the peak RSS is the binary
itself, so size, memory and init move together. First event is the rest of the cold start:
from the event's first byte out to the response's last byte in, with the emulators' answers in it (DynamoDB
Local is far slower than DynamoDB). The message clients (SES, SNS, voice) are built on first
use, so an event that sends something (step-up's is an email) pays for its client there, not in
init; a function's other clients are built in init. The AWS clients read no CA file (the Amazon Trust Services
roots are built in) and no profile file. Only `add-phone` parses phone numbers, so only it
links libphonenumber's metadata (rlibphonenumber with regex-lite: about 0.4 MB of the binary),
and it loads only the metadata of the country calling code a number has: its bench event parses
a number at the edge, before the step-up is checked, which costs about 0.2 MB of heap and
0.5 ms for one code, where loading every region cost about 5.5 MB and 4 ms. Arm64 zips are those `make build-lambda` (`sam build`) wrote, deflated as SAM
uploads them.

{table}

![median init per function against the baseline]({svg.name})

## Warm latency and round trips

{samples_n} samples of each flow, each with a user of its own (an email step-up and an
authenticator app enrolled through the same functions first). The functions run warm under the
Runtime API above, in two sets that alternate sample by sample: one talks to DynamoDB Local and
moto directly and gives the latency (the event's first byte out to the response's last byte
in, at the Runtime API's socket) and the CPU time (every thread of the function, user and
kernel, from the poll it was handed to until it polls again); the other talks to
them through a loopback proxy that names and times every AWS request, which gives the requests
per flow and the floor: the time the flow's own AWS calls took at the emulators, in the same
run. The proxy times each call at its socket to the emulator, from the first byte of the
request out to the last byte of the answer in (a new connection included: moto closes each
one, so the functions connect for every moto call too), with the request built before and the
answer parsed after. Its Python threads take the GIL back within 0.1 ms (the default is 5 ms,
longer than some whole flows). Until stop 32 the proxy timed calls with `http.client`, whose
parsing sat inside each interval: run against the same binaries, two runs each way at 101
samples, that floor was 0.12 to 0.2 ms a call higher, and the ratios it gave flattered the
functions by 0.1 to 0.28 (1.00 to 1.15, where this one gives 1.13 to 1.30). The overhead column is the difference
in ms. Here DynamoDB Local answers in a few ms, slower than DynamoDB, so the overhead in ms is
the figure to watch; under Lambda's CPU share at {bench_flows.MEMORY_MB} MB it grows several times.
Requests are the same in every sample (the bench checks
it). Request units are priced as on-demand DynamoDB bills them (a strongly consistent read of
an item up to 4 KB, found or not, is 1 read unit; a transactional write of an item up to 1 KB
is 2 write units, condition checks included); the largest item read or put was {largest} bytes.
Under the same harness the hello world answers a warm event in {hello_ms:.2f} ms and uses
{hello_cpu:.2f} ms of CPU (medians): the part of every overhead that is the harness and the
Lambda runtime, not the function. The last column spreads the rest of a flow's CPU over its AWS
requests: signing, sending and reading each, and the flow's own work. Until stop 33 the
Runtime API was Python's `http.server`, whose parsing of each response sat inside the latency:
about 0.03 ms (the hello world, 500 invocations each way, alternated: 0.216 -> 0.190 and
0.242 -> 0.208 ms).

{flow_table}

![median warm latency per flow next to its floor]({latency_svg.name})

`tests/api/round_trips.rs` holds the same counts in `make test` (through the dev gateway's
`GET /__dev/calls`), so a change that adds a round trip fails there.

## Cost per million TOTP logins

A TOTP login is `POST /v1/challenges` and its verify: two API Gateway requests, two Lambda
invocations (arm64, {bench_flows.MEMORY_MB} MB, billed for the warm latency measured above,
which is pessimistic: DynamoDB answers faster than DynamoDB Local), the DynamoDB request units
above and the assertion's signature. List prices, us-east-1, on-demand: DynamoDB
$0.625 per million write and $0.125 per million read units, KMS $0.15 per 10,000 asymmetric
`Sign` requests, Lambda $0.20 per million requests and $0.0000133334 per GB-second (arm64),
HTTP API $1.00 per million requests. Not counted: KMS keys ($1 a month each), the one
`Decrypt` per cold start of the data key and (in process) of the signing key ($0.03 per
10,000), logs.

{cost_table}

## Levers

Taken (each commit message has its before and after): one HTTPS client for every AWS client
(hyper 1, rustls with ring; no aws-lc-rs, no legacy hyper 0.14 stack); the five Amazon Trust
Services roots built in instead of reading the CA store at init; only the clients a function
uses; reads of one flow in one `BatchGetItem`, and no write that changes nothing; DEBUG and
TRACE callsites compiled out of release builds; `opt-level = "z"`; the in-process signer as an
option (`ASSERTION_SIGNER=local`); a stored phone number sealed with its line and country
code, so only enrolment parses one (libphonenumber and regex out of every other function);
the SDK configuration read from the Lambda environment instead of aws-config's default chain
(no STS, IMDS or profile parsing linked or run); `lambda_http` with only the HTTP API event;
a current-thread Tokio runtime (a Lambda environment takes one event at a time); the message
clients (SES, SNS, voice) built on first use, since building an SDK client parses its service's
endpoint partitions (each SDK crate parses its own copy and compiles a regex per partition,
about 0.7 M instructions a client by callgrind) and most requests send no message; one
RustCrypto generation (the one the SigV4 signer and webauthn-rs link); `lto = "fat"`, which
drops the code no function reaches across crate boundaries (about a fifth of each binary) for
about a minute of link per function; the optional clients (SNS, voice, the assertion signer)
chosen when a function is compiled (`Wiring`), so the six functions that never text link no SNS
or voice SDK (0.44 MB of each binary); rlibphonenumber instead of phonenumber 0.3 (add-phone's
first parse 130 ms and 11 MB to 4 ms and 5 MB, and a number with a digit too many is no longer
valid); then only the metadata of a number's country calling code, indexed at build time, and
for a code several regions share only its main region when the number is that region's
(add-phone's peak RSS 3.14x to 1.98x); responses handed to the Lambda runtime as built
(`mfa_http::Ready`), without `lambda_http`'s charset pass, which linked `encoding_rs` (about
190 KB of each binary, 0.13 MB of each zip); the step-up token budget read in the same `BatchGetItem` as the proof it rewards; an
HTTPS client of our own for the SDK (`mfa_aws::http1`: hyper-util's pool over rustls, HTTP/1.1
only), because the SDK's enables HTTP/2 whatever the endpoint speaks and so linked `h2` (225 KB
of code) into every function, while every AWS API these functions call speaks HTTP/1.1.

Where the peak RSS goes, read from `/proc/PID/pagemap` after verify answered its event (release
build before `h2` went): 5.0 MB of its 7.5 MB peak are pages of the binary
itself, and of those, `.text` is 97% resident (3.7 of 3.8 MB: the kernel maps the file in
around each fault, and the code that runs is spread over all of it), `.rela.dyn` is wholly
resident (437 KB, read by the loader to relocate a PIE) and so is `.data.rel.ro` (285 KB,
written by those relocations). So a function's RSS follows its code size nearly byte for byte.
The largest code not of our own in verify: `core` 335 KB, `aws_sdk_dynamodb` 226 KB, `h2`
225 KB, `rustls` 209 KB, `aws_smithy_runtime` 115 KB, `aws_sdk_kms` 103 KB.

Next, not yet done: a static musl build would allow RELR relocations (`.rela.dyn` from 437 KB
to a few KB, and no relocated `.data.rel.ro` pages) without Lambda's glibc, at the price of
musl's allocator; it changes the build and the runtime library of every function.

Looked at and left: a non-PIE binary would skip its ~49,000 relocations at load, but gives up
ASLR for the executable; RELR relocations need glibc 2.36 and Amazon Linux 2023 has 2.34;
`-C force-unwind-tables=no` (the functions abort on panic) was tried on the hello world's
arm64 build and shrank its `.eh_frame` by 1% (188 to 186 KB), and again on the functions'
arm64 build, where step-up's `.eh_frame` was still 977 KB of 6.9 MB, so it was not taken; building
DynamoDB and KMS clients on first use would only move their cost from init to the first
request, which every request makes, so they are built in init; the five Amazon roots are PEM,
which rustls decodes in constant time (about 0.3 M instructions per client at init), and the
SDK's TLS settings take no DER. Most of the init left is the kernel mapping the binary in
(page faults above), so it falls with size.

## Why the warm overhead stays

The CPU column above is where a flow's overhead comes from: about a millisecond per invocation,
of which the hello world's runtime loop is a quarter. `perf` with DWARF stacks on a warm
step-up over 150 email step-up verifies (stop 33) finds no hot spot to remove: the SDK's
orchestrator (serialising, endpoint rules, interceptors, SigV4, hyper) is about a third, the
kernel's loopback TCP a fifth (on loopback the sender's CPU also runs the receiver's side),
malloc and memmove a tenth, and the rest is spread over thousands of small functions. Two
levers were measured and not taken, each against the same binaries with the same harness,
alternated, 101 and 151 email step-up verifies: `opt-level = 2` for step-up took its CPU per
verify from 1.08 to 1.00 ms and its latency down by 0.1 ms, but its `.text` from 5.1 to 7.0 MB,
which the peak RSS follows page for page (past 2x the hello world); turning the SDK's
stalled-stream protection off (every attempt is bounded by its timeouts anyway) changed nothing
measurable (1.011 and 1.012 ms). An estimate, not a measurement: a hand-written signed JSON
client in place of the SDK would save at most the orchestrator's third of the CPU, which
leaves email step-up verify about 0.6 ms over a floor of about 4 ms (1.15x).
""")


if __name__ == "__main__":
    main()
