#!/usr/bin/env bash
# Logs a serving process's background-embedding progress and memory every minute, until it
# exits (BENCHMARKS.md, "Background embedding"): unix time, UTC time, with_vectors,
# rate_per_sec, state (from /healthz), VmRSS and VmHWM in kB (from /proc/PID/status).
# Usage: scripts/load/coverage-poll.sh URL PID >> coverage.log
set -uo pipefail
url=${1:?usage: coverage-poll.sh URL PID}
pid=${2:?usage: coverage-poll.sh URL PID}
while kill -0 "$pid" 2>/dev/null; do
    h=$(curl -s --max-time 10 "$url/healthz")
    wv=$(grep -o '"with_vectors":[0-9]*' <<<"$h" | cut -d: -f2)
    rate=$(grep -o '"rate_per_sec":[0-9.]*' <<<"$h" | cut -d: -f2)
    st=$(grep -o '"state":"[a-z]*"' <<<"$h" | cut -d: -f2)
    mem=$(awk '/^VmRSS|^VmHWM/ {printf "%s ", $2}' "/proc/$pid/status" 2>/dev/null)
    echo "$(date +%s) $(date -u +%H:%M:%S) $wv $rate $st $mem"
    sleep 60
done
