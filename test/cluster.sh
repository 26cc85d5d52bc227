#!/usr/bin/env bash
# test/cluster.sh -- a throwaway PostgreSQL cluster plus the mock API, for tests
#
# Usage:
#   eval "$(test/cluster.sh start)"   start both; prints the exports below
#   test/cluster.sh env [DIR]         print the exports again
#   test/cluster.sh stop [DIR]        stop both and remove DIR (kept if KEEP_TMP=1)
#   test/cluster.sh resetdb [DIR]     drop the test database, restart the server
#   test/cluster.sh restart DIR [NAME=VALUE ...]
#                                     restart the server, with these variables
#                                     added to its environment until the next
#                                     restart (e.g. MALLOC_PERTURB_=165)
#
# DIR defaults to $TEST_CLUSTER_DIR, which `start` exports. Interactive use:
#   make install && eval "$(test/cluster.sh start)"
#   psql -d postgres                       # or: make installcheck
#   curl "$MOCK_URL/_mock/requests"
#   test/cluster.sh stop
# `make installcheck` creates the database contrib_regression from scratch; to
# run it again on the same cluster, first: test/cluster.sh resetdb
#
# CLUSTER_LOG_DIR: `stop` copies the server log there first (as NAME.log,
# NAME the cluster directory's), so that the sanitizer and assertion checks
# of test/run_tests.sh read the clusters tests start of their own too.
#
# Exports:
#   TEST_CLUSTER_DIR  the temporary directory holding everything below
#   PGHOST PGPORT PGUSER PGDATABASE
#                     unix socket directory, port (also on 127.0.0.1),
#                     superuser postgres, database contrib_regression
#   PGDATA            data directory (the server runs as OS user postgres)
#   PG_BINDIR         server binaries (pg_ctl, ...)
#   PG_SERVER_LOG     the server log file
#   MOCK_PORT MOCK_URL
#                     the mock API (http://127.0.0.1:$MOCK_PORT)
#   MOCK_LOG          the mock's stdout and stderr
#   MOCK_API          the mock script, for tests that start their own
#
# Server settings: shared_preload_libraries = '$CLUSTER_PRELOAD' (default
# 'pg_cron,candidate_docs': the shared request budget and statistics), with
# cron.database_name = '$CRON_DATABASE' (default contrib_regression), trust
# authentication, fsync off. MOCK_API may name another mock script (default
# test/mock_api.py); MOCK_ARGS adds options to the mock's command line.
#
# CLUSTER_SERVER_ENV: "NAME=VALUE ..." (values without spaces) set for the
# server alone, on start and on restart: pg_ctl and the postmaster it starts,
# not psql or the tests. Empty by default. `make test-asan` uses it to preload
# the ASan runtime (LD_PRELOAD) and to give the sanitizer options.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PG_CONFIG=$(pg_config_cmd)
bindir=$("$PG_CONFIG" --bindir) || die "$PG_CONFIG --bindir failed"
cron_db=${CRON_DATABASE:-contrib_regression}
mock_api=${MOCK_API:-$REPO_ROOT/test/mock_api.py}
preload=${CLUSTER_PRELOAD-pg_cron,candidate_docs}

free_port() {
	python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

# server_ctl DIR ARGS...: pg_ctl on DIR's data directory, as the server's
# user, in the environment CLUSTER_SERVER_ENV gave at start (DIR/server.env)
server_ctl() {
	local dir=$1 envs=()
	shift
	[ -s "$dir/server.env" ] && read -r -a envs <"$dir/server.env"
	if [ ${#envs[@]} -gt 0 ]; then
		as_postgres env "${envs[@]}" "$bindir/pg_ctl" -D "$dir/data" "$@"
	else
		as_postgres "$bindir/pg_ctl" -D "$dir/data" "$@"
	fi
}

print_env() {
	local dir=$1
	[ -f "$dir/env" ] || die "no cluster in $dir"
	cat "$dir/env"
}

start_server() {
	local dir=$1 port
	port=$(free_port)
	# trust authentication: only the server's user (and root) may use the socket
	mkdir -m 700 "$dir/sock"
	chown -R postgres: "$dir" 2>/dev/null || true
	as_postgres "$bindir/initdb" -D "$dir/data" -U postgres --auth=trust --no-sync \
		-E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
		{ cat "$dir/initdb.log" >&2; die "initdb failed"; }
	cat >>"$dir/data/postgresql.conf" <<-EOF

		# test cluster settings
		port = $port
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$dir/sock'
		shared_preload_libraries = '$preload'
		cron.database_name = '$cron_db'
		cron.host = '$dir/sock'
		max_worker_processes = 16
		log_min_messages = warning
		logging_collector = off
		fsync = off
	EOF
	printf '%s\n' "${CLUSTER_SERVER_ENV:-}" >"$dir/server.env"
	server_ctl "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null ||
		{ tail -n 50 "$dir/server.log" >&2; die "the server did not start"; }
	echo "$port"
}

start_mock() {
	local dir=$1 i
	[ -f "$mock_api" ] || die "mock API not found: $mock_api"
	# shellcheck disable=SC2086
	python3 "$mock_api" --host 127.0.0.1 --port 0 --port-file "$dir/mock.port" ${MOCK_ARGS:-} \
		</dev/null >"$dir/mock.log" 2>&1 &
	echo $! >"$dir/mock.pid"
	for i in $(seq 100); do
		[ -s "$dir/mock.port" ] && { cat "$dir/mock.port"; return; }
		kill -0 "$(cat "$dir/mock.pid")" 2>/dev/null || break
		sleep 0.1
	done
	cat "$dir/mock.log" >&2
	die "the mock API did not start within 10 s"
}

cmd_start() {
	local dir pgport mockport
	dir=$(mktemp -d /tmp/candidate_docs_test.XXXXXX)
	chmod 755 "$dir"
	# on failure, stop what was started
	pgport=$(start_server "$dir") || { cmd_stop "$dir"; exit 1; }
	mockport=$(start_mock "$dir") || { cmd_stop "$dir"; exit 1; }
	cat >"$dir/env" <<-EOF
		export TEST_CLUSTER_DIR='$dir'
		export PGHOST='$dir/sock'
		export PGPORT='$pgport'
		export PGUSER='postgres'
		export PGDATABASE='$cron_db'
		export PGDATA='$dir/data'
		export PG_BINDIR='$bindir'
		export PG_SERVER_LOG='$dir/server.log'
		export MOCK_PORT='$mockport'
		export MOCK_URL='http://127.0.0.1:$mockport'
		export MOCK_LOG='$dir/mock.log'
		export MOCK_API='$mock_api'
	EOF
	say "cluster: PostgreSQL on port $pgport (socket $dir/sock), mock API on port $mockport"
	print_env "$dir"
}

cmd_stop() {
	local dir=$1 pid i
	[ -d "$dir" ] || die "no cluster directory $dir"
	if [ -f "$dir/mock.pid" ]; then
		pid=$(cat "$dir/mock.pid")
		if kill "$pid" 2>/dev/null; then
			for i in $(seq 50); do
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			kill -KILL "$pid" 2>/dev/null || true
		fi
		rm -f "$dir/mock.pid"
	fi
	if [ -f "$dir/data/postmaster.pid" ]; then
		as_postgres "$bindir/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null ||
			say "cluster: pg_ctl stop failed"
	fi
	# a test run checks the log of every cluster it started (run_tests.sh)
	if [ -n "${CLUSTER_LOG_DIR:-}" ] && [ -f "$dir/server.log" ]; then
		cp "$dir/server.log" "$CLUSTER_LOG_DIR/${dir##*/}.log" || true
	fi
	if [ "${KEEP_TMP:-}" = 1 ]; then
		say "cluster: stopped, files kept in $dir"
	else
		rm -rf "$dir"
		say "cluster: stopped"
	fi
}

# resetdb: drop the test database so that `make installcheck` can create it
# again. pg_cron's launcher stays connected to it, so DROP DATABASE needs
# WITH (FORCE), which ends the launcher for good: restart the server.
cmd_resetdb() {
	local dir=$1
	"$bindir/psql" -X -q -d postgres -v ON_ERROR_STOP=1 \
		-c "DROP DATABASE IF EXISTS \"$cron_db\" WITH (FORCE)"
	server_ctl "$dir" -l "$dir/server.log" -m fast -w -t 60 restart >/dev/null
}

# restart DIR [NAME=VALUE ...]: the server again, its usual environment plus
# the given variables (for this run of the server only)
cmd_restart() {
	local dir=$1 envs=()
	shift
	[ -s "$dir/server.env" ] && read -r -a envs <"$dir/server.env"
	as_postgres env "${envs[@]}" "$@" "$bindir/pg_ctl" -D "$dir/data" \
		-l "$dir/server.log" -m fast -w -t 60 restart >/dev/null
}

case "${1:-}" in
start) cmd_start ;;
restart) shift; cmd_restart "$@" ;;
stop) cmd_stop "${2:-${TEST_CLUSTER_DIR:?TEST_CLUSTER_DIR is not set: give the directory}}" ;;
env) print_env "${2:-${TEST_CLUSTER_DIR:?TEST_CLUSTER_DIR is not set: give the directory}}" ;;
resetdb) cmd_resetdb "${2:-${TEST_CLUSTER_DIR:?TEST_CLUSTER_DIR is not set: give the directory}}" ;;
*)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
	;;
esac
