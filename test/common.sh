# test/common.sh -- helpers shared by the harness scripts (sourced, not run)

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# run_root CMD...: run as root, through sudo when not root already
run_root() {
	if [ "$(id -u)" = 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run: $*"
	fi
}

# as_postgres CMD...: the server refuses to run as root, so run it as the
# OS user postgres when we are root (as ourselves otherwise), from /, which
# it can read (PostgreSQL's programs warn of a working directory they cannot
# enter); paths given to CMD must be absolute
as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

# pg_major: PG_MAJOR, else the highest server installed under /usr/lib/postgresql
pg_major() {
	if [ -n "${PG_MAJOR:-}" ]; then
		echo "$PG_MAJOR"
		return
	fi
	local v
	v=$(ls -d /usr/lib/postgresql/*/bin/postgres 2>/dev/null |
		sed -n 's|^/usr/lib/postgresql/\([0-9][0-9]*\)/bin/postgres$|\1|p' |
		sort -n | tail -n 1)
	[ -n "$v" ] || die "no PostgreSQL server found under /usr/lib/postgresql (set PG_MAJOR)"
	echo "$v"
}

# pg_config_cmd: PG_CONFIG, else the pg_config of pg_major
pg_config_cmd() {
	if [ -n "${PG_CONFIG:-}" ]; then
		echo "$PG_CONFIG"
	elif [ -x "/usr/lib/postgresql/$(pg_major)/bin/pg_config" ]; then
		echo "/usr/lib/postgresql/$(pg_major)/bin/pg_config"
	else
		echo pg_config
	fi
}

# shadow SRC DST: DST becomes a directory of links to SRC's entries,
# except candidate_docs' own files
shadow() {
	local src=$1 dst=$2 f links=()
	mkdir -p "$dst"
	for f in "$src"/*; do
		case ${f##*/} in candidate_docs.* | candidate_docs--*) continue ;; esac
		links+=("$f")
	done
	[ ${#links[@]} -eq 0 ] || ln -s -t "$dst" "${links[@]}"
}

# private_install INST PG_CONFIG: a private PostgreSQL installation under INST:
# a copy of the bin directory (PostgreSQL finds its lib and share directories
# relative to its binaries) with links to everything in lib and share but
# candidate_docs; prints its pg_config. Install into it with DESTDIR=INST.
private_install() {
	local inst=$1 sys_config=$2 bindir pkglibdir sharedir
	bindir=$("$sys_config" --bindir)
	pkglibdir=$("$sys_config" --pkglibdir)
	sharedir=$("$sys_config" --sharedir)
	mkdir -p "$inst$bindir"
	# hard links where the file system allows (fast), else a copy
	cp -al "$bindir/." "$inst$bindir/" 2>/dev/null || cp -a "$bindir/." "$inst$bindir/"
	shadow "$pkglibdir" "$inst$pkglibdir"
	shadow "$sharedir" "$inst$sharedir"
	rm "$inst$sharedir/extension"
	shadow "$sharedir/extension" "$inst$sharedir/extension"
	[ "$("$inst$bindir/pg_config" --pkglibdir)" = "$inst$pkglibdir" ] ||
		die "the private installation in $inst is not used by its own pg_config"
	echo "$inst$bindir/pg_config"
}

# copy_tree DIR: a copy of the source tree in DIR, without .git and build
# products, so that a build elsewhere leaves the checkout's own alone
copy_tree() {
	local tree=$1
	mkdir -p "$tree"
	tar -C "$REPO_ROOT" -cf - --exclude=./.git --exclude='*.o' --exclude='*.so' \
		--exclude='*.bc' --exclude=./results --exclude=./regression.diffs \
		--exclude=./regression.out --exclude=./tmp_check --exclude=./log \
		--exclude=./test/fuzz/artifacts --exclude=./bench/out --exclude=./.ci/test.log --exclude=./deb . |
		tar -C "$tree" -xf -
}
