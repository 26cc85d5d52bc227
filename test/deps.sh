#!/usr/bin/env bash
# test/deps.sh -- install the packages needed to build and test candidate_docs
#
# Debian/Ubuntu only (apt-get). Installs, for the PostgreSQL major version of
# the installed server (PG_MAJOR=NN to choose; otherwise the highest one under
# /usr/lib/postgresql), whichever of these are missing:
#   postgresql-server-dev-NN   headers and PGXS
#   libcurl4-openssl-dev       HTTP client
#   libjansson-dev             JSON parser
#   postgresql-NN-cron         pg_cron, preloaded by the test cluster
#   libipc-run-perl            IPC::Run, for the TAP tests
#   curl                       the pg_regress tests drive the mock API with it
#   ca-certificates            the system's CA bundle, which libcurl trusts
#   clang-14                   the fuzz targets (test/fuzz, libFuzzer)
#   libclang-rt-14-dev         clang's sanitizer runtimes, LeakSanitizer included
# (the last two not with FUZZ_SECONDS=0, which runs no fuzz target).
# (`make test-asan` uses gcc's own libasan, which comes with gcc.)
# Nothing is done (no apt-get update either) when all are installed.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

major=$(pg_major)
packages=(
	"postgresql-server-dev-$major"
	libcurl4-openssl-dev
	libjansson-dev
	"postgresql-$major-cron"
	libipc-run-perl
	curl
	ca-certificates
)
if [ "${FUZZ_SECONDS:-}" != 0 ]; then
	packages+=(clang-14 libclang-rt-14-dev)
fi

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

missing=()
for p in "${packages[@]}"; do
	installed "$p" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
	say "deps: all packages installed (PostgreSQL $major)"
	exit 0
fi

command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: ${missing[*]}"
say "deps: installing ${missing[*]}"
run_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
run_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends "${missing[@]}"
