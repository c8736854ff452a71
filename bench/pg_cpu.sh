#!/usr/bin/env bash
# CPU seconds that psql's \copy and `postctl load-fixtures` each cost, client and server,
# for comparing them on a busy machine, where wall time tells more about the neighbours.
#
#   bench/pg_cpu.sh [CSV] [RUNS]     (defaults: bench/out/1000000/posts.csv, 3)
#
# Needs PostgreSQL on this machine (root, or its owner, to read the postmaster's
# /proc entry) and the database of POSTCTL_DATABASE_URL (default postctl_bench
# on 127.0.0.1). The client's CPU is GNU time's user+sys of the command and its
# children; the server's is what the postmaster's reaped children (the
# session's backend) used meanwhile: its cutime+cstime.
set -euo pipefail
cd "$(dirname "$0")/.."
csv=${1:-bench/out/1000000/posts.csv}
runs=${2:-3}
export POSTCTL_DATABASE_URL=${POSTCTL_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/postctl_bench}
database=${POSTCTL_DATABASE_URL##*/}
pid_file=$(ls /var/lib/postgresql/*/main/postmaster.pid | head -1)
postmaster=$(head -1 "$pid_file")
ticks=$(getconf CLK_TCK)
server_cpu() { awk -v t="$ticks" '{print ($16 + $17) / t}' "/proc/$postmaster/stat"; }

run() {
  local name=$1 before after timed
  shift
  postctl reset-db --yes >/dev/null
  before=$(server_cpu)
  timed=$(/usr/bin/time -f "%e %U %S" "$@" 2>&1 >/dev/null | tail -1)
  sleep 0.5  # the backend exits after its client
  after=$(server_cpu)
  echo "$timed" | awk -v n="$name" -v b="$before" -v a="$after" '{
    printf "%-8s wall %6.2f s  client CPU %5.2f s  server CPU %5.2f s  total CPU %5.2f s\n",
      n, $1, $2 + $3, a - b, $2 + $3 + a - b }'
}

echo "$(uptime)"
for _ in $(seq "$runs"); do
  run psql psql -X -q -h 127.0.0.1 -U postgres -d "$database" \
    -c "\\copy post (id, content, author_email, created_time) FROM '$csv' CSV HEADER"
  run postctl python -m postctl load-fixtures --quiet "$csv"
done
echo "$(uptime)"
