#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Postfix alone against Postfix + smtpy-milter (inet and unix, signing and not), delivered throughput and latency.

Started by bench/run, which installs packages, builds the release binaries and creates the
scratch database; run that, not this file.

Method (DESIGN section 7): smtp-source -> private Postfix instance -> smtp-sink, all on
127.0.0.1, one message per SMTP session. Three instances run side by side (no milter, milter
over TCP, milter over a unix socket), each with its own milter process. Two alias domains:
bench.smtpy.test has a DKIM key (made with `smtpy-admin domain dkim generate`), so every
forward to it is DKIM-signed and ARC-sealed (three RSA-2048 signatures); plain.smtpy.test has
none, so forwards to it are only checked (SPF/DKIM/ARC/DMARC), not signed. A private dnsmasq on
127.0.0.1 serves the sender's SPF and DMARC and the bench domain's DKIM record, and is the
milters' only name server (never the system resolver). Before measuring, one probe message per
configuration is captured and checked: the signed ones must verify with dkimpy (DKIM and ARC)
through that dnsmasq.

With signing on, two reference instances run beside them, each over a unix socket: the floor
(milter/examples/floor.rs, the cheapest milter that leaves Postfix a signed forward's work) and
Debian's OpenDKIM signing each message once with a key of its own (selector odkim, served by the
bench DNS; its probe must verify with dkimpy too), the peer the signing goal is stated against.

Within a round every configuration is measured in turn (the order rotates each round), rounds
repeat, and the table shows medians. The clock stops when smtp-sink has counted every message
(delivered, not just accepted). Ratios and differences are taken within a round, then the
median is reported, so slow drifts of the machine cancel out.
"""

import argparse
import base64
import ipaddress
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
import urllib.parse

from benchlib import die, free_port, log, machine_ticks, process_ticks

REPO = os.environ.get("SMTPY_BENCH_REPO", os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INSTANCE_SH = os.path.join(REPO, "postfix-config", "instance.sh")
CLK_TCK = os.sysconf("SC_CLK_TCK")

DNSMASQ = "/usr/sbin/dnsmasq"  # Debian package dnsmasq-base
DNS_TTL = 300  # seconds, for every record the bench DNS serves
OPENDKIM = "/usr/sbin/opendkim"  # Debian package opendkim
OPENDKIM_SELECTOR = "odkim"  # OpenDKIM's own RSA-2048 key in the bench domain

BENCH_DOMAIN = "bench.smtpy.test"  # has a DKIM key: forwards are DKIM-signed and ARC-sealed
PLAIN_DOMAIN = "plain.smtpy.test"  # no key: forwards are checked but not signed
SELECTOR = "bench"
MAILBOX = "inbox@sink.smtpy.test"
OWNER = "owner@sink.smtpy.test"
SENDER_DOMAIN = "example.org"
SENDER = "sender@" + SENDER_DOMAIN
SENDER_SPF = "v=spf1 ip4:127.0.0.1 -all"
SENDER_DMARC = "v=DMARC1; p=none"

# Configurations: name -> (Postfix instance, recipient, signs?). The milter instances serve
# both alias domains; whether a forward is signed depends only on the domain having a key.
CONFIGS = {
    "alone": ("alone", "alias@" + BENCH_DOMAIN, False),
    "inet+sign": ("inet", "alias@" + BENCH_DOMAIN, True),
    "unix+sign": ("unix", "alias@" + BENCH_DOMAIN, True),
    # The reference point (milter/examples/floor.rs): three RSA signatures and a forward's edits,
    # nothing else; its own instance, over a unix socket. Measured whenever signing is.
    "floor": ("floor", "alias@" + BENCH_DOMAIN, True),
    # The peer the goal is stated against: Debian's OpenDKIM signing each message once (RSA-2048,
    # relaxed/relaxed, its default header list) over a unix socket, its better transport.
    # Nothing else: no checks, no forward (the recipient stays the alias).
    "opendkim": ("opendkim", "alias@" + BENCH_DOMAIN, True),
    "inet": ("inet", "alias@" + PLAIN_DOMAIN, False),
    "unix": ("unix", "alias@" + PLAIN_DOMAIN, False),
}
# Configurations whose messages pass no smtpy-milter: no message-log rows, no DNS queries.
UNLOGGED = ("alone", "floor", "opendkim")
# Configurations that forward nothing: the recipient stays the alias, no Authentication-Results.
UNFORWARDED = ("alone", "opendkim")
LABELS = {
    "alone": "Postfix alone",
    "inet+sign": "milter+sign inet",
    "unix+sign": "milter+sign unix",
    "floor": "floor (reference)",
    "opendkim": "OpenDKIM unix",
    "inet": "milter inet",
    "unix": "milter unix",
}

GOAL_SIGN_RATIO = 0.60  # milter with DKIM + ARC signing / Postfix alone, 1 KB, 20 sessions
GOAL_PLAIN_RATIO = 0.75  # the earlier goal without signing (before the authentication checks)
GOAL_EXTRA_MS = 2.0  # single session, over TCP (signing on), on top of Postfix alone
SINGLE_SIZES = (1024, 32768)  # single-session points; 32 KB shows TCP stalls on multi-segment bodies
STALL_MS = 10.0  # a single-session message this much slower than Postfix alone waited on a timer


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


# Process names that belong to the measurement: the load generator and sink, Postfix's daemons,
# the milters, Postgres, the bench DNS and this script. Everything else running during a point
# is another program's load (builds, tests) and makes the figures noisy.
BENCH_COMMS = {
    "smtp-source", "smtp-sink", "master", "smtpd", "cleanup", "qmgr", "smtp", "trivial-rewrite",
    "anvil", "scache", "proxymap", "tlsmgr", "bounce", "pickup", "showq", "postlogd", "postdrop",
    "smtpy-milter", "floor", "opendkim", "postgres", "dnsmasq", "python3",
}


def ticks_by_comm():
    """utime + stime of every process, by pid, with its name: {pid: (comm, ticks)}."""
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
        out[int(entry)] = (name, int(rest[11]) + int(rest[12]))
    return out


def proc_stat(pid):
    """(ppid, utime + stime, cutime + cstime) of one process, in ticks; None if it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(rest[1]), int(rest[11]) + int(rest[12]), int(rest[13]) + int(rest[14])


def instance_ticks(inst):
    """CPU ticks used so far by one Postfix instance: its master (with the children it has
    reaped) plus the children still running. Between two readings the difference is what the
    instance used, whatever else the machine runs (a child alive at the first reading and gone
    by the second is counted whole in the master's reaped time, minus what the first reading
    had already counted)."""
    try:
        with open(os.path.join(inst, "spool", "pid", "master.pid")) as f:
            master = int(f.read().strip())
    except (OSError, ValueError):
        return 0
    stat = proc_stat(master)
    if stat is None:
        return 0
    total = stat[1] + stat[2]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            child = proc_stat(int(entry))
            if child is not None and child[0] == master:
                total += child[1]
    return total


def db_backend_ticks(dbname):
    """CPU ticks of the Postgres backends connected to `dbname` (their process title names the
    database), so other databases' work on the same cluster (tests, builds) is not counted."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                title = f.read().decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {dbname} " in title:
            stat = proc_stat(int(entry))
            total += stat[1] if stat else 0
    return total


def ticks_delta(before, after, names, inside=True):
    """Ticks used between two ticks_by_comm() snapshots by processes whose name is (inside=False:
    is not) in names. Processes new in `after` count from zero; those gone by then are missed."""
    return sum(t - (before[pid][1] if pid in before else 0) for pid, (n, t) in after.items()
               if (n in names) == inside)


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


def dns_quote(value):
    """A TXT value as one quoted dnsmasq string (inside quotes only \\ and \" need escaping)."""
    if any(not (" " <= c <= "~") for c in value):
        die(f"TXT value {value[:40]!r}... is not printable ASCII")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_zone_lines(text):
    """The TXT records of a zone-file fragment as `smtpy-admin domain dkim show` prints it:
    lines `NAME. IN TXT "part" "part"`, the parts joined (RFC 6376 3.6.2.2). ';' starts comments."""
    records = []
    for line in text.splitlines():
        m = re.match(r'^(\S+?)\.?\s+IN\s+TXT\s+(".*")\s*$', line)
        if m:
            parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
            records.append((m.group(1), "".join(re.sub(r"\\(.)", r"\1", x) for x in parts)))
    return records


class Dns:
    """A private dnsmasq on 127.0.0.1 (UDP and TCP) answering only the given TXT records; every
    other name is NXDOMAIN at once (local=/#/), nothing is forwarded anywhere. Its whole
    configuration comes from stdin: no /etc/dnsmasq.conf, /etc/hosts or resolv.conf."""

    def __init__(self, port, records, logfile, log_queries=False):
        self.records = records
        # local-ttl: dnsmasq serves its own records with TTL 0 unless told otherwise, which would
        # defeat the milter's DNS cache and resemble no real zone.
        config = f"local=/#/\nlocal-ttl={DNS_TTL}\n" + "".join(f"txt-record={name},{dns_quote(value)}\n" for name, value in records)
        for line in config.splitlines():
            if len(line) > 1000:  # dnsmasq's line buffer (see e2e/src/dns.rs)
                die(f"dnsmasq cannot take a configuration line of {len(line)} bytes: {line[:60]}...")
        self.logfile = logfile
        self.port = port
        log_offset = os.path.getsize(logfile) if os.path.exists(logfile) else 0
        self.proc = subprocess.Popen(
            [DNSMASQ, "--keep-in-foreground", "--conf-file=-", "--no-resolv", "--no-hosts", "--no-poll",
             f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
             # No pid file, no cache (every answer comes from the configuration), log to stderr.
             "--pid-file", "--cache-size=0", "--log-facility=-"] + (["--log-queries"] if log_queries else []),
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=open(logfile, "ab"), start_new_session=True,
        )
        self.proc.stdin.write(config.encode())
        self.proc.stdin.close()
        deadline = time.monotonic() + 10
        while not self.answers():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                with open(logfile, errors="replace") as f:
                    f.seek(log_offset)
                    self.startup_error = f.read().strip()
                stop_process(self.proc)
                self.proc = None
                return
            time.sleep(0.05)
        self.startup_error = None

    QUERY = b"\x5e\x7d\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x05ready\x07invalid\x00\x00\x01\x00\x01"

    def answers(self):
        """Whether a query for ready.invalid gets a response over UDP within a moment."""
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(0.2)
            try:
                s.sendto(self.QUERY, ("127.0.0.1", self.port))
                reply = s.recv(512)
            except OSError:
                return False
        return len(reply) >= 12 and reply[:2] == self.QUERY[:2] and reply[2] & 0x80 != 0

    def resolver(self):
        import dns.resolver  # Debian python3-dnspython

        r = dns.resolver.Resolver(configure=False)  # never /etc/resolv.conf
        r.nameservers, r.port, r.lifetime = ["127.0.0.1"], self.port, 2.0
        return r

    def txt(self, name):
        """The TXT value(s) of name as served (parts joined), [] for NXDOMAIN or no data."""
        import dns.resolver

        try:
            answer = self.resolver().resolve(name, "TXT")
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            return []
        return [b"".join(rr.strings).decode() for rr in answer]

    def check(self):
        """Every declared record is served as declared, and an unknown name is NXDOMAIN."""
        for name, value in self.records:
            got = self.txt(name)
            if got != [value]:
                die(f"the bench DNS serves {got!r} for {name} TXT, not {value!r} (log: {self.logfile})")
        if self.txt("not-declared." + SENDER_DOMAIN):
            die("the bench DNS answers a name it does not declare")

    def stats(self):
        """dnsmasq's counters (queries answered locally, forwarded), logged on SIGUSR1."""
        if self.proc is None or self.proc.poll() is not None:
            return None
        before = os.path.getsize(self.logfile)
        self.proc.send_signal(signal.SIGUSR1)
        pattern = re.compile(r"queries forwarded (\d+), queries answered locally (\d+)")
        for _ in range(50):
            time.sleep(0.05)
            with open(self.logfile, errors="replace") as f:
                f.seek(before)
                m = pattern.search(f.read())
            if m:
                return {"forwarded": int(m.group(1)), "answered": int(m.group(2))}
        return None

    def stop(self):
        if self.proc is not None:
            stop_process(self.proc)


class Capture:
    """A minimal SMTP server that keeps what it receives: it stands in for smtp-sink on the
    sink port while one probe message per configuration goes through, so the headers the
    milter added (DKIM-Signature, ARC set, Authentication-Results) can be checked."""

    def __init__(self, port):
        self.messages = []  # (recipients, raw message bytes)
        self.changed = threading.Condition()
        self.server = socket.create_server(("127.0.0.1", port), reuse_port=False)
        self.server.settimeout(0.2)
        self.stopping = False
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping:
            try:
                conn, _ = self.server.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        f = conn.makefile("rb")

        def say(text):
            conn.sendall(text.encode() + b"\r\n")

        try:
            say("220 bench-capture ESMTP")
            rcpts = []
            while True:
                line = f.readline()
                if not line:
                    return
                verb = line.strip().split(b" ", 1)[0].split(b":", 1)[0].upper()
                if verb in (b"EHLO", b"HELO"):
                    say("250 bench-capture")
                elif verb == b"MAIL":
                    rcpts = []
                    say("250 ok")
                elif verb == b"RCPT":
                    m = re.search(rb"<([^>]*)>", line)
                    rcpts.append(m.group(1).decode() if m else "")
                    say("250 ok")
                elif verb == b"DATA":
                    say("354 go ahead")
                    data = []
                    while True:
                        l = f.readline()
                        if not l or l.rstrip(b"\r\n") == b".":
                            break
                        data.append(l[1:] if l.startswith(b"..") else l)
                    with self.changed:
                        self.messages.append((rcpts, b"".join(data)))
                        self.changed.notify_all()
                    say("250 ok captured")
                elif verb == b"QUIT":
                    say("221 bye")
                    return
                else:  # RSET, NOOP, ...
                    say("250 ok")
        except OSError:
            pass
        finally:
            conn.close()

    def wait_for(self, count, seconds):
        deadline = time.monotonic() + seconds
        with self.changed:
            while len(self.messages) < count and time.monotonic() < deadline:
                self.changed.wait(deadline - time.monotonic())
            return list(self.messages)

    def stop(self):
        self.stopping = True
        self.server.close()
        for conn in self.conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.thread.join(2)


class Bench:
    def __init__(self, args):
        self.args = args
        self.db_url = os.environ.get("SMTPY_BENCH_DB_URL") or die("SMTPY_BENCH_DB_URL is not set: start bench/run")
        self.db_name = urllib.parse.urlparse(self.db_url).path.lstrip("/")
        self.bin_dir = os.environ.get("SMTPY_BENCH_BIN_DIR") or die("SMTPY_BENCH_BIN_DIR is not set: start bench/run")
        self.work = args.dir
        self.config = os.path.join(self.work, "smtpy.toml")
        self.opendkim_dir = os.path.join(self.work, "opendkim")  # OpenDKIM's key and configuration
        self.configs = [c for c in CONFIGS if c == "alone" or args.signing == "both"
                        or (CONFIGS[c][2] == (args.signing == "on"))]
        self.milters = {}  # name -> Popen
        self.map_sockets = {}  # name -> the milter's socketmap (Postfix's relay_domains)
        self.instances = {}  # name -> (dir, smtp port)
        self.sink = None
        self.dns = None
        self.dns_records = []
        self.probes = {}  # config -> one-line summary of the probe message's check
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

    def write_config(self, dns_port):
        # The milters resolve only through the bench dnsmasq: an empty [dns] nameservers would
        # mean the system resolver, which must never be queried from here. The environment
        # variable (which would win over the file) is pinned to the same value for every child.
        nameserver = f"127.0.0.1:{dns_port}"
        assert ipaddress.ip_address(nameserver.rsplit(":", 1)[0]).is_loopback
        os.environ["SMTPY_DNS_NAMESERVERS"] = nameserver
        with open(self.config, "w") as f:
            f.write(
                "# Written by bench/bench.py\n"
                f'[database]\nurl = "{self.db_url}"\n\n'
                f'[dns]\nnameservers = ["{nameserver}"]\n\n'
                f'[log]\nlevel = "{self.args.log_level}"\nformat = "text"\n'
            )

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
        dns_port = free_port()
        self.write_config(dns_port)
        log("migrating the scratch database and creating the bench aliases")
        self.admin("migrate")
        self.admin("user", "add", "--email", OWNER, "--password-stdin", stdin="bench-password-not-secret\n")
        self.admin("mailbox", "add", MAILBOX, "--owner", OWNER, "--verified")
        for domain in (BENCH_DOMAIN, PLAIN_DOMAIN):
            self.admin("domain", "add", domain, "--owner", OWNER, "--verified")
            self.admin("alias", "add", "alias@" + domain, "--to", MAILBOX, "--mode", self.args.mode)
        self.dns_records = [(SENDER_DOMAIN, SENDER_SPF), ("_dmarc." + SENDER_DOMAIN, SENDER_DMARC)]
        if any(CONFIGS[c][2] for c in self.configs):
            log(f"smtpy-admin domain dkim generate {BENCH_DOMAIN} --selector {SELECTOR}")
            generated = parse_zone_lines(self.admin("domain", "dkim", "generate", BENCH_DOMAIN, "--selector", SELECTOR))
            shown = parse_zone_lines(self.admin("domain", "dkim", "show", BENCH_DOMAIN))
            if not generated or sorted(generated) != sorted(shown):
                die(f"dkim generate printed {generated!r} but dkim show prints {shown!r}")
            self.dns_records += shown
        if "opendkim" in self.configs:
            self.dns_records.append(self.opendkim_key())
        if self.psql(f"SELECT count(*) FROM dkim_keys k JOIN domains d ON d.id = k.domain_id "
                     f"WHERE d.name = '{PLAIN_DOMAIN}'") != "0":
            die(f"{PLAIN_DOMAIN} must have no DKIM key")

        # The port was free a moment ago; UDP, or another program, may hold it by now.
        for attempt in range(3):
            self.dns = Dns(dns_port, self.dns_records, os.path.join(self.work, "log", "dnsmasq.log"),
                           self.args.dns_log)
            if self.dns.proc is not None:
                break
            if "Address already in use" not in (self.dns.startup_error or "") or attempt == 2:
                die(f"dnsmasq did not start:\n{self.dns.startup_error}")
            dns_port = free_port()
            self.write_config(dns_port)
        self.dns.check()
        log(f"dnsmasq on 127.0.0.1:{dns_port} (UDP+TCP): " + ", ".join(n for n, _ in self.dns_records)
            + "; everything else NXDOMAIN")

        # The sink port first takes a capturing server for the probe messages, then smtp-sink.
        sink_port = free_port()
        capture = Capture(sink_port)

        inet_port = free_port()
        sock_dir = os.path.join(self.work, "milter-socket")
        os.makedirs(sock_dir)
        os.chmod(sock_dir, 0o755)
        unix_path = os.path.join(sock_dir, "milter.sock")
        self.start_milter("inet", f"inet:127.0.0.1:{inet_port}")
        self.start_milter("unix", f"unix:{unix_path}")
        wait_port(inet_port, 10, self.milters["inet"], "smtpy-milter (inet)")
        self.wait_socket("unix", unix_path, 10)

        instances = [("alone", None), ("inet", f"inet:127.0.0.1:{inet_port}"), ("unix", f"unix:{unix_path}")]
        if "floor" in self.configs:
            floor_path = os.path.join(sock_dir, "floor.sock")
            self.spawn_milter("floor", [os.path.join(self.bin_dir, "examples", "floor"), f"unix:{floor_path}", MAILBOX])
            self.wait_socket("floor", floor_path, 30)  # it generates its RSA key first
            instances.append(("floor", f"unix:{floor_path}"))
        if "opendkim" in self.configs:
            odk_path = os.path.join(sock_dir, "opendkim.sock")
            self.spawn_milter("opendkim", [OPENDKIM, "-f", "-x", self.opendkim_conf(odk_path)])
            self.wait_socket("opendkim", odk_path, 30)
            instances.append(("opendkim", f"unix:{odk_path}"))
        for name, milter in instances:
            inst = os.path.join(self.work, f"postfix-{name}")
            port = free_port()
            cmd = ["bash", INSTANCE_SH, "start", inst, "--smtp-port", str(port), "--sink-port", str(sink_port),
                   ] + (["--socketmap", self.map_sockets[name]] if name in self.map_sockets else
                        # Postfix alone (and the floor and OpenDKIM, which serve no map): the cheapest
                        # relay_domains, a static list.
                        ["--relay-domains", f"{BENCH_DOMAIN} {PLAIN_DOMAIN}"])
            cmd += ["--milter", milter] if milter else ["--no-milter"]
            res = subprocess.run(cmd, capture_output=True, text=True)
            if res.returncode != 0:
                die(f"instance.sh start {name} failed:\n{res.stdout}{res.stderr}")
            self.instances[name] = (inst, port)
            wait_port(port, 10, None, f"Postfix instance {name}")
            log(f"Postfix {name:5} on 127.0.0.1:{port}" + (f" -> milter {milter}" if milter else ""))

        self.probe(capture)
        capture.stop()
        self.sink = Sink(sink_port, os.path.join(self.work, "log", "smtp-sink.log"))
        log(f"smtp-sink on 127.0.0.1:{sink_port}")

    def opendkim_key(self):
        """Generates OpenDKIM's RSA-2048 key; returns its DNS record (name, TXT value)."""
        os.makedirs(self.opendkim_dir)
        key = os.path.join(self.opendkim_dir, "key.pem")
        subprocess.run(["openssl", "genrsa", "-out", key, "2048"], check=True, capture_output=True)
        der = subprocess.run(["openssl", "rsa", "-in", key, "-pubout", "-outform", "DER"], check=True,
                             capture_output=True).stdout
        return (f"{OPENDKIM_SELECTOR}._domainkey.{BENCH_DOMAIN}", "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode())

    def opendkim_conf(self, socket_path):
        """OpenDKIM's configuration: sign every message once with d=BENCH_DOMAIN, and nothing else."""
        if not os.path.exists(OPENDKIM):
            die(f"{OPENDKIM} is missing: bench/run installs Debian's opendkim package")
        directory = self.opendkim_dir
        with open(os.path.join(directory, "keys"), "w") as f:
            f.write(f"bench {BENCH_DOMAIN}:{OPENDKIM_SELECTOR}:{os.path.join(directory, 'key.pem')}\n")
        with open(os.path.join(directory, "signers"), "w") as f:
            f.write("* bench\n")
        conf = os.path.join(directory, "opendkim.conf")
        with open(conf, "w") as f:
            f.write("# Written by bench/bench.py: sign every message from 127.0.0.1 once.\n"
                    "Syslog no\nBackground no\nMode s\nCanonicalization relaxed/relaxed\n"
                    "SignatureAlgorithm rsa-sha256\nInternalHosts 127.0.0.1\nRequireSafeKeys no\n"
                    f"KeyTable file:{directory}/keys\nSigningTable refile:{directory}/signers\n"
                    f"Socket local:{socket_path}\nUMask 000\nPidFile {directory}/opendkim.pid\n")
        return conf

    def start_milter(self, name, listen):
        metrics = free_port()
        self.map_sockets[name] = f"inet:127.0.0.1:{free_port()}"
        env = dict(os.environ, SMTPY_MILTER_LISTEN=listen, SMTPY_MILTER_METRICS_LISTEN=f"127.0.0.1:{metrics}",
                   SMTPY_MILTER_MAP_LISTEN=self.map_sockets[name])
        self.spawn_milter(name, [os.path.join(self.bin_dir, "smtpy-milter"), "--config", self.config], env)

    def spawn_milter(self, name, argv, env=None):
        logf = open(os.path.join(self.work, "log", f"milter-{name}.log"), "ab")
        # umask 0: Postfix's smtpd (user postfix) must be able to connect to the unix socket.
        self.milters[name] = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=lambda: os.umask(0),
        )

    def wait_socket(self, name, path, seconds):
        deadline = time.monotonic() + seconds
        while not os.path.exists(path):
            if time.monotonic() > deadline or self.milters[name].poll() is not None:
                die(f"milter {name} did not create {path} (log: {self.work}/log/milter-{name}.log)")
            time.sleep(0.05)

    def teardown(self):
        for inst, _ in self.instances.values():
            subprocess.run(["bash", INSTANCE_SH, "stop", inst], check=False)
        for proc in self.milters.values():
            stop_process(proc)
        if self.sink:
            self.sink.stop()
        if self.dns:
            self.dns.stop()

    # --- the probe: what a forward looks like in each configuration ----------------------------
    def probe(self, capture):
        """Sends one message per configuration, captures what Postfix relays and checks it:
        recipient rewritten by the milter; our Authentication-Results; for the signing
        configurations a DKIM-Signature of the bench domain and an ARC set, both verified by
        dkimpy against the records the bench dnsmasq serves; for the others no signature."""
        import smtplib

        import dkim  # Debian python3-dkim (bench/run uses /usr/bin/python3)

        def dnsfunc(name, timeout=5):
            name = name.decode() if isinstance(name, bytes) else name
            found = self.dns.txt(name.rstrip("."))
            return found[0].encode() if found else None

        log("probe: one message per configuration, captured and checked")
        sent = {}
        for config in self.configs:
            instance, rcpt, _ = CONFIGS[config]
            token = f"bench-probe-{config}-{os.getpid()}"
            msg = (f"From: Bench Sender <{SENDER}>\r\nTo: <{rcpt}>\r\nSubject: {token}\r\n"
                   f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n"
                   f"Message-ID: <{token}@{SENDER_DOMAIN}>\r\n\r\nA probe of the SMTPy bench.\r\n")
            with smtplib.SMTP("127.0.0.1", self.instances[instance][1], timeout=30) as smtp:
                smtp.sendmail(SENDER, [rcpt], msg)
            sent[token] = config
        captured = capture.wait_for(len(sent), 60)
        seen = {}
        for rcpts, raw in captured:
            m = re.search(rb"^Subject: (bench-probe-\S+)", raw, re.M)
            if m and m.group(1).decode() in sent:
                seen[sent[m.group(1).decode()]] = (rcpts, raw)
        for config in self.configs:
            instance, alias, signs = CONFIGS[config]
            if config not in seen:
                die(f"probe {config}: nothing reached the capture within 60 s (see {self.instances[instance][0]}/maillog)")
            rcpts, raw = seen[config]
            head = raw.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
            fields = re.findall(r"^([A-Za-z-]+):", head, re.M)
            problems = []
            want_rcpt = alias if config in UNFORWARDED else MAILBOX
            if rcpts != [want_rcpt]:
                problems.append(f"envelope recipients {rcpts}, expected [{want_rcpt}]")
            summary = []
            dkim_fields = re.findall(r"^DKIM-Signature: ([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.M)
            if config not in UNFORWARDED:
                ar = re.search(r"^Authentication-Results: ([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", head, re.M)
                if not ar:
                    problems.append("no Authentication-Results")
                else:
                    results = re.findall(r"(?:^|[;\s])(spf|dkim|arc|dmarc)=(\w+)", ar.group(1))
                    summary.append("A-R " + " ".join(f"{k}={v}" for k, v in results))
            if config == "floor":
                for name in ("DKIM-Signature", "ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"):
                    if name not in fields:
                        problems.append(f"no {name}")
                summary.insert(0, "3 RSA-2048 signatures over the raw message (not DKIM: not verified), "
                                  "a forward's edits, no checks, no log")
            elif config == "opendkim":
                theirs = [f for f in dkim_fields if re.search(rf"\bs={OPENDKIM_SELECTOR};", f.replace("\r\n", ""))]
                if len(theirs) != 1:
                    problems.append(f"{len(theirs)} DKIM-Signatures with s={OPENDKIM_SELECTOR}, expected 1")
                dkim_ok = dkim.verify(raw, dnsfunc=dnsfunc)
                if not dkim_ok:
                    problems.append("dkimpy: OpenDKIM's signature does not verify")
                summary.append(f"OpenDKIM: DKIM-Signature d={BENCH_DOMAIN} s={OPENDKIM_SELECTOR} x1 "
                               f"(dkimpy: {'pass' if dkim_ok else 'FAIL'}), nothing else")
            elif signs:
                ours = [f for f in dkim_fields if re.search(rf"\bd={re.escape(BENCH_DOMAIN)};", f.replace("\r\n", ""))]
                if not ours:
                    problems.append(f"no DKIM-Signature with d={BENCH_DOMAIN}")
                for name in ("ARC-Seal", "ARC-Message-Signature", "ARC-Authentication-Results"):
                    if name not in fields:
                        problems.append(f"no {name}")
                dkim_ok = dkim.verify(raw, dnsfunc=dnsfunc)
                cv, _, reason = dkim.arc_verify(raw, dnsfunc=dnsfunc)
                cv = cv.decode() if isinstance(cv, bytes) else str(cv)
                if not dkim_ok:
                    problems.append("dkimpy: DKIM does not verify")
                if cv != "pass":
                    problems.append(f"dkimpy: ARC cv={cv} ({reason})")
                summary.insert(0, f"DKIM-Signature d={BENCH_DOMAIN} s={SELECTOR} x{len(ours)} "
                                  f"(dkimpy: {'pass' if dkim_ok else 'FAIL'}), ARC-Seal + ARC-Message-Signature "
                                  f"(dkimpy: cv={cv})")
            else:
                for name in ("DKIM-Signature", "ARC-Seal"):
                    if name in fields:
                        problems.append(f"unexpected {name} (this configuration must not sign)")
                summary.insert(0, "no signature")
            if problems:
                die(f"probe {config}: " + "; ".join(problems) + f"\n--- captured header ---\n{head}")
            self.probes[config] = ", ".join(summary)
            if config not in UNLOGGED:
                self.expected_log_rows += 1
            log(f"probe {config:9}: {self.probes[config]}")

    # --- one measurement -------------------------------------------------------------------
    def run_point(self, config, sessions, messages, size):
        instance, rcpt, _ = CONFIGS[config]
        inst, port = self.instances[instance]
        milter = self.milters.get(instance)
        base = self.sink.count
        cpu0, milter0 = machine_ticks()[0], process_ticks(milter.pid) if milter else 0
        postfix0, db0 = instance_ticks(inst), db_backend_ticks(self.db_name)
        procs0 = ticks_by_comm()
        t0 = time.monotonic()
        res = subprocess.run(
            ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", str(size), "-f", SENDER,
             "-t", rcpt, f"127.0.0.1:{port}"],
            capture_output=True, text=True,
        )
        t_accepted = time.monotonic()
        if res.returncode != 0 or res.stderr.strip():
            die(f"smtp-source against {config} reported:\n{res.stderr.strip()[:2000]}\n"
                f"(Postfix log: {inst}/maillog, milter log: {self.work}/log/milter-{instance}.log)")
        if not self.sink.wait_for(base + messages, 30):
            die(f"{config}: only {self.sink.count - base} of {messages} messages reached the sink; "
                f"nothing moved for 30 s (see {inst}/maillog)")
        t_delivered = time.monotonic()
        cpu = machine_ticks()[0] - cpu0
        procs1 = ticks_by_comm()
        pg_cpu = ticks_delta(procs0, procs1, {"postgres"})
        postfix_cpu, db_cpu = instance_ticks(inst) - postfix0, db_backend_ticks(self.db_name) - db0
        # CPU of the processes that are not the bench's (builds, tests, daemons), counted
        # directly: the machine's total minus the bench's processes would also count kernel
        # time no process is charged with (loopback networking: about a third of the total
        # here). Programs that start and end within the point are missed: a lower bound.
        other = ticks_delta(procs0, procs1, BENCH_COMMS, inside=False)
        elapsed = t_delivered - t0
        milter_cpu = (process_ticks(milter.pid) - milter0) if milter else 0
        if config not in UNLOGGED:
            self.expected_log_rows += messages
        ms_per_tick = 1000.0 / CLK_TCK
        return {
            "delivered_per_s": messages / (t_delivered - t0),
            "accepted_per_s": messages / (t_accepted - t0),
            "ms_per_msg": (t_accepted - t0) * 1000.0 / messages,
            "cpu_ms_per_msg": cpu * ms_per_tick / messages,
            "milter_cpu_ms_per_msg": milter_cpu * ms_per_tick / messages,
            "postgres_cpu_ms_per_msg": pg_cpu * ms_per_tick / messages,
            # Independent of other programs' load: this instance's Postfix processes, and the
            # Postgres backends of the bench database.
            "postfix_cpu_ms_per_msg": postfix_cpu * ms_per_tick / messages,
            "bench_db_cpu_ms_per_msg": db_cpu * ms_per_tick / messages,
            # Share of the whole machine (all cores) busy with other programs during the point.
            "other_load": other / (elapsed * CLK_TCK * (os.cpu_count() or 1)),
        }

    def check_routing(self):
        """Each instance delivered to the sink, and the milter ones rewrote the recipient."""
        for config in self.configs:
            instance, rcpt, _ = CONFIGS[config]
            inst = self.instances[instance][0]
            want = rcpt if config in UNFORWARDED else MAILBOX
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
        configs = self.configs
        self.background = background_load()
        if self.background > 0.10:
            log(f"warning: the machine is {self.background:.0%} busy before the bench starts; "
                "figures will be noisy (compare only within this run)")
        self.setup()
        log("warm-up (caches, connections) and routing check")
        for c in configs:
            self.run_point(c, min(20, a.messages), min(100, a.messages), 1024)
        self.check_routing()
        dns_before = self.dns.stats()

        results = []  # one dict per measurement
        n = len(configs)
        for r in range(a.rounds):
            order = configs[r % n:] + configs[:r % n]
            for size in a.sizes:
                for c in order:
                    m = self.run_point(c, 20, a.messages, size)
                    results.append(dict(m, round=r, config=c, sessions=20, size=size))
                    log(f"round {r + 1}/{a.rounds} {size // 1024:>2} KB x20 {c:9} "
                        f"{m['delivered_per_s']:7.1f} msg/s  cpu {m['cpu_ms_per_msg']:.2f} ms/msg  "
                        f"other load {m['other_load']:.0%}")
            # One session, 1 KB (the goal) and 32 KB: a body of many TCP segments is where a
            # Nagle/delayed-ACK stall (~40 ms) shows up if the milter's socket settings are off.
            for size in SINGLE_SIZES:
                for c in order:
                    m = self.run_point(c, 1, a.single, size)
                    results.append(dict(m, round=r, config=c, sessions=1, size=size))
                    log(f"round {r + 1}/{a.rounds} {size // 1024:>2} KB x1  {c:9} {m['ms_per_msg']:7.2f} ms/msg  "
                        f"other load {m['other_load']:.0%}")

        # The milter's message log may be written behind; give it a moment to settle.
        rows = 0
        for _ in range(50):
            rows = int(self.psql("SELECT count(*) FROM messages") or 0)
            if rows >= self.expected_log_rows:
                break
            time.sleep(0.1)
        dns_after = self.dns.stats()
        dns_queries = (dns_after["answered"] - dns_before["answered"]) if dns_before and dns_after else None
        dns_forwarded = dns_after["forwarded"] if dns_after else None
        self.report(results, configs, rows, dns_queries, dns_forwarded)

    def report(self, results, configs, log_rows, dns_queries, dns_forwarded):
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
        signing = any(CONFIGS[c][2] for c in configs)
        if signing:
            out.append("milter+sign: alias domain with an RSA-2048 DKIM key: every forward DKIM-signed and "
                       "ARC-sealed (3 RSA signatures);")
        out.append("milter: alias domain without a DKIM key (SPF/DKIM/ARC/DMARC checked, nothing signed)"
                   + ("; same milter processes and Postfix instances" if signing else ""))
        out.append(f"DNS: a private dnsmasq on 127.0.0.1 (TTL {DNS_TTL} s) serving {SENDER_DOMAIN}'s SPF and DMARC"
                   + (" and the bench domain's DKIM key" if signing else "") + "; the test messages arrive unsigned")
        out.append("probe messages (captured before measuring; signatures verified with dkimpy via the bench DNS):")
        for c in configs:
            if c in self.probes:
                out.append(f"  {label(c):<17} {self.probes[c]}")
        out.append(f"20 sessions, {a.messages} messages per point, one message per session, delivered to smtp-sink;")
        out.append("ratio = median over rounds of (msg/s with milter / Postfix alone in the same round);")
        out.append("cpu ms/msg: whole machine; milter, pg: the milter process, all Postgres processes; postfix: this")
        out.append("  instance's Postfix processes, db: the bench database's Postgres backends (both unaffected by")
        out.append("  other programs' load; kernel time of loopback networking is in none of them);")
        out.append("other: share of the machine busy with programs that are not the bench (builds, tests), median (max)")
        out.append(f"{'size':>6}  {'config':<17} {'msg/s':>7} {'min-max':>9} {'ratio':>6} {'cpu ms/msg':>10} {'postfix':>7} {'milter':>6} {'db':>5} {'pg':>5} {'other':>9}  goal")
        for size in a.sizes:
            for c in configs:
                pts = pick(c, 20, size)
                ratio = med([pick(c, 20, size, r)[0]["delivered_per_s"] / pick("alone", 20, size, r)[0]["delivered_per_s"]
                             for r in rounds])
                goal = ""
                if c == "floor" and size == 1024:
                    goal = "(reference: no implementation of the goal does less)"
                elif c == "opendkim" and size == 1024:
                    goal = "(reference: the peer, signing once)"
                elif c != "alone" and size == 1024:
                    if CONFIGS[c][2]:
                        goal = f">= {GOAL_SIGN_RATIO:.2f} " + ("ok" if ratio >= GOAL_SIGN_RATIO else "MISSED")
                    else:
                        goal = (f"(earlier goal without signing: >= {GOAL_PLAIN_RATIO:.2f} "
                                + ("ok)" if ratio >= GOAL_PLAIN_RATIO else "missed)"))
                milter_cpu = f"{med([p['milter_cpu_ms_per_msg'] for p in pts]):6.2f}" if c != "alone" else f"{'-':>6}"
                pg_cpu = f"{med([p['postgres_cpu_ms_per_msg'] for p in pts]):5.2f}"
                postfix_cpu = f"{med([p['postfix_cpu_ms_per_msg'] for p in pts]):7.2f}"
                db_cpu = f"{med([p['bench_db_cpu_ms_per_msg'] for p in pts]):5.2f}"
                loads = [p["other_load"] for p in pts]
                other = f"{med(loads):.0%} ({max(loads):.0%})"
                rates = [p["delivered_per_s"] for p in pts]
                out.append(f"{size // 1024:>3} KB  {label(c):<17} {med(rates):7.0f} "
                           f"{f'{min(rates):.0f}-{max(rates):.0f}':>9} {ratio:6.2f} {med([p['cpu_ms_per_msg'] for p in pts]):10.2f} {postfix_cpu} {milter_cpu} {db_cpu} {pg_cpu} {other:>9}  {goal}")
        out.append(f"1 session, {a.single} messages: SMTP transaction time per message (smtp-source wall time / messages)")
        out.append(f"{'size':>6}  {'config':<17} {'ms/msg':>7} {'+ms':>6} {'other':>9}  goal")
        for size in SINGLE_SIZES:
            for c in configs:
                pts = pick(c, 1, size)
                diff = med([pick(c, 1, size, r)[0]["ms_per_msg"] - pick("alone", 1, size, r)[0]["ms_per_msg"]
                            for r in rounds])
                goal = ""
                if size == 1024 and (c == "inet+sign" or (c == "inet" and "inet+sign" not in configs)):
                    goal = f"<= +{GOAL_EXTRA_MS:.1f} ms " + ("ok" if diff <= GOAL_EXTRA_MS else "MISSED")
                elif c != "alone" and diff > STALL_MS:
                    goal = f"STALL? (> +{STALL_MS:.0f} ms: Nagle/delayed ACK)"
                loads = [p["other_load"] for p in pts]
                other = f"{med(loads):.0%} ({max(loads):.0%})"
                out.append(f"{size // 1024:>3} KB  {label(c):<17} {med([p['ms_per_msg'] for p in pts]):7.2f} "
                           f"{diff:+6.2f} {other:>9}  {goal}")
        out.append(f"message-log rows written by the milter: {log_rows} (messages through a milter: {self.expected_log_rows})")
        measured = sum(a.messages if x["sessions"] == 20 else a.single for x in results
                       if x["config"] not in UNLOGGED)
        if dns_queries is not None:
            out.append(f"DNS queries the bench dnsmasq answered while measuring: {dns_queries} "
                       f"({dns_queries / max(measured, 1):.4f} per message through a milter); "
                       f"forwarded anywhere: {dns_forwarded}")
        busy = [x for x in results if x["other_load"] > 0.10]
        if busy:
            out.append(f"WARNING: other programs used more than 10% of the machine during {len(busy)} of "
                       f"{len(results)} points (up to {max(x['other_load'] for x in busy):.0%}): these figures "
                       "are not a quiet machine's; re-run when it is idle")
        report = "\n".join(out)
        print(report, flush=True)
        with open(os.path.join(self.work, "results.json"), "w") as f:
            json.dump({"args": vars(a), "configs": configs, "probes": self.probes, "results": results,
                       "log_rows": log_rows, "expected_log_rows": self.expected_log_rows,
                       "dns_records": self.dns_records, "dns_queries": dns_queries,
                       "report": report}, f, indent=1)
        log(f"raw results: {self.work}/results.json")


def background_load(seconds=1.0):
    """Fraction of the machine's CPU busy while we do nothing (other builds, tests, daemons)."""
    before, t0 = machine_ticks()[0], time.monotonic()
    time.sleep(seconds)
    busy = (machine_ticks()[0] - before) / CLK_TCK
    return busy / ((time.monotonic() - t0) * (os.cpu_count() or 1))


def label(config):
    return LABELS[config]


def parse_args():
    p = argparse.ArgumentParser(prog="bench/run", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 1 round, 200 messages, 20 single-session")
    p.add_argument("--rounds", type=int, default=5, help="rounds, each measuring every configuration (default 5)")
    p.add_argument("--messages", type=int, default=3000, help="messages per 20-session point (default 3000)")
    p.add_argument("--single", type=int, default=300, help="messages for the single-session point (default 300)")
    p.add_argument("--sizes", default="1024,32768", help="payload sizes in bytes (default 1024,32768)")
    p.add_argument("--mode", default="privacy", choices=["privacy", "transparent"], help="alias mode")
    p.add_argument("--signing", default="both", choices=["both", "on", "off"],
                   help="milter configurations to measure: with DKIM+ARC signing, without, or both "
                        "(default both; 'off' generates no DKIM key)")
    p.add_argument("--no-sign", dest="signing", action="store_const", const="off", help="same as --signing off")
    p.add_argument("--log-level", default="info", help="the milters' [log] level (default info)")
    p.add_argument("--dns-log", action="store_true",
                   help="log every DNS query in log/dnsmasq.log (costs CPU during the measurement)")
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
