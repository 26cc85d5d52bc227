#!/usr/bin/env bash
# test/deb.sh -- the Debian packages postgresql-NN-candidate-docs, and their test
#
# Usage:
#   test/deb.sh build [MAJOR...]   `make deb`: build the package for each MAJOR
#                                  (default: 15 17 18) into deb/MAJOR/
#   test/deb.sh test [MAJOR...]    `make deb-test`: build, then test each one
#
# The packages are built the way Debian builds its own PostgreSQL extensions:
# debian/ uses pg_buildext (debhelper's pgxs_loop) for the majors of
# debian/pgversions whose server headers the build environment has
# (postgresql-server-dev-all), from a copy of the tree (without .git and
# build products). The machine's own major is built here, after installing
# whichever build dependencies are missing (build-essential, debhelper, dpkg-dev,
# postgresql-server-dev-all and -NN, libcurl4-openssl-dev, libjansson-dev,
# pkgconf); every other major in a throwaway copy of the Debian root that
# test/pgroot.sh keeps for it (test/pgroot.sh scratch), where they are
# installed first.
#
# The test, for each major, in a throwaway copy of its Debian root (which
# has the server but no build tree: only a copy of the test files, sql/,
# expected/, the Makefile and test/installcheck.sh with the mock API):
# installs the package with apt-get, checks that its dependencies are only
# libc, libcurl, libjansson and postgresql-NN, starts a server preloading
# candidate_docs, CREATE EXTENSION, and make installcheck against it. It
# prints one line per step, which .ci/run counts:
#   deb 17 build ... ok (52 s)
#   deb 17 installcheck ... ok (19 tests, 96 s)
# or "... FAILED (why)" followed by the end of that step's log; exits non-zero
# if any failed. The logs are in deb/MAJOR/ (build.log, test.log).
set -uo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT" || exit 1

out_root=$REPO_ROOT/deb
build_deps="build-essential debhelper dpkg-dev postgresql-server-dev-all libcurl4-openssl-dev libjansson-dev pkgconf"

host_major() {
	(PG_MAJOR= pg_major)
}

# the in-root scripts' apt-get: the testing release's Release file may be
# past its Valid-Until date
apt_env='export DEBIAN_FRONTEND=noninteractive
apt_q() { apt-get -q -y -o Acquire::Check-Valid-Until=false -o Acquire::Check-Date=false "$@"; }'

# build_script MAJOR DIR: the build, run in DIR/src (a copy of the tree);
# the packages land in DIR
build_script() {
	cat <<-EOF
		set -eux
		$apt_env
		if [ "\${INSTALL_DEPS:-1}" = 1 ]; then
			apt_q update
			apt_q install --no-install-recommends $build_deps postgresql-server-dev-$1
		fi
		cd $2/src
		PG_SUPPORTED_VERSIONS=$1 pg_buildext updatecontrol
		PG_SUPPORTED_VERSIONS=$1 dpkg-buildpackage -b -us -uc
	EOF
}

# build MAJOR: deb/MAJOR/postgresql-MAJOR-candidate-docs_*.deb
build_one() {
	local major=$1 dir=$out_root/$1 start=$SECONDS missing=() p
	rm -rf "$dir"
	mkdir -p "$dir/src"
	(REPO_ROOT=$REPO_ROOT copy_tree "$dir/src")
	if [ "$major" = "$(host_major)" ]; then
		build_script "$major" "$dir" >"$dir/build.sh"
	else
		build_script "$major" /share >"$dir/build.sh"
	fi
	if [ "$major" = "$(host_major)" ]; then
		for p in $build_deps "postgresql-server-dev-$major"; do
			[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || missing+=("$p")
		done
		if [ ${#missing[@]} -gt 0 ]; then
			say "deb: installing ${missing[*]}"
			run_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
				--no-install-recommends "${missing[@]}" >>"$dir/build.log" 2>&1 ||
				{ tail -n 30 "$dir/build.log" | sed 's/^/  | /' >&2; say "deb $major build ... FAILED (installing ${missing[*]})"; return 1; }
		fi
		INSTALL_DEPS=0 bash "$dir/build.sh" >>"$dir/build.log" 2>&1
	else
		bash test/pgroot.sh scratch "$major" "$dir" bash /share/build.sh >>"$dir/build.log" 2>&1
	fi
	if [ $? -ne 0 ] || ! ls "$dir"/postgresql-"$major"-candidate-docs_*.deb >/dev/null 2>&1; then
		say "deb $major build ... FAILED (log: $dir/build.log)"
		tail -n 30 "$dir/build.log" | sed 's/^/  | /' >&2
		return 1
	fi
	rm -rf "$dir/src" "$dir/build.sh"
	say "deb $major build ... ok ($((SECONDS - start)) s)"
}

# host_security: "deb URI RELEASE-security main" for this machine's own
# release, as its apt sources have it (empty if they have none)
host_security() {
	local rel
	rel=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
	cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk -v RS= -v rel="$rel" '
		/(^|\n)Types:[^\n]*deb( |\n|$)/ && /(^|\n)Suites:[^\n]*-security/ &&
		match($0, /(^|\n)URIs: *[^ \n]+/) {
			u = substr($0, RSTART, RLENGTH); sub(/^\n?URIs: */, "", u)
			print "deb " u " " rel "-security main"; exit
		}'
}

# test_script MAJOR [SOURCE]: the test, run in a throwaway root with
# deb/MAJOR at /share; SOURCE, an apt source line, is added first
test_script() {
	cat <<-EOF
		set -eu
		$apt_env
		major=$1
		echo "== install"
		if [ -n "${2:-}" ]; then
			echo "${2:-}" >/etc/apt/sources.list.d/candidate-docs-test.list
			apt_q update
		fi
		apt_q install --no-install-recommends /share/postgresql-\$major-candidate-docs_*.deb
		[ ! -e /share/src ] && [ ! -e /build/candidate_docs ]
		dpkg -L postgresql-\$major-candidate-docs | grep -q "/usr/lib/postgresql/\$major/lib/candidate_docs.so"
		depends=\$(dpkg-query -W -f='\${Depends}' postgresql-\$major-candidate-docs)
		echo "Depends: \$depends"
		for d in \$(echo "\$depends" | tr ',' '\n' | sed 's/(.*//; s/|.*//; s/ //g'); do
			case \$d in
			libc6 | libcurl4 | libcurl4t64 | libjansson4 | postgresql-\$major) ;;
			*) echo "unexpected dependency: \$d"; exit 1 ;;
			esac
		done
		echo "== server"
		bindir=/usr/lib/postgresql/\$major/bin
		mkdir -m 755 /tmp/pg
		chown postgres: /tmp/pg
		cd /
		runuser -u postgres -- \$bindir/initdb -D /tmp/pg/data -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
		port=\$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
		cat >>/tmp/pg/data/postgresql.conf <<-EOC
			port = \$port
			listen_addresses = '127.0.0.1'
			unix_socket_directories = '/tmp/pg'
			shared_preload_libraries = 'candidate_docs'
			fsync = off
		EOC
		runuser -u postgres -- \$bindir/pg_ctl -D /tmp/pg/data -l /tmp/pg/server.log -w start >/dev/null
		trap 'runuser -u postgres -- \$bindir/pg_ctl -D /tmp/pg/data -m fast -w stop >/dev/null' EXIT
		export PGHOST=/tmp/pg PGPORT=\$port PGUSER=postgres
		\$bindir/psql -X -v ON_ERROR_STOP=1 -d postgres -c "CREATE EXTENSION candidate_docs" \
			-c "SELECT extversion FROM pg_extension WHERE extname = 'candidate_docs'" \
			-c "DROP EXTENSION candidate_docs"
		echo "== make installcheck"
		cp -a /share/tests /tmp/tests
		cd /tmp/tests
		make installcheck PG_CONFIG=\$bindir/pg_config ||
			{ cat regression.diffs 2>/dev/null | head -n 100; exit 1; }
	EOF
}

test_one() {
	local major=$1 dir=$out_root/$1 start=$SECONDS n
	rm -rf "$dir/tests"
	mkdir -p "$dir/tests/test"
	cp -a Makefile candidate_docs.control sql expected "$dir/tests/"
	cp -a test/installcheck.sh test/common.sh test/mock_api.py "$dir/tests/test/"
	# built here, against this machine's server headers: its package may
	# need the server's security update, which the root lacks
	if [ "$major" = "$(host_major)" ]; then
		test_script "$major" "$(host_security)" >"$dir/test.sh"
	else
		test_script "$major" >"$dir/test.sh"
	fi
	if bash test/pgroot.sh scratch "$major" "$dir" bash /share/test.sh >"$dir/test.log" 2>&1; then
		n=$(grep -c '^\(test \|ok \)' "$dir/test.log")
		say "deb $major installcheck ... ok ($n tests, $((SECONDS - start)) s)"
		rm -rf "$dir/tests" "$dir/test.sh"
		return 0
	fi
	say "deb $major installcheck ... FAILED (log: $dir/test.log)"
	# indented: .ci/run counts the lines of this script, not the log's
	tail -n 60 "$dir/test.log" | sed 's/^/  | /' >&2
	return 1
}

cmd=${1:-}
shift
majors=("$@")
[ ${#majors[@]} -gt 0 ] || read -r -a majors < <(bash test/pgroot.sh majors)
[ "$(id -u)" = 0 ] || die "building and testing in the Debian roots needs root (chroot)"
failed=0
case $cmd in
build)
	for m in "${majors[@]}"; do build_one "$m" || failed=1; done
	;;
test)
	for m in "${majors[@]}"; do
		if build_one "$m"; then test_one "$m" || failed=1; else failed=1; fi
	done
	;;
*)
	sed -n '2,/^set -uo/{/^set -uo/d;s/^# \{0,1\}//;p}' "$0" >&2
	exit 2
	;;
esac
exit "$failed"
