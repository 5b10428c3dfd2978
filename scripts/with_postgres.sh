#!/usr/bin/env bash
# Run a command beside a throwaway PostgreSQL server; the command sees its URL in
# KANBAN_TEST_PG_DSN. Used by `make test` and .ci/run.
#
# A server given from outside (KANBAN_TEST_PG_DSN already set) is used as it is. Otherwise the
# server binaries are found (installing Debian's `postgresql` when root and they are missing),
# a cluster is initialised into a temp dir (as the `postgres` user when root: initdb refuses
# root), started on a free loopback port with fsync off, and stopped and removed on exit.
# Without binaries and without root the command runs without a server: the tests marked
# `postgres` skip, unless KANBAN_TEST_PG_REQUIRED=1 makes the run fail.
set -euo pipefail

if [ -n "${KANBAN_TEST_PG_DSN:-}" ]; then
    exec "$@"
fi

find_bindir() {
    if command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(readlink -f "$(command -v pg_ctl)")"
        return
    fi
    # Debian keeps the server binaries out of PATH, one folder per major version
    local newest
    newest=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    [ -n "$newest" ] && [ -x "$newest/pg_ctl" ] && echo "$newest"
}

bindir=$(find_bindir || true)
if [ -z "$bindir" ] && [ "$(id -u)" = 0 ]; then
    echo "with_postgres: installing the postgresql package" >&2
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    bindir=$(find_bindir || true)
fi
if [ -z "$bindir" ]; then
    echo "with_postgres: no PostgreSQL server binaries; the postgres tests will skip" >&2
    exec "$@"
fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/kanban-pg.XXXXXX")
as_owner=()
if [ "$(id -u)" = 0 ]; then
    chown postgres: "$workdir"
    as_owner=(runuser -u postgres --)
fi

stop_server() {
    "${as_owner[@]}" "$bindir/pg_ctl" -D "$workdir/data" -m immediate -w stop >/dev/null 2>&1 || true
    rm -rf "$workdir"
}
trap stop_server EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"${as_owner[@]}" "$bindir/initdb" -D "$workdir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$workdir/initdb.log" 2>&1 || { cat "$workdir/initdb.log" >&2; exit 1; }
# fsync and friends off: a test server that loses everything on a crash loses nothing of value
"${as_owner[@]}" "$bindir/pg_ctl" -D "$workdir/data" -l "$workdir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$workdir -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" start >/dev/null \
    || { cat "$workdir/server.log" >&2; exit 1; }

export KANBAN_TEST_PG_DSN="postgresql://postgres@127.0.0.1:$port/postgres"
echo "with_postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port" >&2
"$@"
