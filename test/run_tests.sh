#!/usr/bin/env bash
# test/run_tests.sh -- `make test`: everything from a fresh machine to results
#
#  1. test/deps.sh installs missing packages
#  2. make (warnings are errors) and make install
#  3. test/cluster.sh starts a throwaway cluster and the mock API
#  4. make installcheck: the pg_regress tests sql/*.sql against expected/*.out
#  5. prove: the TAP tests test/t/*.t and test/t/*.pl, run from test/ with the
#     environment of test/cluster.sh (PGHOST, PGPORT, PGUSER, PGDATABASE, PGDATA,
#     PG_BINDIR, PG_SERVER_LOG, MOCK_PORT, MOCK_URL, MOCK_API, ...) and
#     test/t/lib in PERL5LIB and PG_BINDIR first in PATH
#  6. the cluster and the mock are stopped, whatever happened
#
# Exits non-zero if any step or test failed. KEEP_TMP=1 keeps the cluster's
# directory (server log, mock log) for inspection.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT" || exit 1

bash test/deps.sh || die "installing dependencies failed"
PG_CONFIG=$(pg_config_cmd)
export PG_CONFIG
make PG_CONFIG="$PG_CONFIG" || die "build failed"
run_root make PG_CONFIG="$PG_CONFIG" install || die "make install failed"

cluster_env=$(bash test/cluster.sh start) || die "starting the test cluster failed"
eval "$cluster_env"
trap 'bash test/cluster.sh stop "$TEST_CLUSTER_DIR"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failed=0

shopt -s nullglob
regress=(sql/*.sql)
if [ ${#regress[@]} -gt 0 ]; then
	if ! make PG_CONFIG="$PG_CONFIG" installcheck \
		PGUSER="$PGUSER" PGHOST="$PGHOST" PGPORT="$PGPORT"; then
		failed=1
		if [ -f regression.diffs ]; then
			say "==== regression.diffs (first 300 lines) ===="
			head -n 300 regression.diffs
		fi
	fi
else
	say "no pg_regress tests in sql/"
fi

tap=(test/t/*.t test/t/*.pl)
if [ ${#tap[@]} -gt 0 ]; then
	mapfile -t tap < <(printf '%s\n' "${tap[@]#test/}" | sort)
	# pg_regress creates the database; make sure it exists for the TAP tests
	if [ -z "$("$PG_BINDIR/psql" -X -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PGDATABASE'")" ]; then
		"$PG_BINDIR/createdb" "$PGDATABASE" || failed=1
	fi
	export PERL5LIB="$REPO_ROOT/test/t/lib${PERL5LIB:+:$PERL5LIB}"
	export PATH="$PG_BINDIR:$PATH"
	(cd test && prove -f "${tap[@]}") || failed=1
else
	say "no TAP tests in test/t/"
fi

if [ "$failed" -ne 0 ]; then
	say "==== server log (last 100 lines) ===="
	tail -n 100 "$PG_SERVER_LOG" >&2
	say "make test: FAILED"
	exit 1
fi
say "make test: all tests passed"
