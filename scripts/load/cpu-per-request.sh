#!/usr/bin/env bash
# Load figures of BENCHMARKS.md: warms the server up, then runs wrk with search.lua and reports
# requests per second, latency percentiles and the server's CPU time per request (utime +
# stime of the server process from /proc/PID/stat before and after, divided by the requests
# served: steadier than req/s on a shared 2-core machine).
# Usage: scripts/load/cpu-per-request.sh URL SERVER_PID [MODE] [CONNECTIONS] [SECONDS]
# Defaults: bm25, 8 connections, 15 s. Needs wrk. Start the server with its response cache off
# (`[server] cache_entries = 0`) to measure uncached searches.
set -euo pipefail
url=${1:?usage: cpu-per-request.sh URL SERVER_PID [MODE] [CONNECTIONS] [SECONDS]}
pid=${2:?usage: cpu-per-request.sh URL SERVER_PID [MODE] [CONNECTIONS] [SECONDS]}
mode=${3:-bm25}
conns=${4:-8}
secs=${5:-15}
here="$(cd "$(dirname "$0")" && pwd)"
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
wrk -t1 -c1 -d3s -s "$here/search.lua" "$url" -- "$mode" >/dev/null
before=$(cpu)
report=$(wrk -t2 -c"$conns" -d"${secs}s" --latency -s "$here/search.lua" "$url" -- "$mode")
after=$(cpu)
requests=$(printf '%s\n' "$report" | awk '/^requests /{gsub(",", "", $2); print $2}')
line=$(printf '%s\n' "$report" | grep -E '^(requests|latency) ' | tr '\n' ';')
awk -v b="$before" -v a="$after" -v t="$ticks" -v n="$requests" -v m="$mode" -v c="$conns" -v l="$line" \
  'BEGIN { printf "%s c%d: %s cpu %.0f us/request\n", m, c, l, (a - b) / t * 1e6 / n }'
