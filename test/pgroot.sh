#!/usr/bin/env bash
# test/pgroot.sh -- the test suite on each supported PostgreSQL major, each on
# the Debian release that ships it
#
# Usage:
#   test/pgroot.sh majors              the majors tested: 15 17 18
#   test/pgroot.sh test MAJOR          the suite (test/run_tests.sh) on MAJOR
#   test/pgroot.sh test-all            the suite on every major, one after the
#                                      other; non-zero if any failed
#   test/pgroot.sh make MAJOR          make the root for MAJOR, or reuse it;
#                                      prints its directory
#   test/pgroot.sh shell MAJOR [CMD]   CMD (default: bash) in MAJOR's root,
#                                      with /proc and /dev mounted
#   test/pgroot.sh scratch MAJOR DIR CMD...
#                                      CMD in a throwaway copy of MAJOR's root
#                                      (an overlay: what CMD changes is gone
#                                      when it ends, the cached root is left
#                                      as it was), with DIR bound at /share
#                                      and the packages apt downloads kept in
#                                      $PGROOT_CACHE/RELEASE-pgNN.apt
#
# Each major is tested with Debian's own packages of it:
#   15  Debian 12 "bookworm"     17  Debian 13 "trixie"     18  Debian "forky"
# A major whose release is this machine's own runs here (test/run_tests.sh
# with PG_MAJOR=NN). The others run in a Debian root made with debootstrap
# (--variant=minbase) from the machine's own Debian mirror: the server, its
# headers and pg_cron of that major, libcurl, jansson, gcc, make, python3,
# perl with IPC::Run, curl, openssl and the CA certificates. The source tree
# (without .git and build products) is copied into the root, and
# test/run_tests.sh runs there under chroot with PG_MAJOR=NN; the test
# cluster runs as the root's OS user postgres, and the mock API in the root
# too. /proc, /dev, /dev/pts and /dev/shm (PostgreSQL's POSIX shared memory)
# are bound into the root in a mount namespace of the run's own (unshare),
# so that they are gone when it ends, however it ends. The fuzz targets run
# only on the machine's own major.
#
# Roots are cached in $PGROOT_CACHE (default /var/cache/candidate_docs/roots),
# one per release and major (e.g. trixie-pg17), made from scratch where absent
# and reused otherwise; a root without the stamp of a finished build (or made
# from another package list or mirror) is made again. Making one takes about
# 75 s and 1.5 GB (the server headers bring clang and LLVM). PGROOT_MIRROR
# overrides the mirror (default: the first non-security URI in
# /etc/apt/sources.list.d/*.sources or /etc/apt/sources.list).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

MAJORS=(15 17 18)
cache=${PGROOT_CACHE:-/var/cache/candidate_docs/roots}

# release MAJOR: the Debian release that ships MAJOR
release() {
	case $1 in
	15) echo bookworm ;;
	17) echo trixie ;;
	18) echo forky ;;
	*) die "PostgreSQL $1 is not tested (tested: ${MAJORS[*]})" ;;
	esac
}

host_release() {
	(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
}

root_packages() {
	local major=$1
	echo "postgresql-$major postgresql-server-dev-$major postgresql-$major-cron" \
		"libcurl4-openssl-dev libjansson-dev gcc make libc6-dev pkgconf" \
		"python3 perl libipc-run-perl curl ca-certificates openssl tzdata"
}

# mirror: PGROOT_MIRROR, else the machine's own Debian mirror
mirror() {
	local m=${PGROOT_MIRROR:-}
	if [ -z "$m" ]; then
		m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v RS= '
			/(^|\n)Suites:/ && !/(^|\n)Suites:[^\n]*-security/ &&
			match($0, /(^|\n)URIs: *[^ \n]+/) {
				u = substr($0, RSTART, RLENGTH); sub(/^\n?URIs: */, "", u)
				print u; exit
			}')
	fi
	if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
		m=$(awk '$1 == "deb" && $0 !~ /-security/ {
			for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit }
		}' /etc/apt/sources.list)
	fi
	[ -n "$m" ] || die "no Debian mirror found in /etc/apt (set PGROOT_MIRROR)"
	echo "$m"
}

# mounted_under DIR: is anything mounted at DIR or below it?
mounted_under() {
	awk -v d="$1" '$2 == d || index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/mounts
}

remove_root() {
	local dir=$1
	[ -e "$dir" ] || return 0
	mounted_under "$dir" && die "$dir has file systems mounted in it; not removing it"
	rm -rf --one-file-system "$dir"
}

# debootstrap_script RELEASE: debootstrap knows a release by its script;
# one it does not know yet is the testing release, made like sid
debootstrap_script() {
	local dir=/usr/share/debootstrap/scripts
	if [ -e "$dir/$1" ]; then echo "$dir/$1"; else echo "$dir/sid"; fi
}

# make_root MAJOR: the cached root for MAJOR, made if needed; prints its path
make_root() {
	local major=$1 rel dir recipe mirror_uri start
	rel=$(release "$major")
	dir=$cache/$rel-pg$major
	mirror_uri=$(mirror)
	recipe="release=$rel mirror=$mirror_uri packages=$(root_packages "$major")"
	mkdir -p "$cache"
	exec 9>"$dir.lock"
	flock 9
	if [ -f "$dir/.candidate_docs-root" ] && [ "$(cat "$dir/.candidate_docs-root")" = "$recipe" ]; then
		say "pgroot: reusing $dir"
		echo "$dir"
		return
	fi
	command -v debootstrap >/dev/null 2>&1 || {
		say "pgroot: installing debootstrap"
		DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap
	} >&2 || die "installing debootstrap failed"
	say "pgroot: making $dir ($rel from $mirror_uri)"
	start=$(date +%s)
	remove_root "$dir"
	remove_root "$dir.new"
	# in a mount namespace of its own: nothing it mounts outlives it
	if ! unshare --mount --propagation private debootstrap --variant=minbase --include="$(root_packages "$major" | tr ' ' ,)" \
		"$rel" "$dir.new" "$mirror_uri" "$(debootstrap_script "$rel")" >"$dir.log" 2>&1; then
		tail -n 30 "$dir.log" >&2
		remove_root "$dir.new"
		die "debootstrap of $rel failed (log: $dir.log)"
	fi
	[ -x "$dir.new/usr/lib/postgresql/$major/bin/pg_config" ] ||
		die "the root $dir.new has no PostgreSQL $major"
	rm -rf "$dir.new/var/cache/apt/archives/"*.deb
	mkdir -p "$dir.new/build"
	echo "$recipe" >"$dir.new/.candidate_docs-root"
	mv "$dir.new" "$dir"
	say "pgroot: made $dir in $(($(date +%s) - start)) s"
	echo "$dir"
}

# in_root DIR CMD...: CMD under chroot DIR, with /proc, /dev, /dev/pts and
# /dev/shm bound in; in a mount namespace of its own (unshare), so that
# nothing stays mounted once it ends, and unmounted by the trap besides
in_root() {
	local dir=$1
	shift
	unshare --mount --propagation private -- bash -c '
		set -eu
		dir=$1; shift
		mounted=()
		cleanup() {
			local i
			for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
				umount -l "${mounted[i]}" 2>/dev/null || true
			done
		}
		trap cleanup EXIT
		trap "exit 130" INT
		trap "exit 143" TERM
		mount -t proc proc "$dir/proc" && mounted+=("$dir/proc")
		for d in /dev /dev/pts /dev/shm; do
			mkdir -p "$dir$d"
			mount --bind "$d" "$dir$d" && mounted+=("$dir$d")
		done
		set +e
		chroot "$dir" "$@"
	' in_root "$dir" "$@"
}

# root_env NAME=VALUE...: the environment of a command in a root
root_env() {
	root_cmd=(/usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
		HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" "$@")
}

cmd_test() {
	local major=$1 rel dir rc root_cmd
	rel=$(release "$major")
	if [ "$rel" = "$(host_release)" ]; then
		say "pgroot: PostgreSQL $major on this machine ($rel)"
		PG_MAJOR=$major exec bash "$REPO_ROOT/test/run_tests.sh"
	fi
	[ "$(id -u)" = 0 ] || die "testing PostgreSQL $major in a Debian root needs root (chroot)"
	dir=$(make_root "$major")
	# global: the EXIT trap removes it
	tree=$(mktemp -d "$dir/build/candidate_docs.XXXXXX")
	chmod 755 "$tree"
	trap 'rm -rf --one-file-system "$tree"' EXIT
	copy_tree "$tree"
	say "pgroot: PostgreSQL $major in $dir ($rel)"
	set +e
	root_env PG_MAJOR="$major" FUZZ_SECONDS=0 KEEP_TMP="${KEEP_TMP:-}"
	in_root "$dir" "${root_cmd[@]}" bash -c 'cd "$1" && exec bash test/run_tests.sh' \
		run_tests "${tree#"$dir"}"
	rc=$?
	set -e
	# the run's full log, kept beside the checkout's own
	mkdir -p "$REPO_ROOT/log"
	cp "$tree/log/test.log" "$REPO_ROOT/log/test-pg$major.log" 2>/dev/null &&
		say "pgroot: log in log/test-pg$major.log"
	if [ "${KEEP_TMP:-}" = 1 ]; then
		trap - EXIT
		say "pgroot: tree kept in $tree"
	fi
	return "$rc"
}

cmd_test_all() {
	local major failed=() start results=()
	for major in "${MAJORS[@]}"; do
		start=$(date +%s)
		if bash "$0" test "$major"; then
			results+=("PostgreSQL $major: ok ($(($(date +%s) - start)) s)")
		else
			results+=("PostgreSQL $major: FAILED ($(($(date +%s) - start)) s)")
			failed+=("$major")
		fi
	done
	printf '%s\n' "${results[@]}" >&2
	[ ${#failed[@]} -eq 0 ] || die "failed on PostgreSQL ${failed[*]}"
}

# in_scratch DIR SHARE CMD...: CMD under chroot in an overlay on DIR, with
# SHARE at /share, apt's downloads cached, and /proc and /dev bound in; the
# overlay's changes are removed when CMD ends
in_scratch() {
	local dir=$1 share=$2 ov rc
	shift 2
	ov=$(mktemp -d /tmp/candidate_docs_scratch.XXXXXX)
	mkdir -p "$dir.apt"
	set +e
	unshare --mount --propagation private -- bash -c '
		set -eu
		lower=$1 ov=$2 share=$3
		shift 3
		mkdir -p "$ov/upper" "$ov/work" "$ov/root"
		mount -t overlay overlay -o "lowerdir=$lower,upperdir=$ov/upper,workdir=$ov/work" "$ov/root"
		mount -t proc proc "$ov/root/proc"
		for d in /dev /dev/pts /dev/shm; do
			mkdir -p "$ov/root$d"
			mount --bind "$d" "$ov/root$d"
		done
		mkdir -p "$ov/root/share"
		mount --bind "$share" "$ov/root/share"
		mount --bind "$lower.apt" "$ov/root/var/cache/apt/archives"
		set +e
		chroot "$ov/root" "$@"
	' scratch "$dir" "$ov" "$share" "$@"
	rc=$?
	set -e
	rm -rf --one-file-system "$ov"
	return "$rc"
}

cmd_scratch() {
	local major=$1 share=$2 dir root_cmd
	shift 2
	dir=$(make_root "$major")
	root_env PG_MAJOR="$major"
	in_scratch "$dir" "$share" "${root_cmd[@]}" "$@"
}

cmd_shell() {
	local major=$1 dir root_cmd
	shift
	dir=$(make_root "$major")
	[ $# -gt 0 ] || set -- bash
	root_env PG_MAJOR="$major"
	in_root "$dir" "${root_cmd[@]}" "$@"
}

case "${1:-}" in
majors) echo "${MAJORS[*]}" ;;
test) cmd_test "${2:?give the major}" ;;
test-all) cmd_test_all ;;
make) make_root "${2:?give the major}" ;;
shell) shift; major=${1:?give the major}; shift; cmd_shell "$major" "$@" ;;
scratch)
	shift
	major=${1:?give the major} share=${2:?give the directory to share}
	shift 2
	cmd_scratch "$major" "$(cd "$share" && pwd)" "$@"
	;;
*)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
	;;
esac
