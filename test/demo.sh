#!/usr/bin/env bash
# test/demo.sh -- `make demo`: install candidate_docs and run test/demo.sql
#
# Installs missing packages, builds the extension and installs it into a
# private copy of the PostgreSQL installation (the system's own is left
# alone), starts a throwaway cluster (database candidate_docs_demo) and the
# mock API, runs test/demo.sql with psql (queries echoed), then stops
# everything. The output of those steps goes to a log file, shown (its end)
# only if a step fails: what is on screen is the demo.
#
# By default both APIs are the local mock. To use the real APIs instead, set
#   CHECKR_API_KEY         Checkr API key
#   CHECKR_CANDIDATE_ID    a Checkr candidate id whose documents to list
#   CHECKR_BASE_URL        optional, e.g. https://api.checkr-staging.com/v1
# and/or
#   KOMBO_API_KEY          Kombo API key
#   KOMBO_INTEGRATION_ID   Kombo integration id (X-Integration-Id)
#   KOMBO_CANDIDATE_ID     a Kombo candidate id whose attachments to list
#   KOMBO_BASE_URL         optional, e.g. https://api.us.kombo.dev/v1
# With only one API's key set, the other API's part of the demo is skipped.
# Against the real Checkr API the demo writes (an upload and, with
# CHECKR_REPORT_ID, a candidate story) only when DEMO_WRITES=1.
# The keys reach psql through the environment, never its command line, and
# are not echoed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

# psql variables for test/demo.sql
vars=()
setvar() { vars+=(-v "$1=$2"); }

if [ -n "${CHECKR_API_KEY:-}" ] || [ -n "${KOMBO_API_KEY:-}" ]; then
	mode="the real APIs"
	if [ -n "${CHECKR_API_KEY:-}" ]; then
		[ -n "${CHECKR_CANDIDATE_ID:-}" ] || die "CHECKR_API_KEY is set: set CHECKR_CANDIDATE_ID too"
		setvar use_checkr on
		setvar checkr_candidate "$CHECKR_CANDIDATE_ID"
		[ -z "${CHECKR_BASE_URL:-}" ] || setvar checkr_url "$CHECKR_BASE_URL"
	else
		setvar use_checkr off
		setvar checkr_candidate ''
	fi
	if [ -n "${KOMBO_API_KEY:-}" ]; then
		[ -n "${KOMBO_INTEGRATION_ID:-}" ] || die "KOMBO_API_KEY is set: set KOMBO_INTEGRATION_ID too"
		[ -n "${KOMBO_CANDIDATE_ID:-}" ] || die "KOMBO_API_KEY is set: set KOMBO_CANDIDATE_ID too"
		setvar use_kombo on
		setvar kombo_integration "$KOMBO_INTEGRATION_ID"
		setvar kombo_candidate "$KOMBO_CANDIDATE_ID"
		[ -z "${KOMBO_BASE_URL:-}" ] || setvar kombo_url "$KOMBO_BASE_URL"
	else
		setvar use_kombo off
		setvar kombo_candidate ''
	fi
	# the other sample employees have no ids at the real APIs
	for v in checkr_candidate2 checkr_candidate3 kombo_candidate2 kombo_candidate3; do
		setvar "$v" ''
	done
else
	mode="the mock API"
	export CHECKR_API_KEY=test_checkr_key KOMBO_API_KEY=test_kombo_key
fi

# Installing, building and starting go to a log file, shown only when a step
# fails: the first thing on screen is the demo itself.
log=$(mktemp /tmp/candidate_docs_demo.XXXXXX.log)
# step WHAT CMD...: CMD with its output in the log; on failure, the log
step() {
	local what=$1
	shift
	printf '\n---- %s\n' "$what" >>"$log"
	"$@" >>"$log" 2>&1 && return 0
	say "demo: $what failed; its output:"
	tail -n 60 "$log" >&2
	say "demo: the whole log is $log"
	exit 1
}

step "installing missing packages" bash test/deps.sh
sys_config=$(pg_config_cmd)
# built without JIT bitcode (the demo needs none), and installed into a
# private copy of the installation: the system's one is left alone
step "building" make -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$sys_config" with_llvm=no
install_dir=$(mktemp -d /tmp/candidate_docs_inst.XXXXXX)
chmod 755 "$install_dir"
cleanup() {
	[ -z "${TEST_CLUSTER_DIR:-}" ] || bash test/cluster.sh stop "$TEST_CLUSTER_DIR" >>"$log" 2>&1
	rm -rf "$install_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
step "preparing a private installation" private_install "$install_dir" "$sys_config"
PG_CONFIG=$install_dir$("$sys_config" --bindir)/pg_config
export PG_CONFIG
step "installing" make PG_CONFIG="$sys_config" with_llvm=no DESTDIR="$install_dir" install
start_cluster() {
	CRON_DATABASE=candidate_docs_demo bash test/cluster.sh start >"$install_dir/cluster.env"
}
step "starting a cluster and the mock API" start_cluster
eval "$(cat "$install_dir/cluster.env")"

if [ "$mode" = "the mock API" ]; then
	setvar checkr_url "$MOCK_URL/checkr/v1"
	setvar kombo_url "$MOCK_URL/kombo/v1"
fi

step "creating the database" "$PG_BINDIR/createdb" "$PGDATABASE"
say "==== candidate_docs demo against $mode ===="
if "$PG_BINDIR/psql" -X -e -v ON_ERROR_STOP=1 "${vars[@]}" -f test/demo.sql; then
	rm -f "$log"
else
	rc=$?
	say "demo: failed (build and server log: $log)"
	cat "$PG_SERVER_LOG" >>"$log" 2>/dev/null
	exit "$rc"
fi
