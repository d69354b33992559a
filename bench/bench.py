#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Postfix alone against Postfix + smtpy-milter (inet and unix), delivered throughput and latency.

Started by bench/run, which installs packages, builds the release binaries and creates the
scratch database; run that, not this file.

Method (DESIGN section 7): smtp-source -> private Postfix instance -> smtp-sink, all on
127.0.0.1, one message per SMTP session. Three instances run side by side (no milter, milter
over TCP, milter over a unix socket), each with its own milter process. Within a round every
configuration is measured in turn (the order rotates each round), rounds repeat, and the table
shows medians. The clock stops when smtp-sink has counted every message (delivered, not just
accepted). Ratios and differences are taken within a round, then the median is reported, so
slow drifts of the machine cancel out.
"""

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

REPO = os.environ.get("SMTPY_BENCH_REPO", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTANCE_SH = os.path.join(REPO, "postfix-config", "instance.sh")
CLK_TCK = os.sysconf("SC_CLK_TCK")

BENCH_DOMAIN = "bench.smtpy.test"
ALIAS = "alias@" + BENCH_DOMAIN
MAILBOX = "inbox@sink.smtpy.test"
OWNER = "owner@sink.smtpy.test"
SENDER = "sender@example.org"

GOAL_RATIO = 0.75  # with milter / Postfix alone, 1 KB, 20 sessions
GOAL_EXTRA_MS = 2.0  # single session, over TCP, on top of Postfix alone


def log(msg):
    print(f"==> {msg}", file=sys.stderr, flush=True)


def die(msg):
    print(f"bench: error: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, seconds, proc=None, what="service"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            die(f"{what} exited with status {proc.returncode} during start-up")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    die(f"{what} does not listen on 127.0.0.1:{port} after {seconds} s")


def machine_busy_ticks():
    """Non-idle CPU ticks of the whole machine (all cores), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields[:8]) - idle


def process_ticks(pid):
    """utime + stime of one process, in ticks."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except OSError:
        return 0


def ticks_by_pid(comm):
    """utime + stime of every process named comm, by pid (e.g. all Postgres backends)."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1:text.rindex(")")], text.rsplit(")", 1)[1].split()
        if name == comm:
            out[int(entry)] = int(rest[11]) + int(rest[12])
    return out


def ticks_since(before, comm):
    """Ticks used since `before` by processes named comm (new processes count from zero)."""
    return sum(t - before.get(pid, 0) for pid, t in ticks_by_pid(comm).items())


class Sink:
    """Postfix's smtp-sink with its running counter (-c) read from a pipe."""

    def __init__(self, port, logfile):
        self.port = port
        self.count = 0
        self.changed = threading.Condition()
        self.proc = subprocess.Popen(
            ["smtp-sink", "-c", "-u", "nobody", "-m", "1000", f"127.0.0.1:{port}", "1024"],
            stdout=subprocess.PIPE,
            stderr=open(logfile, "ab"),
            start_new_session=True,
        )
        threading.Thread(target=self._read, daemon=True).start()
        wait_port(port, 10, self.proc, "smtp-sink")

    def _read(self):
        # Each counter line ends in "\r"; only complete lines are parsed.
        pending = b""
        pattern = re.compile(rb"mesg=(\d+)$")
        while True:
            chunk = self.proc.stdout.read1(65536)
            if not chunk:
                return
            *lines, pending = (pending + chunk).split(b"\r")
            found = [int(m.group(1)) for m in map(pattern.search, lines) if m]
            if found:
                with self.changed:
                    self.count = max(self.count, found[-1])
                    self.changed.notify_all()

    def wait_for(self, target, stall_seconds):
        """Blocks until the counter reaches target; False if it stops moving for stall_seconds."""
        with self.changed:
            last, last_change = self.count, time.monotonic()
            while self.count < target:
                now = time.monotonic()
                if self.count != last:
                    last, last_change = self.count, now
                elif now - last_change >= stall_seconds:
                    return False
                # Woken by every counter line, including session ends that leave mesg alone.
                self.changed.wait(stall_seconds - (now - last_change))
        return True

    def stop(self):
        stop_process(self.proc)


def stop_process(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Bench:
    def __init__(self, args):
        self.args = args
        self.db_url = os.environ.get("SMTPY_BENCH_DB_URL") or die("SMTPY_BENCH_DB_URL is not set: start bench/run")
        self.bin_dir = os.environ.get("SMTPY_BENCH_BIN_DIR") or die("SMTPY_BENCH_BIN_DIR is not set: start bench/run")
        self.work = args.dir
        self.config = os.path.join(self.work, "smtpy.toml")
        self.milters = {}  # name -> Popen
        self.instances = {}  # name -> (dir, smtp port)
        self.sink = None
        self.expected_log_rows = 0

    # --- set-up ----------------------------------------------------------------------------
    def admin(self, *argv, stdin=None):
        cmd = [os.path.join(self.bin_dir, "smtpy-admin"), "--config", self.config, *argv]
        res = subprocess.run(cmd, input=stdin, capture_output=True, text=True)
        if res.returncode != 0:
            die(f"{' '.join(argv)} failed:\n{res.stderr.strip()}")
        return res.stdout

    def psql(self, sql):
        res = subprocess.run(["psql", "-X", "-At", self.db_url, "-c", sql], capture_output=True, text=True)
        if res.returncode != 0:
            die(f"psql failed: {res.stderr.strip()}")
        return res.stdout.strip()

    def setup(self):
        # Instances left over from an interrupted run would keep their ports and queues.
        if os.path.isdir(self.work):
            for name in os.listdir(self.work):
                inst = os.path.join(self.work, name)
                if os.path.isfile(os.path.join(inst, "etc", "main.cf")):
                    subprocess.run(["bash", INSTANCE_SH, "stop", inst], check=False)
            shutil.rmtree(self.work)
        os.makedirs(os.path.join(self.work, "log"))
        os.chmod(self.work, 0o755)
        with open(self.config, "w") as f:
            f.write(
                "# Written by bench/bench.py\n"
                f'[database]\nurl = "{self.db_url}"\n\n'
                f'[log]\nlevel = "{self.args.log_level}"\nformat = "text"\n'
            )
        log("migrating the scratch database and creating the bench alias")
        self.admin("migrate")
        self.admin("user", "add", "--email", OWNER, "--password-stdin", stdin="bench-password-not-secret\n")
        self.admin("domain", "add", BENCH_DOMAIN, "--owner", OWNER, "--verified")
        self.admin("mailbox", "add", MAILBOX, "--owner", OWNER, "--verified")
        self.admin("alias", "add", ALIAS, "--to", MAILBOX, "--mode", self.args.mode)

        sink_port = free_port()
        self.sink = Sink(sink_port, os.path.join(self.work, "log", "smtp-sink.log"))
        log(f"smtp-sink on 127.0.0.1:{sink_port}")

        inet_port = free_port()
        sock_dir = os.path.join(self.work, "milter-socket")
        os.makedirs(sock_dir)
        os.chmod(sock_dir, 0o755)
        unix_path = os.path.join(sock_dir, "milter.sock")
        self.start_milter("inet", f"inet:127.0.0.1:{inet_port}")
        self.start_milter("unix", f"unix:{unix_path}")
        wait_port(inet_port, 10, self.milters["inet"], "smtpy-milter (inet)")
        deadline = time.monotonic() + 10
        while not os.path.exists(unix_path):
            if time.monotonic() > deadline or self.milters["unix"].poll() is not None:
                die(f"smtpy-milter did not create {unix_path} (log: {self.work}/log/milter-unix.log)")
            time.sleep(0.05)

        for name, milter in [("alone", None), ("inet", f"inet:127.0.0.1:{inet_port}"), ("unix", f"unix:{unix_path}")]:
            inst = os.path.join(self.work, f"postfix-{name}")
            port = free_port()
            cmd = ["bash", INSTANCE_SH, "start", inst, "--smtp-port", str(port), "--sink-port", str(sink_port),
                   "--db-url", self.db_url]
            cmd += ["--milter", milter] if milter else ["--no-milter"]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                die(f"instance.sh start {name} failed:\n{res.stdout}{res.stderr}")
            self.instances[name] = (inst, port)
            wait_port(port, 10, None, f"Postfix instance {name}")
            log(f"Postfix {name:5} on 127.0.0.1:{port}" + (f" -> milter {milter}" if milter else ""))

    def start_milter(self, name, listen):
        metrics = free_port()
        env = dict(os.environ, SMTPY_MILTER_LISTEN=listen, SMTPY_MILTER_METRICS_LISTEN=f"127.0.0.1:{metrics}")
        logf = open(os.path.join(self.work, "log", f"milter-{name}.log"), "ab")
        # umask 0: Postfix's smtpd (user postfix) must be able to connect to the unix socket.
        self.milters[name] = subprocess.Popen(
            [os.path.join(self.bin_dir, "smtpy-milter"), "--config", self.config],
            env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=lambda: os.umask(0),
        )

    def teardown(self):
        for inst, _ in self.instances.values():
            subprocess.run(["bash", INSTANCE_SH, "stop", inst], check=False)
        for proc in self.milters.values():
            stop_process(proc)
        if self.sink:
            self.sink.stop()

    # --- one measurement -------------------------------------------------------------------
    def run_point(self, config, sessions, messages, size):
        inst, port = self.instances[config]
        milter = self.milters.get(config)
        base = self.sink.count
        cpu0, milter0 = machine_busy_ticks(), process_ticks(milter.pid) if milter else 0
        pg0 = ticks_by_pid("postgres")
        t0 = time.monotonic()
        res = subprocess.run(
            ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size), "-f", SENDER,
             "-t", ALIAS, f"127.0.0.1:{port}"],
            capture_output=True, text=True,
        )
        t_accepted = time.monotonic()
        if res.returncode != 0 or res.stderr.strip():
            die(f"smtp-source against {config} reported:\n{res.stderr.strip()[:2000]}\n"
                f"(Postfix log: {inst}/maillog, milter log: {self.work}/log/milter-{config}.log)")
        if not self.sink.wait_for(base + messages, 30):
            die(f"{config}: only {self.sink.count - base} of {messages} messages reached the sink; "
                f"nothing moved for 30 s (see {inst}/maillog)")
        t_delivered = time.monotonic()
        cpu = machine_busy_ticks() - cpu0
        pg_cpu = ticks_since(pg0, "postgres")
        milter_cpu = (process_ticks(milter.pid) - milter0) if milter else 0
        if config != "alone":
            self.expected_log_rows += messages
        ms_per_tick = 1000.0 / CLK_TCK
        return {
            "delivered_per_s": messages / (t_delivered - t0),
            "accepted_per_s": messages / (t_accepted - t0),
            "ms_per_msg": (t_accepted - t0) * 1000.0 / messages,
            "cpu_ms_per_msg": cpu * ms_per_tick / messages,
            "milter_cpu_ms_per_msg": milter_cpu * ms_per_tick / messages,
            "postgres_cpu_ms_per_msg": pg_cpu * ms_per_tick / messages,
        }

    def check_routing(self):
        """Each instance delivered to the sink, and the milter ones rewrote the recipient."""
        for config, (inst, _) in self.instances.items():
            want = ALIAS if config == "alone" else MAILBOX
            try:
                with open(os.path.join(inst, "maillog"), errors="replace") as f:
                    text = f.read()
            except OSError:
                text = ""
            if not re.search(rf"to=<{re.escape(want)}>.*status=sent", text):
                die(f"{config}: no 'to=<{want}> ... status=sent' in {inst}/maillog: "
                    "the mail did not take the expected route")

    # --- the experiment --------------------------------------------------------------------
    def main(self):
        a = self.args
        configs = ["alone", "inet", "unix"]
        self.background = background_load()
        if self.background > 0.10:
            log(f"warning: the machine is {self.background:.0%} busy before the bench starts; "
                "figures will be noisy (compare only within this run)")
        self.setup()
        log("warm-up (caches, connections) and routing check")
        for c in configs:
            self.run_point(c, min(20, a.messages), min(100, a.messages), 1024)
        self.check_routing()

        results = []  # one dict per measurement
        for r in range(a.rounds):
            order = configs[r % 3:] + configs[:r % 3]
            for size in a.sizes:
                for c in order:
                    m = self.run_point(c, 20, a.messages, size)
                    results.append(dict(m, round=r, config=c, sessions=20, size=size))
                    log(f"round {r + 1}/{a.rounds} {size // 1024:>2} KB x20 {c:5} "
                        f"{m['delivered_per_s']:7.1f} msg/s  cpu {m['cpu_ms_per_msg']:.2f} ms/msg")
            for c in order:
                m = self.run_point(c, 1, a.single, 1024)
                results.append(dict(m, round=r, config=c, sessions=1, size=1024))
                log(f"round {r + 1}/{a.rounds}  1 KB x1  {c:5} {m['ms_per_msg']:7.2f} ms/msg")

        # The milter's message log may be written behind; give it a moment to settle.
        rows = 0
        for _ in range(50):
            rows = int(self.psql("SELECT count(*) FROM messages") or 0)
            if rows >= self.expected_log_rows:
                break
            time.sleep(0.1)
        self.report(results, configs, rows)

    def report(self, results, configs, log_rows):
        a = self.args
        rounds = range(a.rounds)

        def pick(config, sessions, size, r=None):
            return [x for x in results if x["config"] == config and x["sessions"] == sessions
                    and x["size"] == size and (r is None or x["round"] == r)]

        def med(values):
            return statistics.median(values) if values else float("nan")

        out = []
        version = subprocess.run(["postconf", "-h", "-d", "mail_version"], capture_output=True, text=True).stdout.strip()
        out.append(f"SMTPy bench: Postfix {version}, {os.cpu_count()} cores, {platform.release()}, "
                   f"{a.rounds} round(s), medians; alias mode {a.mode}, milter log level {a.log_level}")
        out.append(f"background CPU load before the run: {self.background:.0%} of the machine")
        out.append(f"20 sessions, {a.messages} messages per point, one message per session, delivered to smtp-sink;")
        out.append("ratio = median over rounds of (msg/s with milter / Postfix alone in the same round);")
        out.append("cpu ms/msg: whole machine; milter, pg: the milter process, all Postgres processes")
        out.append(f"{'size':>6}  {'config':<14} {'msg/s':>7} {'min-max':>9} {'ratio':>6} {'cpu ms/msg':>10} {'milter':>6} {'pg':>5}  goal")
        for size in a.sizes:
            for c in configs:
                pts = pick(c, 20, size)
                ratio = med([pick(c, 20, size, r)[0]["delivered_per_s"] / pick("alone", 20, size, r)[0]["delivered_per_s"]
                             for r in rounds])
                goal = ""
                if c != "alone" and size == 1024:
                    goal = f">= {GOAL_RATIO:.2f} " + ("ok" if ratio >= GOAL_RATIO else "MISSED")
                milter_cpu = f"{med([p['milter_cpu_ms_per_msg'] for p in pts]):6.2f}" if c != "alone" else f"{'-':>6}"
                pg_cpu = f"{med([p['postgres_cpu_ms_per_msg'] for p in pts]):5.2f}"
                rates = [p["delivered_per_s"] for p in pts]
                out.append(f"{size // 1024:>3} KB  {label(c):<14} {med(rates):7.0f} "
                           f"{f'{min(rates):.0f}-{max(rates):.0f}':>9} {ratio:6.2f} {med([p['cpu_ms_per_msg'] for p in pts]):10.2f} {milter_cpu} {pg_cpu}  {goal}")
        out.append(f"1 session, {a.single} messages, 1 KB: SMTP transaction time per message (smtp-source wall time / messages)")
        out.append(f"{'':6}  {'config':<14} {'ms/msg':>7} {'+ms':>6}  goal")
        for c in configs:
            pts = pick(c, 1, 1024)
            diff = med([pick(c, 1, 1024, r)[0]["ms_per_msg"] - pick("alone", 1, 1024, r)[0]["ms_per_msg"] for r in rounds])
            goal = ""
            if c == "inet":
                goal = f"<= +{GOAL_EXTRA_MS:.1f} ms " + ("ok" if diff <= GOAL_EXTRA_MS else "MISSED")
            out.append(f"{'':6}  {label(c):<14} {med([p['ms_per_msg'] for p in pts]):7.2f} {diff:+6.2f}  {goal}")
        out.append(f"message-log rows written by the milter: {log_rows} (messages through a milter: {self.expected_log_rows})")
        report = "\n".join(out)
        print(report, flush=True)
        with open(os.path.join(self.work, "results.json"), "w") as f:
            json.dump({"args": vars(a), "results": results, "log_rows": log_rows,
                       "expected_log_rows": self.expected_log_rows, "report": report}, f, indent=1)
        log(f"raw results: {self.work}/results.json")


def background_load(seconds=1.0):
    """Fraction of the machine's CPU busy while we do nothing (other builds, tests, daemons)."""
    before, t0 = machine_busy_ticks(), time.monotonic()
    time.sleep(seconds)
    busy = (machine_busy_ticks() - before) / CLK_TCK
    return busy / ((time.monotonic() - t0) * (os.cpu_count() or 1))


def label(config):
    return {"alone": "Postfix alone", "inet": "milter inet", "unix": "milter unix"}[config]


def parse_args():
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1 round, 200 messages, 20 single-session")
    p.add_argument("--rounds", type=int, default=5, help="rounds, each measuring every configuration (default 5)")
    p.add_argument("--messages", type=int, default=3000, help="messages per 20-session point (default 3000)")
    p.add_argument("--single", type=int, default=300, help="messages for the single-session point (default 300)")
    p.add_argument("--sizes", default="1024,32768", help="payload sizes in bytes (default 1024,32768)")
    p.add_argument("--mode", default="privacy", choices=["privacy", "transparent"], help="alias mode")
    p.add_argument("--log-level", default="info", help="the milters' [log] level (default info)")
    p.add_argument("--dir", default=os.environ.get("SMTPY_BENCH_DIR", "/var/tmp/smtpy-bench"),
                   help="scratch directory, emptied first (default /var/tmp/smtpy-bench)")
    args = p.parse_args()
    if args.quick:
        args.rounds, args.messages, args.single = 1, 200, 20
    args.sizes = [int(s) for s in args.sizes.split(",")]
    if args.rounds < 1 or args.messages < 1 or args.single < 1:
        p.error("--rounds, --messages and --single must be at least 1")
    return args


def main():
    args = parse_args()
    if os.geteuid() != 0:
        die("run as root (bench/run)")
    bench = Bench(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        bench.main()
    finally:
        bench.teardown()


if __name__ == "__main__":
    main()
