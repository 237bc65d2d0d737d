#!/usr/bin/env bash
# Query latency while `serve` embeds in the background, against the same server idle.
# Usage: scripts/load/backfill-latency.sh BUSY_URL BUSY_PID IDLE_URL [ROUNDS] [SECONDS] [MODE]
#   BUSY: `academichub serve --index DIR` (background embedding running);
#   IDLE: `academichub serve --index DIR --no-background-embed` on the same index directory.
# Each round stops BUSY (SIGSTOP: its workers too) and measures IDLE, then resumes BUSY and
# measures it, so both see the same index at the same moment. One connection (latency, not
# throughput), fresh queries (every query embedded: scripts/load/search.lua `fresh`), k=10.
# Defaults: 3 rounds of 15 s, hybrid. Needs wrk.
set -euo pipefail
busy=${1:?usage: backfill-latency.sh BUSY_URL BUSY_PID IDLE_URL [ROUNDS] [SECONDS] [MODE]}
busy_pid=${2:?usage}
idle=${3:?usage}
rounds=${4:-3}
secs=${5:-15}
mode=${6:-hybrid}
here="$(cd "$(dirname "$0")" && pwd)"
trap 'kill -CONT "$busy_pid" 2>/dev/null || true' EXIT
measure() { wrk -t1 -c1 -d"${secs}s" --latency -s "$here/search.lua" "$1" -- "$mode" 10 fresh | grep -E '^(requests|latency) ' | tr '\n' ' '; }
for r in $(seq "$rounds"); do
    kill -STOP "$busy_pid"
    sleep 1
    printf 'round %d idle:       %s\n' "$r" "$(measure "$idle")"
    kill -CONT "$busy_pid"
    sleep 3
    printf 'round %d background: %s (%s)\n' "$r" "$(measure "$busy")" \
        "$(curl -s "$busy/healthz" | grep -o '"with_vectors":[0-9]*')"
done
