#!/usr/bin/env bash
# test/installcheck.sh -- `make installcheck`: the pg_regress tests against a
# running server (PGHOST, PGPORT, PGUSER; PGDATABASE is not used: pg_regress
# makes its own database, contrib_regression)
#
# Usage (the Makefile does it): test/installcheck.sh BINDIR PG_REGRESS ARGS...
#
# Before pg_regress runs, checks what the tests need, and stops at once with
# one line saying what is missing:
#   - the server answers (5 s at most), on this machine (a Unix socket or a
#     loopback address: the server calls the mock API on 127.0.0.1)
#   - PGUSER is a superuser (the tests make roles and servers)
#   - candidate_docs of this tree's version, file_fdw and citext are
#     installed on the server
#   - candidate_docs is in shared_preload_libraries (the request budget and
#     the statistics the tests read are shared)
#   - the server's log file can be read (a test reads a warning there):
#     PG_SERVER_LOG, else the server's pg_current_logfile(), else the file
#     its postmaster writes to (/proc/PID/fd/2)
# Then starts the bundled mock API (test/mock_api.py) on a free loopback port,
# exports MOCK_PORT and MOCK_URL, runs pg_regress, and stops the mock. A mock
# that answers at MOCK_URL already (test/cluster.sh started one) is used
# instead. Without python3 or curl (the mock, and the tests' calls to it)
# nothing is run, and one line says so: "installcheck: skipped: ...".
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

bindir=${1:?give the server binaries directory}
shift
[ $# -gt 0 ] || die "give the pg_regress command"

fail() { say "installcheck: $*"; exit 1; }
skip() { say "installcheck: skipped: $*"; exit 0; }

command -v python3 >/dev/null 2>&1 || skip "python3 is not installed (the bundled mock API, test/mock_api.py, needs it)"
command -v curl >/dev/null 2>&1 || skip "curl is not installed (the tests drive the mock API with it)"

psql=$bindir/psql
[ -x "$psql" ] || psql=psql
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-5}
where="PGHOST=${PGHOST:-(default)} PGPORT=${PGPORT:-(default)} PGUSER=${PGUSER:-(default)}"

# sql QUERY: one value from the server
sql() {
	"$psql" -X -q -A -t -v ON_ERROR_STOP=1 -d postgres -c "$1" 2>&1
}

out=$(sql "SELECT 1") || fail "cannot connect to the server ($where): $(printf '%s' "$out" | head -n 1)"
addr=$(sql "SELECT coalesce(host(inet_server_addr()), '')") || fail "$addr"
case $addr in
'' | 127.* | ::1) ;;
*) fail "the server is reached at $addr: run the tests on the server's machine (it calls the mock API on 127.0.0.1)" ;;
esac
[ "$(sql "SELECT rolsuper FROM pg_roles WHERE rolname = current_user")" = t ] ||
	fail "$(sql "SELECT current_user") is not a superuser: set PGUSER to one ($where)"

want=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" "$REPO_ROOT/candidate_docs.control")
have=$(sql "SELECT default_version FROM pg_available_extensions WHERE name = 'candidate_docs'")
[ -n "$have" ] || fail "candidate_docs is not installed on the server: make install (or the package postgresql-NN-candidate-docs) first"
[ "$have" = "$want" ] || fail "the server has candidate_docs $have, the tests are for $want: install this version first"
for ext in file_fdw citext; do
	[ -n "$(sql "SELECT 1 FROM pg_available_extensions WHERE name = '$ext'")" ] ||
		fail "the extension $ext (PostgreSQL's contrib) is not installed on the server; the tests use it"
done
preload=$(sql "SHOW shared_preload_libraries")
case ",${preload// /}," in
*,candidate_docs,* | *,\$libdir/candidate_docs,*) ;;
*) fail "candidate_docs is not in the server's shared_preload_libraries ('$preload'): add it and restart the server (the tests read the shared request budget and statistics)" ;;
esac

if [ -z "${PG_SERVER_LOG:-}" ]; then
	datadir=$(sql "SHOW data_directory")
	current=$(sql "SELECT coalesce(pg_current_logfile(), '')")
	if [ -n "$current" ]; then
		case $current in /*) ;; *) current=$datadir/$current ;; esac
		PG_SERVER_LOG=$current
	elif [ -r "$datadir/postmaster.pid" ]; then
		PG_SERVER_LOG=$(readlink "/proc/$(head -n 1 "$datadir/postmaster.pid")/fd/2" 2>/dev/null)
	fi
fi
[ -n "${PG_SERVER_LOG:-}" ] && [ -f "$PG_SERVER_LOG" ] && [ -r "$PG_SERVER_LOG" ] ||
	fail "the server's log file is not known or not readable: set PG_SERVER_LOG (the errors test reads a warning there)"
export PG_SERVER_LOG

if [ -n "${MOCK_URL:-}" ] && [ -n "${MOCK_PORT:-}" ] &&
	curl -s -o /dev/null --max-time 5 "$MOCK_URL/_mock/requests"; then
	exec "$@"
fi
work=$(mktemp -d /tmp/candidate_docs_installcheck.XXXXXX)
mock_pid=
stop_mock() {
	[ -z "$mock_pid" ] || kill "$mock_pid" 2>/dev/null
	[ -z "$mock_pid" ] || wait "$mock_pid" 2>/dev/null
	rm -rf "$work"
}
trap stop_mock EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
python3 "$REPO_ROOT/test/mock_api.py" --host 127.0.0.1 --port 0 --port-file "$work/port" \
	</dev/null >"$work/mock.log" 2>&1 &
mock_pid=$!
for _ in $(seq 100); do
	[ -s "$work/port" ] && break
	kill -0 "$mock_pid" 2>/dev/null || break
	sleep 0.1
done
[ -s "$work/port" ] || { cat "$work/mock.log" >&2; fail "the mock API did not start"; }
MOCK_PORT=$(cat "$work/port")
MOCK_URL=http://127.0.0.1:$MOCK_PORT
export MOCK_PORT MOCK_URL
say "installcheck: mock API on $MOCK_URL, server log $PG_SERVER_LOG"
"$@"
