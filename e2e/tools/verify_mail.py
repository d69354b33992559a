#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Verify a message's DKIM signatures and ARC chain with dkimpy, an implementation independent
of the mail-auth crate SMTPy uses, asking only the given DNS server.

Usage: verify_mail.py --dns 127.0.0.1:PORT [MESSAGE_FILE]   (the message on stdin without a file)

Prints one JSON object and exits 0, whatever the verdicts:
  {"dkim": [{"d": ..., "s": ..., "a": ..., "result": true|false, "reason": ...}, ...],
   "arc": {"cv": "pass"|"fail"|"none", "reason": ..., "instances": [...]},
   "log": [dkimpy's log lines]}
Exits non-zero only when it cannot run (bad arguments, dkimpy or dnspython missing).
Needs Debian's python3-dkim, python3-dnspython (and python3-authres for ARC signing).
"""

import argparse
import json
import logging
import sys

import dkim
import dkim.util
import dns.exception
import dns.rdatatype
import dns.resolver


class Collect(logging.Handler):
    """Keeps every log record, so the JSON can say why a verdict is what it is."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(self.format(record))


def make_dnsfunc(server):
    """A dkimpy `dnsfunc` that asks only `server` (host:port) and joins a TXT record's strings."""
    host, _, port = server.rpartition(":")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [host]
    resolver.port = int(port)

    def get_txt(name, timeout=5):
        name = name.decode("ascii") if isinstance(name, bytes) else name
        try:
            # dnspython retries over TCP when a long answer comes back truncated.
            answer = resolver.resolve(name, dns.rdatatype.TXT, lifetime=timeout, raise_on_no_answer=False)
        except (dns.resolver.NXDOMAIN, dns.resolver.NoNameservers):
            return None
        except dns.exception.Timeout as err:
            raise dkim.DnsTimeoutError(str(err))
        for rrset in answer.response.answer:
            if rrset.rdtype == dns.rdatatype.TXT:
                return b"".join(list(rrset.items)[0].strings)
        return None

    return get_txt


def text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def verify_dkim(message, dnsfunc, logger):
    results = []
    signatures = [v for (k, v) in dkim.DKIM(message).headers if k.lower() == b"dkim-signature"]
    for idx, value in enumerate(signatures):
        entry = {"d": None, "s": None, "a": None, "result": False, "reason": None}
        try:
            tags = dkim.util.parse_tag_value(value)
            entry.update(d=text(tags.get(b"d")), s=text(tags.get(b"s")), a=text(tags.get(b"a")))
        except dkim.util.InvalidTagValueList as err:
            entry["reason"] = "unparsable signature: %s" % err
            results.append(entry)
            continue
        try:
            entry["result"] = bool(dkim.DKIM(message, logger=logger).verify(idx=idx, dnsfunc=dnsfunc))
            if not entry["result"]:
                entry["reason"] = "signature did not verify"
        except dkim.DKIMException as err:
            entry["reason"] = "%s: %s" % (type(err).__name__, err)
        results.append(entry)
    return results


def verify_arc(message, dnsfunc, logger):
    cv, instances, reason = dkim.arc_verify(message, logger=logger, dnsfunc=dnsfunc)
    # dkimpy answers None when an earlier seal recorded cv=fail: the chain is failed.
    cv = text(cv) if cv is not None else "fail"
    return {
        "cv": cv,
        "reason": text(reason),
        "instances": [{key: text(value) for (key, value) in result.items()} for result in instances],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dns", required=True, help="the DNS server, HOST:PORT")
    parser.add_argument("message", nargs="?", help="the message file (default: stdin)")
    args = parser.parse_args()

    if args.message:
        with open(args.message, "rb") as f:
            message = f.read()
    else:
        message = sys.stdin.buffer.read()

    collect = Collect()
    logger = logging.getLogger("verify_mail")
    logger.setLevel(logging.DEBUG)
    logger.addHandler(collect)
    dnsfunc = make_dnsfunc(args.dns)

    report = {
        "dkim": verify_dkim(message, dnsfunc, logger),
        "arc": verify_arc(message, dnsfunc, logger),
    }
    report["log"] = collect.lines
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
