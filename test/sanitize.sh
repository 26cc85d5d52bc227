#!/usr/bin/env bash
# test/sanitize.sh -- the sanitizer build behind `make test-asan` (SANITIZE=1 make test)
#
# Usage:
#   eval "$(test/sanitize.sh prepare)"   build and install; prints the exports below
#   test/sanitize.sh verify DIR          with a running test cluster (its
#                                        environment): is the server under ASan,
#                                        with the sanitizer build loaded?
#   test/sanitize.sh check DIR [LOG...]  list the sanitizer reports (report files,
#                                        and reports in the server logs LOG);
#                                        non-zero if any
#   test/sanitize.sh clean DIR           remove DIR (kept if KEEP_TMP=1)
#
# prepare:
#  1. copies the source tree (no .git, no build products) to DIR/tree, so
#     that neither the checkout's objects nor its test output are touched;
#  2. builds it there with gcc and SANITIZE=1 (Makefile: -fsanitize=address,
#     undefined -fno-omit-frame-pointer, warnings are errors);
#  3. makes a private PostgreSQL installation DIR/inst: a copy of the
#     server's bin directory (PostgreSQL finds its lib and share directories
#     relative to its binaries) with links to everything in lib and share
#     but candidate_docs, and installs the sanitized build there. The
#     system's installation is left alone, so a `make test` running beside
#     this one keeps its own build;
#  4. prints the exports for test/run_tests.sh and test/cluster.sh:
#       SANITIZE_DIR        DIR, a temporary directory
#       SANITIZE_TREE       the copied tree, where the tests run
#       PG_CONFIG           the private installation's pg_config
#       CLUSTER_SERVER_ENV  for the server: LD_PRELOAD of gcc's libasan (the
#                           runtime must come first; PostgreSQL itself is not
#                           instrumented) and of test/sanitize_preload.c (see
#                           there why), ASAN_OPTIONS=detect_leaks=0:
#                           abort_on_error=1:log_path=DIR/reports/asan and
#                           UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:
#                           log_path=DIR/reports/ubsan
#
# ASan checks what the extension does with malloc'd memory (libcurl, jansson,
# its own) and its stack and globals; palloc'd memory is PostgreSQL's own and
# is not checked. Leaks are not detected: the server is not built with ASan.
# gcc's UBSan runtime writes its reports to stderr whatever log_path says, and
# once it has started, ASan's reports go to DIR/reports/ubsan.*: check reads
# the report files and the server log.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cmd_prepare() {
	local dir tree inst sys_config private_config libasan reports
	sys_config=$(pg_config_cmd)
	libasan=$(readlink -f "$(gcc -print-file-name=libasan.so)")
	[ -f "$libasan" ] || die "gcc's libasan.so not found (libasan of gcc's version)"
	dir=$(mktemp -d /tmp/candidate_docs_asan.XXXXXX)
	chmod 755 "$dir"
	tree=$dir/tree
	inst=$dir/inst
	reports=$dir/reports
	# the server runs as postgres and writes its reports here
	mkdir -m 1777 "$reports"

	copy_tree "$tree"
	gcc -shared -fPIC -O2 -Wall -Werror -o "$dir/sanitize_preload.so" \
		"$tree/test/sanitize_preload.c" >&2 ||
		{ cmd_clean "$dir"; die "building test/sanitize_preload.c failed"; }
	make -C "$tree" -s PG_CONFIG="$sys_config" SANITIZE=1 with_llvm=no >&2 ||
		{ cmd_clean "$dir"; die "the sanitizer build failed"; }
	private_config=$(private_install "$inst" "$sys_config") ||
		{ cmd_clean "$dir"; exit 1; }
	make -C "$tree" -s PG_CONFIG="$sys_config" SANITIZE=1 with_llvm=no \
		DESTDIR="$inst" install >&2 ||
		{ cmd_clean "$dir"; die "installing the sanitizer build failed"; }
	say "sanitize: ASan+UBSan build in $tree, installed in $inst"
	cat <<-EOF
		export SANITIZE_DIR='$dir'
		export SANITIZE_TREE='$tree'
		export PG_CONFIG='$private_config'
		export CLUSTER_SERVER_ENV='LD_PRELOAD=$libasan:$dir/sanitize_preload.so ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:log_path=$reports/asan UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan'
	EOF
}

# verify: a backend that loaded the extension must have both the ASan
# runtime and the sanitizer build of candidate_docs.so mapped; otherwise
# the tests would pass without checking anything
cmd_verify() {
	local dir=$1 maps
	maps=$("$PG_BINDIR/psql" -X -At -d postgres \
		-c "LOAD 'candidate_docs'; SELECT pg_read_file('/proc/self/maps')") ||
		{ echo "sanitizer setup ... FAILED (could not read a backend's memory map)"; return 1; }
	if ! grep -q '/libasan\.so' <<<"$maps"; then
		echo "sanitizer setup ... FAILED (the server runs without the ASan runtime)"
		return 1
	fi
	if ! grep -q "^.* $dir/inst/.*/candidate_docs\.so\$" <<<"$maps"; then
		echo "sanitizer setup ... FAILED (the server did not load the sanitizer build)"
		return 1
	fi
	if ! grep -q "^.* $dir/sanitize_preload\.so\$" <<<"$maps"; then
		echo "sanitizer setup ... FAILED (test/sanitize_preload.c is not loaded)"
		return 1
	fi
	echo "sanitizer setup ... ok"
}

# check: each report file, and each report in the server log, is a failure;
# print them all
cmd_check() {
	local dir=$1 log f n=0
	shift
	for f in "$dir"/reports/asan.* "$dir"/reports/ubsan.*; do
		[ -e "$f" ] || continue
		n=$((n + 1))
		say "==== sanitizer report ${f##*/} ===="
		cat "$f" >&2
	done
	# UBSan: "file:line:col: runtime error: ..."; ASan: "==pid==ERROR: ..."
	for log in "$@"; do
		grep -qE '^[^ ]+:[0-9]+:[0-9]+: runtime error: |^==[0-9]+==(ERROR|WARNING): ' "$log" || continue
		n=$((n + 1))
		say "==== sanitizer reports in the server log $log ===="
		grep -E -A 40 '^[^ ]+:[0-9]+:[0-9]+: runtime error: |^==[0-9]+==(ERROR|WARNING): ' "$log" >&2
	done
	if [ "$n" -eq 0 ]; then
		echo "sanitizer reports ... ok (none)"
	else
		echo "sanitizer reports ... FAILED ($n report files or server log)"
		return 1
	fi
}

cmd_clean() {
	local dir=$1
	if [ "${KEEP_TMP:-}" = 1 ]; then
		say "sanitize: files kept in $dir"
	else
		rm -rf "$dir"
	fi
}

case "${1:-}" in
prepare) cmd_prepare ;;
verify) cmd_verify "${2:?give the directory}" ;;
check) cmd_check "${2:?give the directory}" "${@:3}" ;;
clean) cmd_clean "${2:?give the directory}" ;;
*)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
	;;
esac
