#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Configure the system Postfix instance for SMTPy (idempotent: safe to run again).
#
# Usage: postfix-config/apply.sh [--config-dir DIR] [--db-url URL] [--milter ADDR]
#                                [--map-file FILE] [--no-reload]
#   --config-dir DIR  Postfix configuration directory (default /etc/postfix)
#   --db-url URL      postgres://USER:PASSWORD@HOST:PORT/DBNAME for the relay_domains map
#                     (default: $SMTPY_DATABASE_URL; required when the map file does not exist)
#   --milter ADDR     where smtpy-milter listens (default inet:127.0.0.1:8891)
#   --map-file FILE   where to write the pgsql map (default /etc/smtpy/postfix-pgsql-relay-domains.cf)
#   --no-reload       do not reload a running Postfix
#
# On a fresh Debian `apt install postfix` with "No configuration" there is no main.cf; a
# minimal main.cf (from /usr/share/postfix/main.cf.debian) and master.cf (master.cf.dist)
# are created first.
set -euo pipefail
# shellcheck source=postfix-config/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

config_dir=/etc/postfix
db_url=${SMTPY_DATABASE_URL:-}
milter=inet:127.0.0.1:8891
map_file=/etc/smtpy/postfix-pgsql-relay-domains.cf
reload=yes
while (($#)); do
    case $1 in
    --config-dir) config_dir=${2:?--config-dir needs a value}; shift 2 ;;
    --db-url) db_url=${2:?--db-url needs a value}; shift 2 ;;
    --milter) milter=${2:?--milter needs a value}; shift 2 ;;
    --map-file) map_file=${2:?--map-file needs a value}; shift 2 ;;
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

if [[ -n $db_url ]]; then
    write_relay_domains_map "$map_file" "$db_url" postfix
elif [[ ! -f $map_file ]]; then
    die "no --db-url (or SMTPY_DATABASE_URL) given and $map_file does not exist"
fi

apply_snippet "$config_dir" "pgsql:$map_file" "$(milters_value "$milter")"
# `postfix check` reports only to syslog; say where to look when it fails.
postfix -c "$config_dir" check || die "postfix check failed for $config_dir (see the mail log or syslog)"

if [[ $reload == yes ]] && postfix -c "$config_dir" status >/dev/null 2>&1; then
    postfix -c "$config_dir" reload
fi
echo "SMTPy settings applied to $config_dir/main.cf (relay_domains map: $map_file)"
