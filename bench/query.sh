#!/usr/bin/env bash
# Read benchmark: fills a data dir with N processed POST messages once
# (bench/fill, cached under $CACHE and reused when present; see below), starts
# `aleph node run` on it and runs wrk (2 threads, 16 connections, 20 s,
# --latency) RUNS times against three GET /api/v0/messages.json queries:
# the newest page, one sender's newest page, one channel's newest page.
# Prints p50/p99 latency and requests/s per query: the median and the
# min–max of the runs.
#
#   bench/query.sh
#   N=100000 RUNS=1 DURATION=5s bench/query.sh    # quick check
#   FORCE=1 bench/query.sh     # run wrk even when an endpoint does not answer 200
#
# Before each wrk run it waits (at most WAIT_QUIET=300 s) for the machine to
# be idle: on a shared 2-CPU machine other processes are the main noise.
#
# wrk comes from Debian (apt-get install wrk); the script installs it when
# missing. Everything listens on and talks to 127.0.0.1 only.
set -euo pipefail

N=${N:-1000000}
RUNS=${RUNS:-3}
DURATION=${DURATION:-20s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-16}
FORCE=${FORCE:-0}

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
# The cache is keyed by N and by the schema and fill sources, so that a
# new migration or a changed generator refills instead of reusing stale rows.
key=$(cat internal/store/sqlite/migrations/*.sql bench/fill/main.go | sha256sum | cut -c1-12)
CACHE=${CACHE:-/tmp/aleph-bench-fill-$N-$key}
unset GOMAXPROCS
export CGO_ENABLED=${CGO_ENABLED:-1}

if ! command -v wrk >/dev/null; then
	echo "installing wrk …"
	apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi

tmp=$(mktemp -d /tmp/aleph-bench-query.XXXXXX)
node_pid=
cleanup() {
	[ -n "$node_pid" ] && kill -INT "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

require_free_port

build_bench fill

# The fill is cached: $CACHE/done exists only after a complete fill.
if [ ! -f "$CACHE/done" ]; then
	rm -rf "$CACHE"
	mkdir -p "$CACHE"
	echo "filling $CACHE/data with $N messages (once; reused by later runs) …"
	"$tmp/fill" -dir "$CACHE/data" -n "$N" | tee "$CACHE/fill.log"
	touch "$CACHE/done"
else
	echo "reusing $CACHE ($(grep '^FILL ' "$CACHE/fill.log"))"
fi
fill_line=$(grep '^FILL ' "$CACHE/fill.log")
sender=$(sed -n 's/.* sender=\([^ ]*\).*/\1/p' <<<"$fill_line")
channel=$(sed -n 's/.* channel=\([^ ]*\).*/\1/p' <<<"$fill_line")

"$tmp/aleph" node run --data-dir "$CACHE/data" --listen "$ADDR" --log-level warn >"$tmp/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 300); do
	curl -s -o /dev/null --max-time 1 "$URL/version" && break
	kill -0 "$node_pid" 2>/dev/null || { cat "$tmp/node.log" >&2; exit 1; }
	sleep 0.1
done

names=(latest sender channel)
paths=(
	"/api/v0/messages.json?pagination=20"
	"/api/v0/messages.json?pagination=20&addresses=$sender"
	"/api/v0/messages.json?pagination=20&channels=$channel"
)

# wrk_ms converts a wrk duration ("850.00us", "1.20ms", "2.00s") to ms.
wrk_ms() {
	awk -v d="$1" 'BEGIN {
		if (d ~ /us$/) { sub(/us$/, "", d); print d / 1000 }
		else if (d ~ /ms$/) { sub(/ms$/, "", d); print d + 0 }
		else if (d ~ /m$/) { sub(/m$/, "", d); print d * 60000 }
		else { sub(/s$/, "", d); print d * 1000 }
	}'
}

echo "queries on $N messages: sender $sender, channel $channel"
echo "query run p50_ms p99_ms req_per_s non2xx" >"$tmp/rows.txt"
for q in 0 1 2; do
	u="$URL${paths[$q]}"
	code=$(curl -s -o "$tmp/first.json" -w '%{http_code}' --max-time 30 "$u")
	echo "== ${names[$q]}: GET ${paths[$q]} → HTTP $code, $(wc -c <"$tmp/first.json") bytes, $(head -c 120 "$tmp/first.json")"
	if [ "$code" != 200 ] && [ "$FORCE" != 1 ]; then
		echo "   skipped: the endpoint does not answer 200 (FORCE=1 to measure anyway)"
		echo "${names[$q]} HTTP $code, not measured" >>"$tmp/skipped.txt"
		continue
	fi
	for i in $(seq "$RUNS"); do
		wait_quiet
		wrk -t "$THREADS" -c "$CONNS" -d "$DURATION" --latency "$u" >"$tmp/wrk.txt" || true
		if ! kill -0 "$node_pid" 2>/dev/null; then
			wait "$node_pid" && rc=0 || rc=$?
			node_pid=
			echo "the node exited (status $rc) during run $i of ${names[$q]}; end of its log:" >&2
			tail -40 "$tmp/node.log" >&2
			exit 1
		fi
		p50=$(wrk_ms "$(awk '$1 == "50%" { print $2 }' "$tmp/wrk.txt")")
		p99=$(wrk_ms "$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.txt")")
		rps=$(awk '$1 == "Requests/sec:" { print $2 }' "$tmp/wrk.txt")
		non2xx=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$tmp/wrk.txt")
		echo "   run $i: p50 ${p50} ms, p99 ${p99} ms, ${rps} req/s, non-2xx ${non2xx:-0} (load average $(cut -d' ' -f1 /proc/loadavg))"
		echo "${names[$q]} $i $p50 $p99 $rps ${non2xx:-0}" >>"$tmp/rows.txt"
	done
done

echo
echo "== summary: $N messages, wrk -t$THREADS -c$CONNS -d$DURATION, $RUNS runs, $(nproc) CPUs, $(date -u +%F)"
awk 'NR > 1 { k = $1; n[k]++; p50[k, n[k]] = $3; p99[k, n[k]] = $4; rps[k, n[k]] = $5; bad[k] += $6; if (!(k in seen)) { seen[k] = 1; order[++m] = k } }
function stat(arr, k, cnt,    a, i, j, x, med) {
	for (i = 1; i <= cnt; i++) a[i] = arr[k, i] + 0
	for (i = 2; i <= cnt; i++) { x = a[i]; j = i - 1; while (j >= 1 && a[j] > x) { a[j + 1] = a[j]; j-- } a[j + 1] = x }
	med = (cnt % 2) ? a[(cnt + 1) / 2] : (a[cnt / 2] + a[cnt / 2 + 1]) / 2
	return sprintf("%s (%s-%s)", med, a[1], a[cnt])
}
END {
	printf "%-8s %-24s %-24s %-28s %s\n", "query", "p50 ms", "p99 ms", "req/s", "non-2xx"
	for (q = 1; q <= m; q++) { k = order[q]
		printf "%-8s %-24s %-24s %-28s %d\n", k, stat(p50, k, n[k]), stat(p99, k, n[k]), stat(rps, k, n[k]), bad[k] }
}' "$tmp/rows.txt"
[ -f "$tmp/skipped.txt" ] && sed 's/^/skipped: /' "$tmp/skipped.txt"
exit 0
