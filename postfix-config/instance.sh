#!/bin/bash
# SPDX-License-Identifier: GPL-3.0-or-later
#
# A private Postfix instance for tests and benchmarks, entirely under one directory.
# It never reads or writes /etc/postfix/main.cf or the system queue; several instances may
# run at once (give each its own DIR and ports). Run as root.
#
# Usage (stable interface, used by the e2e tests and bench/):
#   instance.sh start DIR --smtp-port PORT --sink-port PORT (--milter ADDR | --no-milter)
#                         [--socketmap ADDR | --relay-domains 'a.test b.test'] [--set 'name = value']...
#   instance.sh stop DIR       stop it (waits until the master process is gone; no error if not running)
#   instance.sh status DIR     exit 0 if running
#
#   DIR                the instance directory (created if missing; made mode 755 so the
#                      postfix user can reach it). Layout: DIR/etc (config_directory: main.cf,
#                      master.cf), DIR/spool (queue_directory), DIR/data
#                      (data_directory), DIR/maillog (the log: read it when something fails).
#   --smtp-port PORT   smtpd listens on 127.0.0.1:PORT
#   --sink-port PORT   everything is relayed to [127.0.0.1]:PORT (relayhost)
#   --milter ADDR      smtpd_milters = { ADDR, default_action=tempfail }; ADDR is
#                      inet:127.0.0.1:PORT or unix:/path (the milter need not be running)
#   --no-milter        Postfix alone (smtpd_milters empty)
#   --socketmap ADDR   relay_domains from smtpy-milter's socketmap at ADDR (its [milter]
#                      map_listen: inet:127.0.0.1:PORT or unix:/path), as in production
#   --relay-domains L  relay_domains = L (static list) instead of the socketmap
#                      (neither: relay_domains empty; 127.0.0.0/8 may relay anyway)
#   --set 'n = v'      any extra main.cf setting, applied last (repeatable)
#
# The SMTPy settings are the production ones (main.cf.snippet). On top, the instance is tuned
# for speed where semantics do not change: deferred mail is retried after about a second
# (queue_run_delay, minimal/maximal_backoff_time), no error sleeps, no reverse DNS, no TLS, no
# chroot, no local delivery.
set -euo pipefail
# shellcheck source=postfix-config/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
    sed -n '3,/^set -euo/{/^set -euo/!p}' "$0" >&2
    exit 2
}

master_pid() {
    local pidfile=$1/spool/pid/master.pid pid
    [[ -f $pidfile ]] || return 1
    pid=$(tr -d ' \n' <"$pidfile")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

cmd_stop() {
    local dir=$1 pid i
    pid=$(master_pid "$dir") || return 0
    # Not `postfix stop`: it polls in whole seconds. The master kills its children on SIGTERM.
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 200; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.05
    done
    echo "${0##*/}: master $pid did not stop within 10 s; killing its process group" >&2
    kill -KILL -- "-$pid" 2>/dev/null || true
}

write_master_cf() {
    local file=$1 port=$2
    cat >"$file" <<MASTER
# Written by smtpy postfix-config/instance.sh. No chroot: the instance lives outside /var/spool.
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$port inet n       -       n       -       -       smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
MASTER
}

cmd_start() {
    local dir=${1:-} smtp_port='' sink_port='' milter='' milter_set=no socketmap='' relay_domains='' relay_set=no
    local -a extra=()
    [[ -n $dir && $dir != -* ]] || usage
    shift
    while (($#)); do
        case $1 in
        --smtp-port) smtp_port=${2:?}; shift 2 ;;
        --sink-port) sink_port=${2:?}; shift 2 ;;
        --milter) milter=${2:?}; milter_set=yes; shift 2 ;;
        --no-milter) milter=; milter_set=yes; shift ;;
        --socketmap) socketmap=${2:?}; shift 2 ;;
        --relay-domains) relay_domains=$2; relay_set=yes; shift 2 ;;
        --set) extra+=("${2:?}"); shift 2 ;;
        *) die "unknown argument: $1" ;;
        esac
    done
    [[ $smtp_port =~ ^[0-9]+$ ]] || die "--smtp-port PORT is required"
    [[ $sink_port =~ ^[0-9]+$ ]] || die "--sink-port PORT is required"
    [[ $milter_set == yes ]] || die "give --milter ADDR or --no-milter"
    [[ -z $socketmap || $relay_set == no ]] || die "--socketmap and --relay-domains exclude each other"
    [[ $(id -u) == 0 ]] || die "must run as root"

    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd)
    if master_pid "$dir" >/dev/null; then die "an instance is already running in $dir"; fi
    chmod 755 "$dir"
    runuser -u postfix -- test -x "$dir" ||
        die "the postfix user cannot reach $dir: make every parent directory searchable (chmod o+x)"
    mkdir -p "$dir/etc" "$dir/spool"
    chmod 755 "$dir/spool"
    : >"$dir/etc/main.cf"
    write_master_cf "$dir/etc/master.cf" "$smtp_port"

    local relay=$relay_domains
    [[ -z $socketmap ]] || relay=$(relay_domains_socketmap "$socketmap")

    local name=smtpy-test-$smtp_port
    postconf -c "$dir/etc" -e \
        "compatibility_level = 3.6" \
        "queue_directory = $dir/spool" \
        "data_directory = $dir/data" \
        "mail_owner = postfix" \
        "setgid_group = postdrop" \
        "myhostname = $name.localhost" \
        "mydomain = localhost" \
        "mydestination =" \
        "local_recipient_maps =" \
        "local_transport = error:local delivery is disabled" \
        "alias_maps =" \
        "alias_database =" \
        "inet_interfaces = 127.0.0.1" \
        "inet_protocols = ipv4" \
        "mynetworks = 127.0.0.0/8" \
        "relayhost = [127.0.0.1]:$sink_port" \
        "syslog_name = $name" \
        "maillog_file = $dir/maillog" \
        "maillog_file_prefixes = $dir" \
        "biff = no" \
        "smtp_tls_security_level = none" \
        "smtpd_tls_security_level = none" \
        "smtp_dns_support_level = disabled" \
        "smtpd_peername_lookup = no" \
        "queue_run_delay = 1s" \
        "minimal_backoff_time = 1s" \
        "maximal_backoff_time = 2s" \
        "delay_warning_time = 0" \
        "in_flow_delay = 0" \
        "smtpd_error_sleep_time = 0" \
        "smtpd_soft_error_limit = 1000" \
        "smtpd_hard_error_limit = 1000" \
        "smtpd_client_connection_count_limit = 0" \
        "smtp_connect_timeout = 5s"
    apply_snippet "$dir/etc" "$relay" "$(milters_value "$milter")"
    ((${#extra[@]} == 0)) || postconf -c "$dir/etc" -e "${extra[@]}"

    if ! postfix -c "$dir/etc" start >"$dir/start.log" 2>&1; then
        cat "$dir/start.log" >&2
        [[ ! -f $dir/maillog ]] || tail -n 30 "$dir/maillog" >&2
        die "postfix failed to start in $dir"
    fi
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
stop) [[ -n ${2:-} ]] || usage; cmd_stop "$2" ;;
status) [[ -n ${2:-} ]] || usage; master_pid "$2" >/dev/null ;;
*) usage ;;
esac
