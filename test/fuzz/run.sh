#!/usr/bin/env bash
# test/fuzz/run.sh -- `make fuzz`: build the libFuzzer targets and run each
#
# Usage: test/fuzz/run.sh [TARGET...]    default: fuzz_envelope fuzz_story
#
# Builds test/fuzz/TARGET.c with the pure-C sources it drives (src/envelope.c,
# jsonscan.c, api.c, mime.c, story_check.c) and test/fuzz/pg_stubs.c, using
#   clang -g -O1 -fsanitize=fuzzer,address,undefined
# (UBSan findings abort too), then runs it for FUZZ_SECONDS (default 60)
# from the seeds in test/fuzz/corpus/NAME/ with the dictionary json.dict,
# -timeout=5 -rss_limit_mb=2048. Prints one line per target, which .ci/run
# counts:
#   fuzz fuzz_envelope ... ok (1234567 runs in 60 s)
#   fuzz fuzz_story ... FAILED (crash; input saved as test/fuzz/artifacts/crash-...)
# and exits non-zero if a build failed or a target crashed, leaked, hung or
# ran out of memory. The seeds are never modified: inputs found while fuzzing
# go to a temporary corpus.
#
# Environment:
#   FUZZ_SECONDS     time per target (default 60); 0 skips fuzzing
#   FUZZ_ARTIFACTS   where failing inputs are saved (default test/fuzz/artifacts)
#   FUZZ_BUILD_DIR   build there and keep the binaries (default: a temporary
#                    directory); reproduce with: $FUZZ_BUILD_DIR/TARGET FILE
#   FUZZ_CORPUS_DIR  keep the grown corpora there (NAME/ below it), reused
#                    by the next run (default: temporary)
#   CLANG            compiler (default clang-14, else clang)
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../common.sh"
cd "$REPO_ROOT" || exit 1

seconds=${FUZZ_SECONDS:-60}
artifacts=${FUZZ_ARTIFACTS:-$REPO_ROOT/test/fuzz/artifacts}
fuzz_dir=$REPO_ROOT/test/fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_envelope fuzz_story)
# the sources a target is linked with, besides itself and pg_stubs.c
fuzzed_sources=(src/envelope.c src/jsonscan.c src/api.c src/mime.c src/story_check.c)

if [ "$seconds" = 0 ]; then
	say "fuzz: FUZZ_SECONDS=0, not fuzzing"
	exit 0
fi
[[ "$seconds" =~ ^[0-9]+$ ]] || die "FUZZ_SECONDS must be a number of seconds"

clang=${CLANG:-}
if [ -z "$clang" ]; then
	for c in clang-14 clang; do
		command -v "$c" >/dev/null 2>&1 && { clang=$c; break; }
	done
fi
[ -n "$clang" ] || die "clang not found (test/deps.sh installs clang-14)"
PG_CONFIG=$(pg_config_cmd)
pg_includes=$("$PG_CONFIG" --includedir-server) || die "$PG_CONFIG --includedir-server failed"

work=$(mktemp -d /tmp/candidate_docs_fuzz.XXXXXX)
trap 'rm -rf "$work"' EXIT
build=${FUZZ_BUILD_DIR:-$work/build}
corpora=${FUZZ_CORPUS_DIR:-$work/corpus}
mkdir -p "$build" "$corpora" "$artifacts"

# PostgreSQL's headers use gcc-only attributes and macros clang warns about
cflags=(-g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
	-fno-omit-frame-pointer -Wall -Wno-ignored-attributes
	-Wno-compound-token-split-by-macro -Werror
	-I"$REPO_ROOT/src" -I"$pg_includes")
mapfile -t -O ${#cflags[@]} cflags < <(pkg-config --cflags-only-I libcurl jansson 2>/dev/null | tr ' ' '\n' | sed '/^$/d')
libs=(-ljansson)

symbolizer=$(command -v llvm-symbolizer || command -v llvm-symbolizer-14 || true)
[ -n "$symbolizer" ] && export ASAN_SYMBOLIZER_PATH=$symbolizer
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=0
for target in "${targets[@]}"; do
	name=${target#fuzz_}
	log=$work/$target.log
	[ -f "$fuzz_dir/$target.c" ] || die "no fuzz target $fuzz_dir/$target.c"

	if ! "$clang" "${cflags[@]}" -o "$build/$target" "$fuzz_dir/$target.c" \
		"$fuzz_dir/pg_stubs.c" "${fuzzed_sources[@]}" "${libs[@]}" >"$log" 2>&1; then
		cat "$log" >&2
		echo "fuzz $target ... FAILED (build)"
		failed=1
		continue
	fi

	mkdir -p "$corpora/$name"
	say "fuzz: running $target for $seconds s"
	"$build/$target" -max_total_time="$seconds" -timeout=5 -rss_limit_mb=2048 \
		-print_final_stats=1 -dict="$fuzz_dir/json.dict" \
		-artifact_prefix="$artifacts/" \
		"$corpora/$name" "$fuzz_dir/corpus/$name" >"$log" 2>&1
	rc=$?
	runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -n 1)
	if [ "$rc" -eq 0 ]; then
		echo "fuzz $target ... ok (${runs:-?} runs in $seconds s)"
	else
		saved=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
		say "==== $target: last 80 lines of the libFuzzer log ===="
		tail -n 80 "$log" >&2
		echo "fuzz $target ... FAILED (exit $rc after ${runs:-?} runs${saved:+; input saved as ${saved#"$REPO_ROOT"/}})"
		# keep the binary beside the input, to reproduce: BINARY INPUT
		cp "$build/$target" "$artifacts/$target" &&
			say "reproduce: ${artifacts#"$REPO_ROOT"/}/$target ${saved:-INPUT}"
		failed=1
	fi
done
exit "$failed"
