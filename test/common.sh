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
# OS user postgres when we are root (as ourselves otherwise)
as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		runuser -u postgres -- "$@"
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
