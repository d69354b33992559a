# shellcheck shell=bash
# SMTPy postfix-config: helpers shared by apply.sh and instance.sh (sourced, not run).
# SPDX-License-Identifier: GPL-3.0-or-later

SMTPY_POSTFIX_CONFIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

# relay_domains_socketmap ADDR: the relay_domains value that asks smtpy-milter's socketmap at
# ADDR (inet:HOST:PORT or unix:PATH, the milter's [milter] map_listen).
relay_domains_socketmap() {
    case $1 in
    inet:*:* | unix:/*) printf 'socketmap:%s:relay_domains' "$1" ;;
    *) die "expected inet:HOST:PORT or unix:/path for the socketmap, got '$1'" ;;
    esac
}

# milters_value MILTER: the smtpd_milters value for a milter address (empty: no milter).
milters_value() {
    [[ -z $1 ]] || printf '{ %s, default_action=tempfail }' "$1"
}

# apply_snippet CONFIG_DIR RELAY_DOMAINS_MAP SMTPD_MILTERS: postconf -e every line of
# main.cf.snippet into CONFIG_DIR/main.cf, placeholders replaced.
apply_snippet() {
    local config_dir=$1 relay=$2 milters=$3 line
    local -a settings=()
    while IFS= read -r line || [[ -n $line ]]; do
        [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
        line=${line//@RELAY_DOMAINS_MAP@/$relay}
        line=${line//@SMTPD_MILTERS@/$milters}
        settings+=("$line")
    done <"$SMTPY_POSTFIX_CONFIG_DIR/main.cf.snippet"
    postconf -c "$config_dir" -e "${settings[@]}"
}
