#!/usr/bin/env bash
# test/cassert.sh -- the assertion-enabled server behind `make test-cassert` (CASSERT=1 make test)
#
# Usage:
#   eval "$(test/cassert.sh prepare)"   build (or reuse) the server, build the
#                                       extension against it; prints the exports below
#   test/cassert.sh server              only build (or reuse) the server; prints its prefix
#   test/cassert.sh verify DIR          with a running test cluster (its
#                                       environment): is it the assertion-enabled
#                                       server, with the extension built for it loaded?
#   test/cassert.sh check LOG...        each server log LOG: a failed assertion
#                                       (TRAP:) or a backend ended by a signal
#                                       (but SIGKILL: a test kills on purpose)
#                                       is listed; non-zero if any
#   test/cassert.sh clean DIR           remove DIR (kept if KEEP_TMP=1)
#
# The server: PostgreSQL built from the distribution's source package of the
# installed server (apt-get source postgresql-NN, Debian's patches applied;
# the installed version's source first, else the newest one apt lists that
# the mirror still serves), configured with
#   --enable-cassert   Assert() checked; freed memory is overwritten with 0x7F
#                      (CLOBBER_FREED_MEMORY), a chunk's end is checked when it
#                      is freed (MEMORY_CONTEXT_CHECKING), and a deleted memory
#                      context's blocks are wiped
#   --enable-debug     symbols for a core file's backtrace
#   CPPFLAGS=-DRANDOMIZE_ALLOCATED_MEMORY
#                      new allocations are filled with garbage, not zeroes
# and without readline, ICU, zlib and the rest, which the tests do not need.
# Only the server, its client programs and the contrib modules the tests
# use (citext, file_fdw) are built (no documentation), make -j CASSERT_JOBS (default 2). Every installation directory is
# checked to be inside the prefix before the build, and `make install` goes
# to a staging directory first, so that nothing outside the prefix is ever
# written (Debian's patches would put the server's modules in
# /usr/lib/postgresql/NN/lib, the system server's own directory).
# pg_cron, which the test cluster preloads, is built from its own source
# package against that server and installed beside it; when no version of
# that source can be downloaded, the pg_cron.so of the installed binary
# package postgresql-NN-cron is copied in instead (same major version).
#
# The build is kept in CASSERT_CACHE (default /var/cache/candidate_docs), in a
# directory named after the server's source version, pg_cron's and a digest
# of the configure options: pgNN-cassert-VERSION-cron[bin]CRONVERSION-DIGEST.
# A second run finds it complete (its .complete file, written last, also
# records the build time) and builds nothing; runs at the same time wait for
# one another (flock on CASSERT_CACHE/.lock). An older build is left in
# place; remove the directory to reclaim the space.
# The source packages need a deb-src entry: when apt knows none, one is made
# from the configured deb entries, in /etc/apt/sources.list.d/candidate-docs-src.sources
# (rewritten only when it would change), and apt-get update is run.
#
# prepare then copies the source tree (no .git, no build products) to DIR/tree,
# builds the extension there with the cached server's pg_config (its headers,
# its CFLAGS: assertions in the extension are checked too), and installs it in
# a private installation DIR/inst (test/common.sh: private_install) so that
# the cache itself is never written by a test run. Prints:
#   CASSERT_DIR         DIR, a temporary directory
#   CASSERT_TREE        the copied tree, where the tests run
#   CASSERT_PREFIX      the cached server's installation prefix
#   PG_CONFIG           the private installation's pg_config
#
# An assertion failure aborts the backend (TRAP: in the server log); the
# postmaster then restarts every session, and the tests running fail.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

cache=${CASSERT_CACHE:-/var/cache/candidate_docs}
jobs=${CASSERT_JOBS:-2}
apt_src_file=/etc/apt/sources.list.d/candidate-docs-src.sources
configure_flags=(
	--enable-cassert --enable-debug
	--without-readline --without-icu --without-zlib
	--without-llvm --without-openssl --without-gssapi --without-ldap
	--without-pam --without-libxml --without-libxslt --without-systemd
	--without-lz4 --without-zstd --without-perl --without-python --without-tcl
	--disable-nls
)
configure_env=(CPPFLAGS=-DRANDOMIZE_ALLOCATED_MEMORY)
# packages the build itself needs; the source tarball carries the parser
# and scanner already generated, so neither bison nor flex is needed
build_packages=(dpkg-dev gcc make libc6-dev perl)
# the contrib modules the tests use
contrib_modules=(citext file_fdw)

installed() {
	[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

build_deps() {
	local p missing=()
	for p in "${build_packages[@]}"; do
		installed "$p" || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return
	say "cassert: installing ${missing[*]}"
	run_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	run_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
		--no-install-recommends "${missing[@]}" >&2
}

# deb_src_entries: a deb-src stanza (deb822) for each enabled deb entry,
# in sources.list.d/*.sources and in one-line form in sources.list(.d/*.list)
deb_src_entries() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[ -f "$f" ] && [ "$f" != "$apt_src_file" ] || continue
		awk '
			function flush() {
				if (n && deb && !disabled) {
					print "Types: deb-src"
					for (i = 1; i <= n; i++) print keep[i]
					print ""
				}
				n = 0; deb = 0; disabled = 0
			}
			/^[ \t]*#/ { next }
			/^[ \t]*$/ { flush(); next }
			tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1; next }
			tolower($1) == "enabled:" && tolower($2) == "no" { disabled = 1 }
			{ keep[++n] = $0 }
			END { flush() }
		' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[ -f "$f" ] || continue
		awk '
			$1 != "deb" { next }
			{
				i = 2; opts = ""
				if ($2 ~ /^\[/) {
					while (i <= NF) { opts = opts " " $i; if ($i ~ /\]$/) { i++; break } i++ }
					gsub(/[\[\]]/, "", opts)
				}
				print "Types: deb-src"
				print "URIs: " $i
				print "Suites: " $(i + 1)
				c = ""; for (j = i + 2; j <= NF; j++) c = c " " $j
				if (c != "") print "Components:" c
				m = split(opts, o, " ")
				for (j = 1; j <= m; j++) {
					split(o[j], kv, "=")
					if (kv[1] == "signed-by") print "Signed-By: " kv[2]
					else if (kv[1] == "arch") print "Architectures: " kv[2]
					else if (kv[1] == "trusted") print "Trusted: " kv[2]
				}
				print ""
			}
		' "$f"
	done
}

# ensure_deb_src PACKAGE: make apt know PACKAGE's source package
ensure_deb_src() {
	local pkg=$1 new
	[ -n "$(apt-cache showsrc "$pkg" 2>/dev/null)" ] && return
	new=$(deb_src_entries)
	[ -n "$new" ] || die "no deb entries in /etc/apt to derive a deb-src entry from"
	if [ "$(cat "$apt_src_file" 2>/dev/null)" != "$new" ]; then
		say "cassert: writing $apt_src_file"
		printf '%s\n' "$new" | run_root tee "$apt_src_file" >/dev/null
	fi
	run_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
	[ -n "$(apt-cache showsrc "$pkg" 2>/dev/null)" ] ||
		die "apt knows no source package for $pkg"
}

# versions_of BINARY: "SOURCE VERSION" lines of the source packages apt
# lists for the binary package BINARY: the installed package's version
# first, then the others, newest first
versions_of() {
	local bin=$1 current
	current=$(dpkg-query -W -f='${source:Version}' "$bin" 2>/dev/null || true)
	apt-cache showsrc "$bin" 2>/dev/null | awk -v cur="$current" '
		/^Package: / { pkg = $2 }
		/^Version: / { print ($2 == cur ? 0 : 1), pkg, $2 }
	' | sort -k1,1n -k3,3Vr | cut -d' ' -f2- | awk '!seen[$0]++'
}

# fetch SOURCE VERSION DIR: unpack the source package into DIR/src
fetch() {
	local src=$1 version=$2 dir=$3
	rm -rf "$dir"
	mkdir -p "$dir/dl"
	if ! (cd "$dir/dl" && apt-get source -qq --download-only "$src=$version") >"$dir/apt.log" 2>&1; then
		grep -E '^E: ' "$dir/apt.log" | head -n 3 >&2
		return 1
	fi
	dpkg-source -x "$dir/dl/${src}_${version#*:}.dsc" "$dir/src" >"$dir/unpack.log" 2>&1 ||
		{ cat "$dir/unpack.log" >&2; die "unpacking $src $version failed"; }
}

# fetch_first BINARY DIR: unpack the first of versions_of BINARY that can be
# downloaded (a mirror may list a source it no longer serves); prints
# "SOURCE VERSION"
fetch_first() {
	local bin=$1 dir=$2 src version
	while read -r src version; do
		if fetch "$src" "$version" "$dir"; then
			echo "$src $version"
			return
		fi
		say "cassert: $src $version could not be downloaded, trying the next version"
	done < <(versions_of "$bin")
	say "cassert: no source package of $bin could be downloaded"
	return 1
}

# install_cron_binary PREFIX: pg_cron's files from the installed binary
# package (built for the same major version), when no source can be had;
# prints its version
install_cron_binary() {
	local prefix=$1 bin f libdir sharedir
	bin=postgresql-$(pg_major)-cron
	installed "$bin" || die "$bin is not installed either (make deps)"
	libdir=$("$prefix/bin/pg_config" --pkglibdir)
	sharedir=$("$prefix/bin/pg_config" --sharedir)
	case $libdir:$sharedir in
	"$prefix"/*:"$prefix"/*) ;;
	*) die "$prefix/bin/pg_config names directories outside $prefix" ;;
	esac
	while read -r f; do
		case $f in
		*/lib/pg_cron.so) install -m 755 "$f" "$libdir/" ;;
		*/extension/pg_cron*) install -m 644 "$f" "$sharedir/extension/" ;;
		esac
	done < <(dpkg -L "$bin")
	[ -f "$libdir/pg_cron.so" ] || die "$bin has no pg_cron.so"
	dpkg-query -W -f='${source:Version}' "$bin"
}

# Debian's patches install the server's modules into /usr/lib/postgresql/NN/lib
# unless libdir names "postgres": give one that does, inside the prefix
libdir_rel=lib/postgresql

# check_layout PREFIX: run in the configured source tree; every installation
# directory must be inside PREFIX (else the install would overwrite the
# system's server)
check_layout() {
	local prefix=$1 d
	for d in $(make -s -f - show <<-'EOF'
		top_builddir = .
		subdir = .
		include src/Makefile.global
		show: ; @echo $(bindir) $(libdir) $(pkglibdir) $(datadir) $(includedir) $(includedir_server) $(pgxsdir) $(docdir) $(mandir) $(sysconfdir) $(localedir)
	EOF
	); do
		case $d in
		"$prefix"/*) ;;
		*) say "cassert: the configured tree installs into $d, outside $prefix"; return 1 ;;
		esac
	done
}

# stage_to_prefix STAGE PREFIX: what make install DESTDIR=STAGE wrote must
# all be under STAGE/PREFIX; it is then copied to PREFIX
stage_to_prefix() {
	local stage=$1 prefix=$2 stray
	stray=$(cd "$stage" && find . -mindepth 1 \( -type f -o -type l \) | grep -v "^\.$prefix/" | head -n 5)
	if [ -n "$stray" ]; then
		rm -rf "$prefix"
		die "the installation would write outside $prefix: $stray"
	fi
	mkdir -p "$prefix"
	cp -a "$stage$prefix/." "$prefix/"
}

# prefix_for PGVERSION CRONVERSION: the cache directory of that build
prefix_for() {
	local key kind=${3:-}
	key=$(printf '%s\n' "--libdir=PREFIX/$libdir_rel" "${configure_flags[@]}" "${configure_env[@]}" \
		"contrib: ${contrib_modules[*]}" |
		sha256sum | cut -c1-10)
	echo "$cache/pg$(pg_major)-cassert-${1//[:+~]/_}-cron$kind${2//[:+~]/_}-$key"
}

# build_server: build the server and pg_cron into the cache unless a
# complete build of a version apt lists is there already; prints the prefix
build_server() {
	local major pg cron prefix work t0 pg_src pg_version cron_src cron_version
	major=$(pg_major)
	mkdir -p "$cache"
	# one build at a time; a second run waits, then reuses it
	exec 9>"$cache/.lock"
	flock 9
	ensure_deb_src "postgresql-$major"
	ensure_deb_src "postgresql-$major-cron"
	while read -r _ pg; do
		while read -r _ cron; do
			for prefix in "$(prefix_for "$pg" "$cron")" "$(prefix_for "$pg" "$cron" bin)"; do
				if [ -f "$prefix/.complete" ]; then
					say "cassert: reusing $prefix"
					echo "$prefix"
					return
				fi
			done
		done < <(versions_of "postgresql-$major-cron")
	done < <(versions_of "postgresql-$major")

	build_deps
	# PostgreSQL's make generates its headers only when it is the top-level
	# make: forget the make that runs this script (make test-cassert)
	unset MAKELEVEL MAKEFLAGS MFLAGS
	work=$(mktemp -d "$cache/build.XXXXXX")
	# shellcheck disable=SC2064
	trap "rm -rf '$work'" EXIT
	t0=$(date +%s)
	read -r pg_src pg_version < <(fetch_first "postgresql-$major" "$work/pg") || true
	[ -n "${pg_version:-}" ] || die "no source package of postgresql-$major could be downloaded"
	read -r cron_src cron_version < <(fetch_first "postgresql-$major-cron" "$work/cron") || true
	if [ -n "${cron_version:-}" ]; then
		prefix=$(prefix_for "$pg_version" "$cron_version")
	else
		prefix=$(prefix_for "$pg_version" "$(dpkg-query -W -f='${source:Version}' "postgresql-$major-cron" 2>/dev/null)" bin)
	fi
	# .complete is written last: a build cut short is done again
	rm -rf "$prefix"
	say "cassert: building $pg_src $pg_version into $prefix"
	(
		cd "$work/pg/src"
		env "${configure_env[@]}" ./configure --prefix="$prefix" \
			--libdir="$prefix/$libdir_rel" "${configure_flags[@]}" \
			>"$work/configure.log" 2>&1 ||
			{ tail -n 40 "$work/configure.log" >&2; exit 1; }
		check_layout "$prefix" || exit 1
		make -s -j"$jobs" >"$work/make.log" 2>&1 ||
			{ tail -n 60 "$work/make.log" >&2; exit 1; }
		make -s -C src install DESTDIR="$work/stage" >"$work/install.log" 2>&1 &&
			make -s -C config install DESTDIR="$work/stage" >>"$work/install.log" 2>&1 ||
			{ tail -n 40 "$work/install.log" >&2; exit 1; }
		for m in "${contrib_modules[@]}"; do
			make -s -C "contrib/$m" install DESTDIR="$work/stage" >>"$work/install.log" 2>&1 ||
				{ tail -n 40 "$work/install.log" >&2; exit 1; }
		done
	) || die "building the server failed"
	stage_to_prefix "$work/stage" "$prefix"
	if [ -n "${cron_version:-}" ]; then
		make -s -C "$work/cron/src" PG_CONFIG="$prefix/bin/pg_config" -j"$jobs" \
			install DESTDIR="$work/stage-cron" >"$work/cron.log" 2>&1 ||
			{ tail -n 40 "$work/cron.log" >&2; rm -rf "$prefix"; die "building pg_cron failed"; }
		stage_to_prefix "$work/stage-cron" "$prefix"
	else
		say "cassert: using the pg_cron of the installed binary package instead"
		cron_version=$(install_cron_binary "$prefix") || { rm -rf "$prefix"; exit 1; }
		cron_src="postgresql-$major-cron (binary package)"
	fi
	printf 'postgresql %s\npg_cron %s %s\nconfigure %s %s\nbuild seconds %s\n' \
		"$pg_version" "$cron_src" "$cron_version" "${configure_env[*]}" "${configure_flags[*]}" \
		"$(($(date +%s) - t0))" >"$prefix/.complete"
	say "cassert: built $prefix in $(($(date +%s) - t0)) s"
	echo "$prefix"
}

cmd_prepare() {
	local prefix dir tree inst server_config private_config
	prefix=$(build_server) || exit 1
	server_config=$prefix/bin/pg_config
	"$server_config" --configure | grep -q -- "--enable-cassert" ||
		die "$server_config is not an assertion-enabled build"
	dir=$(mktemp -d /tmp/candidate_docs_cassert.XXXXXX)
	chmod 755 "$dir"
	tree=$dir/tree
	inst=$dir/inst
	copy_tree "$tree"
	echo "$server_config" >"$dir/built_with"
	make -C "$tree" -s PG_CONFIG="$server_config" >&2 ||
		{ cmd_clean "$dir"; die "building the extension against $prefix failed"; }
	private_config=$(private_install "$inst" "$server_config") ||
		{ cmd_clean "$dir"; exit 1; }
	make -C "$tree" -s PG_CONFIG="$server_config" DESTDIR="$inst" install >&2 ||
		{ cmd_clean "$dir"; die "installing the extension failed"; }
	say "cassert: extension built in $tree against $prefix, installed in $inst"
	cat <<-EOF
		export CASSERT_DIR='$dir'
		export CASSERT_TREE='$tree'
		export CASSERT_PREFIX='$prefix'
		export PG_CONFIG='$private_config'
	EOF
}

# verify: the server answers debug_assertions = on, and a backend that
# loaded the extension maps the private installation's postgres,
# candidate_docs.so and pg_cron.so; otherwise the tests would pass without
# checking anything
cmd_verify() {
	local dir=$1 asserts maps so built_with
	asserts=$("$PG_BINDIR/psql" -X -At -d postgres -c "SHOW debug_assertions") ||
		{ echo "cassert setup ... FAILED (could not connect)"; return 1; }
	if [ "$asserts" != on ]; then
		echo "cassert setup ... FAILED (debug_assertions is $asserts)"
		return 1
	fi
	maps=$("$PG_BINDIR/psql" -X -At -d postgres \
		-c "LOAD 'candidate_docs'; SELECT pg_read_file('/proc/self/maps')") ||
		{ echo "cassert setup ... FAILED (could not read a backend's memory map)"; return 1; }
	for so in bin/postgres candidate_docs.so pg_cron.so; do
		if ! grep -q "^.* $dir/inst/.*$so\$" <<<"$maps" &&
			! { [ "$so" = pg_cron.so ] && grep -q "^.* $CASSERT_PREFIX/.*/$so\$" <<<"$maps"; }; then
			echo "cassert setup ... FAILED ($so is not the one of the assertion-enabled build)"
			return 1
		fi
	done
	# the extension was built with the headers of the server it runs in
	built_with=$(cat "$dir/built_with")
	if [ "$built_with" != "$CASSERT_PREFIX/bin/pg_config" ] ||
		! grep -q '^#define USE_ASSERT_CHECKING 1' "$("$built_with" --includedir-server)/pg_config.h"; then
		echo "cassert setup ... FAILED (the extension was not built with the assertion-enabled headers)"
		return 1
	fi
	echo "cassert setup ... ok"
}

cmd_check() {
	# signal 9 (SIGKILL) is never an assertion: a test's own kill -9
	local log=$1 pat='^TRAP: |terminated by signal ([0-8]|[1-9][0-9])\b|was terminated by exception'
	if grep -qE "$pat" "$log"; then
		say "==== failed assertions and crashes in the server log ===="
		grep -E -B 2 -A 20 "$pat" "$log" >&2
		echo "cassert assertions ... FAILED ($(grep -cE "$pat" "$log") in the server log)"
		return 1
	fi
	echo "cassert assertions ... ok (none failed)"
}

cmd_clean() {
	local dir=$1
	if [ "${KEEP_TMP:-}" = 1 ]; then
		say "cassert: files kept in $dir"
	else
		rm -rf "$dir"
	fi
}

case "${1:-}" in
prepare) cmd_prepare ;;
server) build_server ;;
verify) cmd_verify "${2:?give the directory}" ;;
check)
	shift
	[ $# -gt 0 ] || die "give the server log"
	rc=0
	for log in "$@"; do cmd_check "$log" || rc=1; done
	exit $rc
	;;
clean) cmd_clean "${2:?give the directory}" ;;
*)
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
	;;
esac
