#!/usr/bin/env bash
# test/demo.sh -- `make demo`: install candidate_docs and run test/demo.sql
#
# Installs missing packages, builds and installs the extension, starts a
# throwaway cluster (database candidate_docs_demo) and the mock API, runs
# test/demo.sql with psql (queries echoed), then stops everything.
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

bash test/deps.sh
PG_CONFIG=$(pg_config_cmd)
export PG_CONFIG
make PG_CONFIG="$PG_CONFIG"
run_root make PG_CONFIG="$PG_CONFIG" install

cluster_env=$(CRON_DATABASE=candidate_docs_demo bash test/cluster.sh start)
eval "$cluster_env"
trap 'bash test/cluster.sh stop "$TEST_CLUSTER_DIR"' EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ "$mode" = "the mock API" ]; then
	setvar checkr_url "$MOCK_URL/checkr/v1"
	setvar kombo_url "$MOCK_URL/kombo/v1"
fi

"$PG_BINDIR/createdb" "$PGDATABASE"
say ""
say "==== demo against $mode ===="
"$PG_BINDIR/psql" -X -e -v ON_ERROR_STOP=1 "${vars[@]}" -f test/demo.sql
