#!/usr/bin/python3
# SPDX-License-Identifier: GPL-3.0-or-later
"""Sign a message with dkimpy, the way an independent sender (DKIM) or forwarder (ARC) would.

Usage: SMTPY_DKIM_KEY="$(cat key.pem)" sign_mail.py --domain D --selector S [--arc AUTHSERV_ID]
The message comes on stdin; the signed message (new header fields on top) goes to stdout.
With --arc, adds the next ARC set (it seals the Authentication-Results of AUTHSERV_ID);
without it, adds a DKIM-Signature (relaxed/simple, rsa-sha256, dkimpy's default headers).
Needs Debian's python3-dkim (and python3-authres for --arc).
"""

import argparse
import os
import sys

import dkim


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--domain", required=True)
    parser.add_argument("--selector", required=True)
    parser.add_argument("--arc", metavar="AUTHSERV_ID", help="add an ARC set instead of a DKIM-Signature")
    args = parser.parse_args()

    key = os.environb[b"SMTPY_DKIM_KEY"]
    message = sys.stdin.buffer.read()
    selector, domain = args.selector.encode(), args.domain.encode()
    if args.arc:
        fields = dkim.arc_sign(message, selector, domain, key, args.arc.encode())
        if not fields:
            sys.exit("dkimpy added no ARC set (no Authentication-Results for %s?)" % args.arc)
        added = b"".join(fields)
    else:
        added = dkim.sign(message, selector, domain, key)
    sys.stdout.buffer.write(added + message)


if __name__ == "__main__":
    main()
