#!/usr/bin/env bash
# Installs the pgvector extension into Debian's PostgreSQL server (bookworm has no package for it).
# The source comes from the Go module proxy (the only source registry this machine reaches); the
# build is cached under $CACHE/pgvector-<version>-pg<major> and copied into the server's
# directories (PostgreSQL 15 has no extension search path outside them).
set -euo pipefail
PGVECTOR_VERSION="${PGVECTOR_VERSION:-v0.8.1}"
CACHE="${SWITCHBOARD_CACHE:-$HOME/.cache/switchboard}"
sudo_=""; [[ $EUID -ne 0 ]] && sudo_="sudo"

initdb=$(compgen -G "/usr/lib/postgresql/*/bin/initdb" | sort -V | tail -n 1)
major=$(basename "$(dirname "$(dirname "$initdb")")")
pg_config="/usr/lib/postgresql/$major/bin/pg_config"
# The build needs the server headers (postgresql-server-dev-<major>). pg_config alone proves
# nothing: the client packages ship it, and the machine image has them without the headers.
if [[ ! -x "$pg_config" || ! -f "$("$pg_config" --includedir-server)/postgres.h" ]]; then
  $sudo_ apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -q --no-install-recommends \
    "postgresql-server-dev-$major" >/dev/null
fi
built="$CACHE/pgvector-$PGVECTOR_VERSION-pg$major"
if [[ ! -f "$built/vector.so" ]]; then
  echo "building pgvector $PGVECTOR_VERSION for PostgreSQL $major (once)"
  GOFLAGS=-modcacherw go mod download -json "github.com/pgvector/pgvector@$PGVECTOR_VERSION" >/dev/null
  src="$(go env GOMODCACHE)/github.com/pgvector/pgvector@$PGVECTOR_VERSION"
  work=$(mktemp -d) && cp -r "$src/." "$work" && chmod -R u+w "$work"
  # OPTFLAGS="" keeps the build portable (no -march=native) so the cached library runs anywhere.
  make -C "$work" -s PG_CONFIG="$pg_config" OPTFLAGS="" >/dev/null
  rm -rf "$built" && mkdir -p "$built/sql"
  cp "$work/vector.so" "$work/vector.control" "$built/"
  cp "$work"/sql/vector--*.sql "$built/sql/"
  rm -rf "$work"
fi
extdir="$("$pg_config" --sharedir)/extension"
libdir="$("$pg_config" --pkglibdir)"
if ! cmp -s "$built/vector.so" "$libdir/vector.so"; then
  $sudo_ install -m 0644 "$built/vector.so" "$libdir/vector.so"
  $sudo_ install -m 0644 "$built/vector.control" "$built"/sql/vector--*.sql "$extdir/"
fi
