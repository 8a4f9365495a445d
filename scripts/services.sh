#!/usr/bin/env bash
# Makes Redis and PostgreSQL with the pgvector extension available on loopback
# for the tests, and prints the URLs the tests read:
#
#   eval "$(scripts/services.sh)"   # exports TEST_REDIS_URL and TEST_DATABASE_URL
#
# Order of preference for each service: one already answering on loopback;
# a Docker engine (docker compose up -d --wait with compose.yaml); Debian's
# packages installed and started as root. pgvector, which Debian 12 does not
# package, is built from Debian's own source package (trixie). Idempotent: a
# second run finds everything in place and returns in seconds. Progress goes
# to stderr; only the export lines go to stdout.
set -euo pipefail

REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
PG_DB=${PG_DB:-test}
PG_USER=${PG_USER:-postgres}
PG_PASSWORD=${PG_PASSWORD:-}

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

log() { printf 'services: %s\n' "$*" >&2; }
die() { printf 'services: error: %s\n' "$*" >&2; exit 1; }

redis_up() {
	if command -v redis-cli >/dev/null 2>&1; then
		[ "$(redis-cli -h "$REDIS_HOST" -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]
	else
		# Without redis-cli, speak the inline protocol over bash's /dev/tcp.
		exec 3<>"/dev/tcp/$REDIS_HOST/$REDIS_PORT" 2>/dev/null || return 1
		printf 'PING\r\n' >&3
		local reply
		read -r -t 2 reply <&3 || true
		exec 3>&-
		[[ $reply == +PONG* ]]
	fi
}

export PGPASSWORD=${PG_PASSWORD:-}

pg_up() {
	command -v psql >/dev/null 2>&1 || return 1
	psql -X -q -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -tAc 'select 1' >/dev/null 2>&1
}

psql_db() { psql -X -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$@"; }

docker_up() {
	command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1
}

is_debian_root() {
	[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1
}

apt_updated=
apt_update() {
	if [ -z "$apt_updated" ]; then
		log "apt-get update"
		apt-get update -qq >&2
		apt_updated=1
	fi
}

apt_install() {
	apt_update
	log "apt-get install $*"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

start_redis_debian() {
	command -v redis-server >/dev/null 2>&1 || apt_install redis-server
	mkdir -p /var/lib/redis /var/log/redis
	redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
		--dir /var/lib/redis --logfile /var/log/redis/services.log >&2
}

start_pg_debian() {
	command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql postgresql-client
	local major
	major=$(ls /etc/postgresql 2>/dev/null | sort -n | tail -1)
	[ -n "$major" ] || die "PostgreSQL is installed but has no cluster in /etc/postgresql"
	# Loopback trust, as on this project's test machines; never for a shared host.
	local hba=/etc/postgresql/$major/main/pg_hba.conf
	if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
		sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
	fi
	pg_ctlcluster --skip-systemctl-redirect "$major" main start >&2 || true
	for _ in $(seq 1 30); do
		psql_db -d postgres -tAc 'select 1' >/dev/null 2>&1 && break
		sleep 1
	done
	if ! psql_db -d postgres -tAc "select 1 from pg_database where datname = '$PG_DB'" | grep -q 1; then
		psql_db -d postgres -c "create database \"$PG_DB\"" >&2
	fi
}

ensure_pgvector() {
	if psql_db -d "$PG_DB" -c 'create extension if not exists vector' >/dev/null 2>&1; then
		return 0
	fi
	is_debian_root || die "pgvector is not installed in PostgreSQL at $PG_HOST:$PG_PORT and this is not Debian as root; install pgvector (https://github.com/pgvector/pgvector) and re-run"
	local major
	major=$(psql_db -d "$PG_DB" -tAc 'show server_version_num')
	major=$((major / 10000))
	log "building pgvector for PostgreSQL $major from Debian's source package"
	local src=/etc/apt/sources.list.d/services-trixie-src.sources
	if [ ! -f "$src" ]; then
		cat >"$src" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
		apt_updated=
	fi
	apt_install "postgresql-server-dev-$major" build-essential dpkg-dev
	local work
	work=$(mktemp -d)
	(
		cd "$work"
		apt-get source -qq pgvector >&2
		cd pgvector-*/
		make -s PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" >&2
		make -s PG_CONFIG="/usr/lib/postgresql/$major/bin/pg_config" install >&2
	)
	rm -rf "$work"
	psql_db -d "$PG_DB" -c 'create extension if not exists vector' >/dev/null ||
		die "pgvector was built but CREATE EXTENSION vector still fails"
}

if ! redis_up || ! pg_up; then
	if docker_up; then
		log "starting services with docker compose"
		docker compose -f "$root/compose.yaml" up -d --wait redis postgres >&2
		PG_DB=cohere PG_USER=cohere PG_PASSWORD=cohere
	fi
fi
if ! redis_up; then
	is_debian_root || die "no Redis answers on $REDIS_HOST:$REDIS_PORT, no Docker engine, and this is not Debian/Ubuntu as root: start Redis 7 there and re-run"
	log "starting redis-server"
	start_redis_debian
	for _ in $(seq 1 20); do redis_up && break; sleep 0.5; done
	redis_up || die "redis-server did not answer on $REDIS_HOST:$REDIS_PORT"
fi
if ! pg_up; then
	is_debian_root || die "no PostgreSQL answers on $PG_HOST:$PG_PORT (database $PG_DB), no Docker engine, and this is not Debian/Ubuntu as root: start PostgreSQL there and re-run"
	log "starting PostgreSQL"
	start_pg_debian
	pg_up || die "PostgreSQL did not answer on $PG_HOST:$PG_PORT database $PG_DB"
fi
ensure_pgvector

log "redis and postgres+pgvector ready"
pg_auth=$PG_USER
[ -n "$PG_PASSWORD" ] && pg_auth=$PG_USER:$PG_PASSWORD
echo "export TEST_REDIS_URL=redis://$REDIS_HOST:$REDIS_PORT/0"
echo "export TEST_DATABASE_URL=postgres://$pg_auth@$PG_HOST:$PG_PORT/$PG_DB?sslmode=disable"
