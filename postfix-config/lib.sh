# shellcheck shell=bash
# SMTPy postfix-config: helpers shared by apply.sh and instance.sh (sourced, not run).
# SPDX-License-Identifier: GPL-3.0-or-later

SMTPY_POSTFIX_CONFIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() {
    echo "${0##*/}: $*" >&2
    exit 1
}

# Decodes %XX escapes (a URL's user and password may contain them).
url_decode() {
    local s=${1//+/ }
    printf '%b' "${s//%/\\x}"
}

# parse_db_url URL: sets DB_USER DB_PASSWORD DB_HOST DB_PORT DB_NAME from
# postgres[ql]://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?PARAMS].
parse_db_url() {
    local url=$1 rest userinfo hostport
    case $url in
    postgres://* | postgresql://*) rest=${url#*://} ;;
    *) die "database URL must start with postgres:// or postgresql://: $url" ;;
    esac
    rest=${rest%%\?*}
    [[ $rest == */* ]] || die "database URL has no database name: $url"
    DB_NAME=$(url_decode "${rest#*/}")
    rest=${rest%%/*}
    if [[ $rest == *@* ]]; then
        userinfo=${rest%@*}
        hostport=${rest##*@}
    else
        userinfo=
        hostport=$rest
    fi
    DB_USER=$(url_decode "${userinfo%%:*}")
    if [[ $userinfo == *:* ]]; then DB_PASSWORD=$(url_decode "${userinfo#*:}"); else DB_PASSWORD=; fi
    if [[ $hostport == \[*\]* ]]; then # [IPv6]:port
        DB_HOST=${hostport%%]*}]
        hostport=${hostport#*]}
        DB_PORT=${hostport#:}
    else
        DB_HOST=${hostport%%:*}
        if [[ $hostport == *:* ]]; then DB_PORT=${hostport#*:}; else DB_PORT=; fi
    fi
    DB_PORT=${DB_PORT:-5432}
    [[ -n $DB_HOST ]] || die "database URL has no host: $url"
    [[ -n $DB_NAME ]] || die "database URL has no database name: $url"
    [[ -n $DB_USER ]] || die "database URL has no user name: $url"
}

# write_relay_domains_map FILE URL [GROUP]: renders the pgsql map from the template,
# readable by root and GROUP only (it holds the database password).
write_relay_domains_map() {
    local file=$1 url=$2 group=${3:-} tmp
    parse_db_url "$url"
    mkdir -p "$(dirname "$file")"
    tmp=$(mktemp "$file.XXXXXX")
    chmod 640 "$tmp"
    [[ -z $group ]] || chgrp "$group" "$tmp"
    # awk, not sed: a password may contain any character sed would treat specially.
    awk -v hosts="inet:$DB_HOST:$DB_PORT" -v user="$DB_USER" -v password="$DB_PASSWORD" \
        -v dbname="$DB_NAME" '
        { gsub(/@HOSTS@/, hosts); gsub(/@USER@/, user); gsub(/@DBNAME@/, dbname)
          i = index($0, "@PASSWORD@")
          if (i) $0 = substr($0, 1, i - 1) password substr($0, i + 10)
          print }' \
        "$SMTPY_POSTFIX_CONFIG_DIR/postfix-pgsql-relay-domains.cf.in" >"$tmp"
    mv -f "$tmp" "$file"
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
