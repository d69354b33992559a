#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Configure the system Postfix instance for SMTPy (idempotent: safe to run again).
#
# Usage: postfix-config/apply.sh [--config-dir DIR] [--milter ADDR] [--socketmap ADDR]
#                                [--no-reload]
#   --config-dir DIR  Postfix configuration directory (default /etc/postfix)
#   --milter ADDR     where smtpy-milter listens (its [milter] listen; default
#                     inet:127.0.0.1:8891)
#   --socketmap ADDR  where smtpy-milter answers Postfix's relay_domains lookups (its
#                     [milter] map_listen; default inet:127.0.0.1:8892)
#   --no-reload       do not reload a running Postfix
#
# relay_domains asks the milter, which answers from its LISTEN/NOTIFY-kept cache: no database
# password in Postfix's configuration and no Postgres query per lookup. When the milter is
# down, lookups fail and Postfix answers 4xx (the sender retries), as the milter itself would.
#
# On a fresh Debian `apt install postfix` with "No configuration" there is no main.cf; a
# minimal main.cf (from /usr/share/postfix/main.cf.debian) and master.cf (master.cf.dist)
# are created first.
set -euo pipefail
# shellcheck source=postfix-config/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

config_dir=/etc/postfix
milter=inet:127.0.0.1:8891
socketmap=inet:127.0.0.1:8892
reload=yes
while (($#)); do
    case $1 in
    --config-dir) config_dir=${2:?--config-dir needs a value}; shift 2 ;;
    --milter) milter=${2:?--milter needs a value}; shift 2 ;;
    --socketmap) socketmap=${2:?--socketmap needs a value}; shift 2 ;;
    --no-reload) reload=no; shift ;;
    -h | --help) sed -n '3,/^set -euo/{/^set -euo/!p}' "$0"; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
    esac
done

mkdir -p "$config_dir"
if [[ ! -f $config_dir/main.cf ]]; then
    # Debian's "No configuration" choice leaves no main.cf. Start where Debian's own postinst
    # starts (main.cf.debian; the upstream main.cf.dist empties setgid_group and sendmail_path,
    # which Postfix refuses), plus the settings postinst would add.
    if [[ -f /usr/share/postfix/main.cf.debian ]]; then
        cp /usr/share/postfix/main.cf.debian "$config_dir/main.cf"
    else
        cp /usr/share/postfix/main.cf.dist "$config_dir/main.cf"
        postconf -c "$config_dir" -X setgid_group sendmail_path newaliases_path mailq_path
    fi
    postconf -c "$config_dir" -e "myhostname = $(hostname --fqdn 2>/dev/null || hostname)" \
        "mydestination = \$myhostname, localhost" "inet_interfaces = all" \
        "mynetworks = 127.0.0.0/8 [::1]/128" "alias_maps = hash:/etc/aliases" \
        "alias_database = hash:/etc/aliases"
    # The system instance delivers local mail (root, postmaster) through /etc/aliases.
    if [[ $config_dir == /etc/postfix && -f /etc/aliases && ! -f /etc/aliases.db ]]; then
        postalias /etc/aliases
    fi
fi
[[ -f $config_dir/master.cf ]] || cp /usr/share/postfix/master.cf.dist "$config_dir/master.cf"

relay=$(relay_domains_socketmap "$socketmap")
apply_snippet "$config_dir" "$relay" "$(milters_value "$milter")"
# `postfix check` reports only to syslog; say where to look when it fails.
postfix -c "$config_dir" check || die "postfix check failed for $config_dir (see the mail log or syslog)"

if [[ $reload == yes ]] && postfix -c "$config_dir" status >/dev/null 2>&1; then
    postfix -c "$config_dir" reload
fi
echo "SMTPy settings applied to $config_dir/main.cf (relay_domains = $relay)"
