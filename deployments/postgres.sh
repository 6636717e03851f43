#!/usr/bin/env bash
# A PostgreSQL cluster of SOVEREIGN's own for the Prefect server, from Debian's postgresql package.
#   deployments/postgres.sh start|stop|url     (PGDATA and PGPORT choose where and on which port)
set -euo pipefail

# postgres refuses to run as root, so root runs it as the package's `postgres` user, with data it can reach.
if [ "$(id -u)" = 0 ]; then
  PGDATA=${PGDATA:-/var/lib/sovereign/postgres}
  as_owner() { runuser -u postgres -- "$@"; }
else
  PGDATA=${PGDATA:-$HOME/.sovereign/postgres}
  as_owner() { "$@"; }
fi
PGPORT=${PGPORT:-5433}
PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is not installed: apt-get install postgresql" >&2; exit 2; }

case "${1:-}" in
  start)
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
      mkdir -p "$PGDATA"
      [ "$(id -u)" = 0 ] && chown postgres: "$PGDATA"
      as_owner "$PGBIN/initdb" -D "$PGDATA" -U prefect --auth=trust --encoding=UTF8 >/dev/null
    fi
    if ! as_owner "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
      # loopback only; the socket goes to the data directory, not /var/run (which may not exist)
      as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -t 60 \
        -o "-p $PGPORT -c listen_addresses=127.0.0.1 -k $PGDATA" start >/dev/null
    fi
    as_owner "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U prefect -d postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname = 'prefect'" | grep -q 1 \
      || as_owner "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U prefect prefect
    ;;
  stop)
    as_owner "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w -t 30 stop >/dev/null
    ;;
  url)
    echo "postgresql+asyncpg://prefect@127.0.0.1:$PGPORT/prefect"
    ;;
  *)
    echo "usage: $0 start|stop|url" >&2
    exit 2
    ;;
esac
