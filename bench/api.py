#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Owner API requests per second: GET /api/v1/users/me with an API key, with a session, without credentials.

Started by bench/api, which installs packages, builds the release binaries and creates the
scratch database; run that, not this file.

Method: one `smtpy-admin serve` (release build, default configuration: as many workers as
cores, 8 database connections) on 127.0.0.1, Postgres on the same machine, and wrk as the
client, all sharing the machine's cores. Each point is wrk with N connections for D seconds
against one request:

- key:      GET /api/v1/users/me, Authorization: Bearer smtpy_sk_... (a `full` key)
- session:  GET /api/v1/users/me, Cookie: smtpy_session=... (a GET needs no CSRF token)
- none:     GET /api/v1/users/me without credentials: 401 `unauthorized`, answered before any
            database query (the same route, middleware and extractor, and a JSON error body)
- healthz:  GET /healthz: the floor, no authentication and no database at all

An authenticated GET /users/me is two queries: the credential lookup by SHA-256 hash (joined
with its user) and whether two-factor login is on. The key's `last_used_at` and the session's
`last_seen_at` are written at most once a minute, so not per request. Within a round every
point is measured in turn (the order rotates from round to round); the table shows medians over
rounds, and ratios to the unauthenticated request are taken within a round, then the median.
Before measuring, one request per point checks its status (200, 200, 401, 200), and during
each point wrk counts the responses with another status: any such for an authenticated point
fails the run. Also reported: CPU microseconds per request of the server process and of
Postgres (all its processes), from /proc, and the share of the machine other programs used
during each point.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request

from benchlib import die, free_port, log, machine_ticks, process_ticks

WORK = os.environ.get("SMTPY_BENCH_API_DIR", "/var/tmp/smtpy-bench-api")
BIN = os.environ.get("SMTPY_BENCH_API_BIN", "")
DB_URL = os.environ.get("SMTPY_BENCH_API_DB_URL", "")
CLK_TCK = os.sysconf("SC_CLK_TCK")

EMAIL = "bench@bench.smtpy.test"
PASSWORD = "bench-password-" + os.urandom(9).hex()
POINTS = ["key", "session", "none", "healthz"]
LABELS = {
    "key": "API key",
    "session": "session cookie",
    "none": "no credentials (401)",
    "healthz": "GET /healthz (floor)",
}
EXPECTED_STATUS = {"key": 200, "session": 200, "none": 401, "healthz": 200}

# wrk prints its own summary; this adds one line of JSON with what the report needs.
WRK_LUA = """
done = function(summary, latency, requests)
  io.write(string.format(
    'RESULT {"requests": %d, "duration_us": %d, "status_errors": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p90_us": %d, "p99_us": %d, "mean_us": %.1f, "max_us": %d}\\n',
    summary.requests, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.mean, latency.max))
end
"""


def parse_args():
    p = argparse.ArgumentParser(
        prog="bench/api",
        description="Requests per second of GET /api/v1/users/me with an API key, a session and no credentials.",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds; each measures every point (default 3)")
    p.add_argument("--duration", type=int, default=10, help="seconds per point (default 10)")
    p.add_argument("--connections", type=int, default=16, help="wrk connections (default 16)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (default 2)")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 round, 3 s per point")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.duration = 1, 3
    if args.rounds < 1 or args.duration < 1 or args.connections < 1 or args.threads < 1:
        p.error("--rounds, --duration, --connections and --threads must be positive")
    args.threads = min(args.threads, args.connections)
    return args


def clean_env():
    """The environment without SMTPY_* overrides: only the bench's configuration file counts."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SMTPY_")}


def admin(config, *args, stdin=None):
    subprocess.run([BIN, "--config", config, *args], input=stdin, text=True, check=True,
                   env=clean_env(), stdout=subprocess.DEVNULL)


def write_config(port, relay_port):
    path = os.path.join(WORK, "smtpy.toml")
    with open(path, "w") as f:
        f.write(f"""# Written by bench/api.
[database]
url = "{DB_URL}"

[api]
listen = "127.0.0.1:{port}"
public_url = "http://127.0.0.1:{port}"

[smtp]
# Nothing listens here: the sign-in alert of the one login is queued and its failure logged.
relay = "127.0.0.1:{relay_port}"

[secrets]
key_file = "{WORK}/secret.key"

[srs]
secret_file = "{WORK}/srs.secret"

[log]
level = "info"
""")
    os.chmod(path, 0o600)
    return path


def http(method, url, headers=None, body=None):
    """(status, headers, body) of one request; an HTTP error status is an answer, not an exception."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def wait_ready(base, server):
    for _ in range(300):
        if server.poll() is not None:
            die(f"smtpy-admin serve exited with {server.returncode}; see {WORK}/serve.log")
        try:
            if http("GET", base + "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    die("smtpy-admin serve did not answer /healthz within 30 s")


def credentials(base):
    """A login session (cookie) and an API key made with it."""
    status, headers, body = http("POST", base + "/api/v1/auth/login", body={"email": EMAIL, "password": PASSWORD})
    if status != 200:
        die(f"login answered {status}: {body[:300]!r}")
    csrf = json.loads(body)["csrf_token"]
    session = None
    for cookie in headers.get_all("Set-Cookie") or []:
        name, _, rest = cookie.partition("=")
        if name.strip() == "smtpy_session":
            session = rest.split(";", 1)[0]
    if not session:
        die("login set no smtpy_session cookie")
    status, _, body = http("POST", base + "/api/v1/users/api-keys",
                           headers={"Cookie": f"smtpy_session={session}", "X-CSRF-Token": csrf},
                           body={"name": "bench", "scope": "full"})
    if status != 201:
        die(f"creating the API key answered {status}: {body[:300]!r}")
    return session, json.loads(body)["key"]


def pids_of(name):
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def measure(point, url, headers, args, server_pid):
    lua = os.path.join(WORK, "report.lua")
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.duration}s", "--latency", "-s", lua]
    for h in headers:
        cmd += ["-H", h]
    cmd.append(url)
    pg = pids_of("postgres")
    children = os.times()
    before = (process_ticks(server_pid), sum(process_ticks(p) for p in pg), machine_ticks())
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out, _ = proc.communicate()
    after = (process_ticks(server_pid), sum(process_ticks(p) for p in pids_of("postgres")), machine_ticks())
    # wrk has been waited for, so its CPU time is in the children's times now.
    done = os.times()
    wrk = (done.children_user + done.children_system - children.children_user - children.children_system) * CLK_TCK
    if proc.returncode != 0:
        die(f"wrk failed for {point}:\n{out}")
    line = next((l for l in out.splitlines() if l.startswith("RESULT ")), None)
    if line is None:
        die(f"wrk printed no result for {point}:\n{out}")
    r = json.loads(line[len("RESULT "):])
    if r["requests"] == 0:
        die(f"{point}: no request completed")
    if point != "none" and r["status_errors"]:
        die(f"{point}: {r['status_errors']} of {r['requests']} responses were not 2xx/3xx")
    if point == "none" and r["status_errors"] != r["requests"]:
        die(f"none: {r['requests'] - r['status_errors']} requests without credentials were not refused")
    if r["socket_errors"]:
        die(f"{point}: {r['socket_errors']} socket errors (connect, read, write or timeout)")
    secs = r["duration_us"] / 1e6
    busy = after[2][0] - before[2][0]
    total = after[2][1] - before[2][1]
    server = after[0] - before[0]
    postgres = after[1] - before[1]
    r.update(
        rps=r["requests"] / secs,
        server_cpu_us=server / CLK_TCK * 1e6 / r["requests"],
        postgres_cpu_us=postgres / CLK_TCK * 1e6 / r["requests"],
        machine_busy=busy / total if total else 0.0,
        wrk_share=wrk / total if total else 0.0,
        server_share=server / total if total else 0.0,
        postgres_share=postgres / total if total else 0.0,
    )
    return r


def main():
    args = parse_args()
    if not BIN or not DB_URL:
        die("run bench/api, not this file: it builds the binaries and creates the database")
    os.makedirs(WORK, exist_ok=True)
    with open(os.path.join(WORK, "report.lua"), "w") as f:
        f.write(WRK_LUA)
    port, relay_port = free_port(), free_port()
    config = write_config(port, relay_port)
    base = f"http://127.0.0.1:{port}"

    log("smtpy-admin migrate; one account")
    admin(config, "migrate")
    admin(config, "user", "add", "--email", EMAIL, "--password-stdin", stdin=PASSWORD + "\n")

    load_before = loadavg()
    log(f"smtpy-admin serve on {base} (log: {WORK}/serve.log)")
    with open(os.path.join(WORK, "serve.log"), "w") as serve_log:
        server = subprocess.Popen([BIN, "--config", config, "serve"], stdout=serve_log, stderr=subprocess.STDOUT,
                                  env=clean_env())
    try:
        wait_ready(base, server)
        session, key = credentials(base)
        me = base + "/api/v1/users/me"
        targets = {
            "key": (me, [f"Authorization: Bearer {key}"]),
            "session": (me, [f"Cookie: smtpy_session={session}"]),
            "none": (me, []),
            "healthz": (base + "/healthz", []),
        }
        for point, (url, headers) in targets.items():
            status = http("GET", url, headers=dict(h.split(": ", 1) for h in headers))[0]
            if status != EXPECTED_STATUS[point]:
                die(f"{point}: GET {url} answered {status}, expected {EXPECTED_STATUS[point]}")
        log("warm-up: 2 s per point")
        warm = argparse.Namespace(**{**vars(args), "duration": 2})
        for point in POINTS:
            measure(point, *targets[point], warm, server.pid)

        rounds = []
        for i in range(args.rounds):
            order = POINTS[i % len(POINTS):] + POINTS[:i % len(POINTS)]
            results = {}
            for point in order:
                log(f"round {i + 1}/{args.rounds}: {LABELS[point]} ({args.duration} s, {args.connections} connections)")
                results[point] = measure(point, *targets[point], args, server.pid)
            rounds.append(results)
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()

    report(args, rounds, load_before)


def median(values):
    return statistics.median(values)


def report(args, rounds, load_before):
    nproc = os.cpu_count()
    summary = {}
    for point in POINTS:
        rs = [r[point] for r in rounds]
        summary[point] = {
            "rps": median([r["rps"] for r in rs]),
            "ratio_to_none": median([r["rps"] / rr["none"]["rps"] for r, rr in zip(rs, rounds)]),
            "p50_ms": median([r["p50_us"] for r in rs]) / 1000,
            "p99_ms": median([r["p99_us"] for r in rs]) / 1000,
            "server_cpu_us": median([r["server_cpu_us"] for r in rs]),
            "postgres_cpu_us": median([r["postgres_cpu_us"] for r in rs]),
            "wrk_share": median([r["wrk_share"] for r in rs]),
            "others_share": median(
                [max(0.0, r["machine_busy"] - r["server_share"] - r["postgres_share"] - r["wrk_share"]) for r in rs]
            ),
        }
    print()
    print(f"GET /api/v1/users/me, {args.connections} connections, {args.duration} s per point, "
          f"{args.rounds} round(s), medians; {nproc} cores, load average {load_before} before the run")
    print()
    print("| request | req/s | vs no credentials | p50 ms | p99 ms | server CPU µs/req | Postgres CPU µs/req |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for point in POINTS:
        s = summary[point]
        print(f"| {LABELS[point]} | {s['rps']:.0f} | {s['ratio_to_none']:.2f} | {s['p50_ms']:.2f} | "
              f"{s['p99_ms']:.2f} | {s['server_cpu_us']:.0f} | {s['postgres_cpu_us']:.0f} |")
    print()
    print("Share of the machine used by wrk, per point: "
          + ", ".join(f"{LABELS[p]} {summary[p]['wrk_share'] * 100:.0f}%" for p in POINTS))
    print("Share used by other programs (not the server, Postgres or wrk: builds, tests), per point: "
          + ", ".join(f"{LABELS[p]} {summary[p]['others_share'] * 100:.0f}%" for p in POINTS))
    if any(summary[p]["others_share"] > 0.10 for p in POINTS):
        print("warning: other programs used more than 10% of the machine: compare only within one quiet run")
    results = {"args": vars(args), "load_before": load_before, "cores": nproc, "summary": summary, "rounds": rounds}
    with open(os.path.join(WORK, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"\nRaw figures: {WORK}/results.json")


if __name__ == "__main__":
    main()
