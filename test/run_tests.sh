#!/usr/bin/env bash
# test/run_tests.sh -- `make test`: everything from a fresh machine to results
#
#  1. test/deps.sh installs missing packages
#  2. make (warnings are errors), and make install into a private copy of
#     the PostgreSQL installation (test/common.sh: private_install); the
#     system's installation is left alone
#  3. test/cluster.sh starts a throwaway cluster and the mock API
#  4. make installcheck: the pg_regress tests sql/*.sql against expected/*.out
#  5. prove: the TAP tests test/t/*.t and test/t/*.pl, run from test/ with the
#     environment of test/cluster.sh (PGHOST, PGPORT, PGUSER, PGDATABASE, PGDATA,
#     PG_BINDIR, PG_SERVER_LOG, MOCK_PORT, MOCK_URL, MOCK_API, ...) and
#     test/t/lib in PERL5LIB and PG_BINDIR first in PATH
#  6. the cluster and the mock are stopped, whatever happened
#  7. test/fuzz/run.sh runs each libFuzzer target for FUZZ_SECONDS (default
#     15 here; 0 skips)
# Beside steps 4-5 run test/mock_selftest.sh, which exercises the mock API on
# its own (every route and fault), and the TAP files of test/bg/, which wait
# long (a minute) on a cluster and mock of their own; their failures count
# as failed tests. TESTS=... leaves them out unless it names them
# (mock_selftest, bg/retry_cap.t).
#
# SANITIZE=1 (`make test-asan`): step 2 is test/sanitize.sh instead, which
# builds a copy of the tree with ASan and UBSan and installs it into a private
# copy of the PostgreSQL installation; steps 3-6 run in that copy, with the
# server started under the ASan runtime, and any sanitizer report is a
# failure. Step 7 is left out.
#
# Under SANITIZE=1 and CASSERT=1 the server log of every cluster a test
# starts of its own (test/cluster.sh copies each log to CLUSTER_LOG_DIR when
# the cluster stops) is checked as the main one is.
#
# CASSERT=1 (`make test-cassert`): step 2 is test/cassert.sh instead, which
# builds (once, then reuses from a cache outside the checkout) PostgreSQL with
# assertions and freed-memory clobbering, and pg_cron for it, then builds the
# extension against it in a copy of the tree and installs it into a private
# copy of that installation; steps 3-6 run in that copy against that server,
# and a failed assertion or a crashed backend in the server log is a failure.
# Step 7 is left out.
#
# TESTS="NAME ..." runs only these: pg_regress files by name (options) and
# TAP files by path under test/ (t/budget.t); the others are left out.
#
# On screen: one line per step ("build: ok (12 s)"), and the tests' own
# lines (pg_regress, prove, fuzz); everything, the build's and the
# installation's output included, goes to the log, $TEST_LOG (default
# log/test.log), whose end is shown when a step fails.
#
# Exits non-zero if any step or test failed. KEEP_TMP=1 keeps the cluster's
# directory (server log, mock log) and the sanitizer build for inspection.
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT" || exit 1

log=${TEST_LOG:-$REPO_ROOT/log/test.log}
mkdir -p "$(dirname "$log")" && : >"$log" || die "cannot write the log $log"
# step WHAT CMD...: CMD with its output in the log, and one line on screen;
# on failure, the end of the log too
step() {
	local what=$1 start=$SECONDS
	shift
	printf '\n==== %s\n' "$what" >>"$log"
	if "$@" >>"$log" 2>&1; then
		say "$what: ok ($((SECONDS - start)) s)"
		return 0
	fi
	say "$what: FAILED ($((SECONDS - start)) s); the end of the log ($log):"
	tail -n 40 "$log" >&2
	return 1
}
# into FILE CMD...: CMD with its standard output in FILE (for step)
into() {
	local file=$1
	shift
	"$@" >"$file"
}
# shown CMD...: CMD with its output on screen and in the log
shown() {
	"$@" 2>&1 | tee -a "$log"
}
envfile=$log.env

step "packages" bash test/deps.sh || die "installing dependencies failed"
sanitize=${SANITIZE:-0}
cassert=${CASSERT:-0}
[ "$sanitize" = 1 ] && [ "$cassert" = 1 ] && die "SANITIZE=1 and CASSERT=1 are separate runs"
if [ "$cassert" = 1 ]; then
	step "assertion-enabled build" into "$envfile" bash test/cassert.sh prepare ||
		die "the assertion-enabled build failed"
	eval "$(cat "$envfile")"
	trap 'bash test/cassert.sh clean "$CASSERT_DIR"' EXIT
	# everything below runs in the copy that was built
	REPO_ROOT=$CASSERT_TREE
	cd "$REPO_ROOT" || exit 1
elif [ "$sanitize" = 1 ]; then
	step "sanitizer build" into "$envfile" bash test/sanitize.sh prepare ||
		die "the sanitizer build failed"
	eval "$(cat "$envfile")"
	trap 'bash test/sanitize.sh clean "$SANITIZE_DIR"' EXIT
	# everything below runs in the copy that was built
	REPO_ROOT=$SANITIZE_TREE
	cd "$REPO_ROOT" || exit 1
else
	sys_config=$(pg_config_cmd)
	step "build" make PG_CONFIG="$sys_config" || die "build failed"
	# a private installation, so that the system's one (and a test run of
	# another checkout beside this one) is left alone
	INSTALL_DIR=$(mktemp -d /tmp/candidate_docs_inst.XXXXXX)
	chmod 755 "$INSTALL_DIR"
	trap 'rm -rf "$INSTALL_DIR"' EXIT
	step "private installation" into "$envfile" private_install "$INSTALL_DIR" "$sys_config" ||
		die "private installation failed"
	PG_CONFIG=$(cat "$envfile")
	# with_llvm=no: the private lib/bitcode is a link to the system's
	step "install" make PG_CONFIG="$sys_config" with_llvm=no DESTDIR="$INSTALL_DIR" install ||
		die "make install failed"
fi
export PG_CONFIG
if [ "$sanitize" = 1 ] || [ "$cassert" = 1 ]; then
	CLUSTER_LOG_DIR=${SANITIZE_DIR:-${CASSERT_DIR:-}}/server_logs
	mkdir -p "$CLUSTER_LOG_DIR" || die "cannot create $CLUSTER_LOG_DIR"
	export CLUSTER_LOG_DIR
fi

stop_all() {
	bash test/cluster.sh stop "$TEST_CLUSTER_DIR"
	[ "$sanitize" = 1 ] && bash test/sanitize.sh clean "$SANITIZE_DIR"
	[ "$cassert" = 1 ] && bash test/cassert.sh clean "$CASSERT_DIR"
	[ -n "${INSTALL_DIR:-}" ] && rm -rf "$INSTALL_DIR"
}
step "cluster and mock API" into "$envfile" bash test/cluster.sh start ||
	die "starting the test cluster failed"
eval "$(cat "$envfile")"
rm -f "$envfile"
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

failed=0
if [ "$sanitize" = 1 ]; then
	bash test/sanitize.sh verify "$SANITIZE_DIR" || failed=1
fi
if [ "$cassert" = 1 ]; then
	bash test/cassert.sh verify "$CASSERT_DIR" || failed=1
fi

shopt -s nullglob
regress=(sql/*.sql)
tap=(test/t/*.t test/t/*.pl)
bg=(test/bg/*.t)
selftest=1
if [ -n "${TESTS:-}" ]; then
	regress=() tap=() bg=() selftest=0
	for t in $TESTS; do
		case $t in
		mock_selftest) selftest=1 ;;
		bg/*.t) [ -f "test/$t" ] || die "no TAP test test/$t"; bg+=("test/$t") ;;
		*.t | *.pl) [ -f "test/$t" ] || die "no TAP test test/$t"; tap+=("test/$t") ;;
		*) [ -f "sql/$t.sql" ] || die "no pg_regress test sql/$t.sql"; regress+=("sql/$t.sql") ;;
		esac
	done
fi
# the mock's self-test starts a mock of its own: it runs beside the tests
selftest_pid=
if [ "$selftest" = 1 ]; then
	selftest_out=$(mktemp /tmp/candidate_docs_selftest.XXXXXX)
	bash test/mock_selftest.sh >"$selftest_out" 2>&1 &
	selftest_pid=$!
fi
bg_pid=
if [ ${#bg[@]} -gt 0 ]; then
	bg_out=$(mktemp /tmp/candidate_docs_bg.XXXXXX)
	(cd test && PERL5LIB="$REPO_ROOT/test/t/lib${PERL5LIB:+:$PERL5LIB}" \
		PATH="$PG_BINDIR:$PATH" prove -f --directives "${bg[@]#test/}") >"$bg_out" 2>&1 &
	bg_pid=$!
fi

if [ ${#regress[@]} -gt 0 ]; then
	names=$(printf '%s\n' "${regress[@]}" | sed 's|^sql/||; s|\.sql$||' | sort | tr '\n' ' ')
	if ! shown make -s PG_CONFIG="$PG_CONFIG" installcheck REGRESS="$names" \
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

if [ ${#tap[@]} -gt 0 ]; then
	mapfile -t tap < <(printf '%s\n' "${tap[@]#test/}" | sort)
	# pg_regress creates the database; make sure it exists for the TAP tests
	if [ -z "$("$PG_BINDIR/psql" -X -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$PGDATABASE'")" ]; then
		"$PG_BINDIR/createdb" "$PGDATABASE" || failed=1
	fi
	export PERL5LIB="$REPO_ROOT/test/t/lib${PERL5LIB:+:$PERL5LIB}"
	export PATH="$PG_BINDIR:$PATH"
	# --directives: each skipped subtest is shown ("ok N # skip why"), for .ci/run
	shown bash -c 'cd test && exec prove -f --directives "$@"' prove "${tap[@]}" || failed=1
else
	say "no TAP tests in test/t/"
fi

if [ -n "$selftest_pid" ]; then
	if wait "$selftest_pid"; then
		say "mock self-test ... ok ($(tail -n 1 "$selftest_out"))"
	else
		failed=1
		say "mock self-test ... FAILED"
		grep -v '^mock on port' "$selftest_out" >&2
	fi
	rm -f "$selftest_out"
fi
if [ -n "$bg_pid" ]; then
	wait "$bg_pid" || failed=1
	cat "$bg_out"
	rm -f "$bg_out"
fi

if [ "$failed" -ne 0 ]; then
	say "==== server log (last 100 lines) ===="
	tail -n 100 "$PG_SERVER_LOG" >&2
fi

# the cluster is stopped before the sanitizer reports are read (a process
# may report as it exits) and before fuzzing, which needs no cluster
trap - EXIT
bash test/cluster.sh stop "$TEST_CLUSTER_DIR"
[ -n "${INSTALL_DIR:-}" ] && rm -rf "$INSTALL_DIR"
# the main cluster's log and those of the clusters tests started
server_logs=("${CLUSTER_LOG_DIR:-/nonexistent}"/*.log)
if [ "$sanitize" = 1 ] || [ "$cassert" = 1 ]; then
	say "server logs checked: ${#server_logs[@]}"
	[ ${#server_logs[@]} -gt 0 ] || { say "no server log was kept"; failed=1; }
fi
if [ "$sanitize" = 1 ]; then
	bash test/sanitize.sh check "$SANITIZE_DIR" "${server_logs[@]}" || failed=1
	bash test/sanitize.sh clean "$SANITIZE_DIR"
	target="make test-asan"
elif [ "$cassert" = 1 ]; then
	bash test/cassert.sh check "${server_logs[@]}" || failed=1
	bash test/cassert.sh clean "$CASSERT_DIR"
	target="make test-cassert"
else
	PG_CONFIG=$sys_config FUZZ_SECONDS=${FUZZ_SECONDS:-15} shown bash test/fuzz/run.sh || failed=1
	target="make test"
fi

if [ "$failed" -ne 0 ]; then
	say "$target: FAILED (log: $log)"
	exit 1
fi
say "$target: all tests passed (log: $log)"
