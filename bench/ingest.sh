#!/usr/bin/env bash
# Ingestion benchmark: builds the aleph binary and bench/ingest once, then
# RUNS times starts a fresh core node (new temporary data dir, default
# GOMAXPROCS), runs the client against it and stops it. Prints a summary
# table with the median and the min–max of each figure.
#
#   bench/ingest.sh                      # 3 runs, 20000 messages, 64 connections
#   RUNS=5 N=50000 C=128 bench/ingest.sh
#   PERF=1 bench/ingest.sh               # + one extra run under `perf record`,
#                                        #   not counted in the table
#
# Before each run it waits (at most WAIT_QUIET=300 s) for the machine to be
# idle, and each run reports how much CPU other processes used meanwhile
# (other_cpus): on a shared 2-CPU machine that is the main source of noise.
#
# Everything listens on and talks to 127.0.0.1 only.
set -euo pipefail

RUNS=${RUNS:-3}
N=${N:-20000}
C=${C:-64}
PORT=${PORT:-4024}
PERF=${PERF:-0}
ADDR=127.0.0.1:$PORT
URL=http://$ADDR

cd "$(dirname "$0")/.."
unset GOMAXPROCS
export CGO_ENABLED=${CGO_ENABLED:-1} # libsecp256k1 through cgo, as the node is meant to be built

tmp=$(mktemp -d /tmp/aleph-bench-ingest.XXXXXX)
node_pid=
perf_pid=
cleanup() {
	[ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null || true
	[ -n "$node_pid" ] && kill -INT "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT

if curl -s -o /dev/null --max-time 1 "$URL/version"; then
	echo "something already answers on $ADDR; set PORT" >&2
	exit 1
fi

echo "building into $tmp …"
go build -o "$tmp/aleph" ./cmd/aleph
go build -o "$tmp/ingest" ./bench/ingest

start_node() { # $1: data dir
	"$tmp/aleph" node run --data-dir "$1" --listen "$ADDR" --log-level warn >"$1.log" 2>&1 &
	node_pid=$!
	for _ in $(seq 100); do
		curl -s -o /dev/null --max-time 1 "$URL/version" && return 0
		kill -0 "$node_pid" 2>/dev/null || break
		sleep 0.1
	done
	echo "node did not start:" >&2
	cat "$1.log" >&2
	exit 1
}

stop_node() {
	kill -INT "$node_pid"
	wait "$node_pid" || true
	node_pid=
}

# wait_quiet waits (at most WAIT_QUIET seconds, default 300) until the
# machine has been under 15% busy for 2 s, so that runs on a shared machine
# are not measured while something else compiles. WAIT_QUIET=0 disables it.
wait_quiet() {
	local limit=${WAIT_QUIET:-300} waited=0 a b
	[ "$limit" = 0 ] && return 0
	while :; do
		a=($(head -1 /proc/stat))
		sleep 2
		b=($(head -1 /proc/stat))
		local busy=$(((b[1] + b[2] + b[3] + b[6] + b[7] + b[8]) - (a[1] + a[2] + a[3] + a[6] + a[7] + a[8])))
		local idle=$(((b[4] + b[5]) - (a[4] + a[5])))
		if [ $((100 * busy / (busy + idle + 1))) -lt 15 ]; then
			return 0
		fi
		waited=$((waited + 2))
		if [ "$waited" -ge "$limit" ]; then
			echo "   (machine still busy after ${limit}s; measuring anyway)"
			return 0
		fi
	done
}

run_once() { # $1: label, $2: output file
	local dir=$tmp/data-$1
	wait_quiet
	start_node "$dir"
	echo "== run $1 ($(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg))"
	if [ "$PERF" = 1 ] && [ "$1" = perf ]; then
		perf record -F 999 -g -p "$node_pid" -o "$tmp/perf.data" >/dev/null 2>&1 &
		perf_pid=$!
		sleep 0.3
	fi
	if ! timeout 600 "$tmp/ingest" -n "$N" -c "$C" -url "$URL" | tee "$2"; then
		echo "run $1 failed; node log:" >&2
		tail -50 "$dir.log" >&2
		if ! kill -0 "$node_pid" 2>/dev/null; then
			wait "$node_pid" && rc=0 || rc=$?
			node_pid=
			echo "(the node process has exited, status $rc)" >&2
		fi
		exit 1
	fi
	if [ -n "$perf_pid" ]; then
		kill -INT "$perf_pid"
		wait "$perf_pid" || true
		perf_pid=
	fi
	stop_node
	rm -rf "$dir"
}

for i in $(seq "$RUNS"); do
	run_once "$i" "$tmp/out-$i.txt"
done

# Summary: one row per run, then the median and range of each column.
cols="accept_rate e2e_rate p50_ms p99_ms ecrecover_rate ratio node_cpu_us client_cpu_us other_cpus applier_busy"
echo
echo "== summary: N=$N C=$C, $RUNS runs, $(nproc) CPUs, $(date -u +%F)"
{
	echo "run $cols"
	for i in $(seq "$RUNS"); do
		line=$(grep '^RESULT ' "$tmp/out-$i.txt")
		row="$i"
		for c in $cols; do
			row="$row $(sed -n "s/.* $c=\([^ ]*\).*/\1/p" <<<"$line")"
		done
		echo "$row"
	done
} >"$tmp/table.txt"
column -t "$tmp/table.txt"
awk -v cols="$cols" 'NR > 1 { for (j = 2; j <= NF; j++) v[j, NR - 1] = $j; n = NR - 1 }
END {
	split(cols, name, " ")
	printf "%-16s %12s %12s %12s\n", "figure", "median", "min", "max"
	for (j = 2; j <= NF; j++) {
		for (i = 1; i <= n; i++) a[i] = v[j, i]
		# insertion sort, n is small
		for (i = 2; i <= n; i++) { x = a[i]; k = i - 1; while (k >= 1 && a[k] + 0 > x + 0) { a[k + 1] = a[k]; k-- } a[k + 1] = x }
		med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
		printf "%-16s %12s %12s %12s\n", name[j - 1], med, a[1], a[n]
	}
}' "$tmp/table.txt"
disturbed=$(awk 'NR > 1 && $(NF - 1) >= 0.2 { printf "%s ", $1 }' "$tmp/table.txt")
if [ -n "$disturbed" ]; then
	echo "note: other processes used ≥ 0.2 CPU on average during run(s) $disturbed(other_cpus); their rates are lower than an idle machine gives"
fi

if [ "$PERF" = 1 ]; then
	run_once perf "$tmp/out-perf.txt" >/dev/null
	echo
	echo "== perf (extra run, not in the table): share of node CPU samples, inclusive"
	perf report -i "$tmp/perf.data" --children --sort symbol --stdio -g none 2>/dev/null | grep '%' |
		awk '{ print $1, $4 }' |
		grep -E ' (.*\(\*Node\)\.(runApply|applyOne|runIngest|runVerify|Submit)|.*sqlite\.\(\*(DB|tx)\)\.[A-Za-z]+|database/sql\.\(\*Tx\)\.Commit|modernc.org/sqlite/lib\._(walFrames|walCheckpoint)|modernc.org/libc\.Xfsync|net/http\.\(\*conn\)\.serve|.*api\.\(\*Server\)\.postMessage|github.com/goaleph/goaleph/message\.(Parse|ParseContent)|runtime\.gcBgMarkWorker|runtime\.mallocgc)$' |
		head -40
	# libsecp256k1 is C called through cgo: perf cannot unwind from it into
	# the Go callers, so count its own samples instead.
	perf report -i "$tmp/perf.data" --no-children --sort symbol --stdio -g none 2>/dev/null | grep '%' |
		awk '$3 ~ /^secp256k1_/ { s += $1 } END { printf "%.2f%% libsecp256k1 (signature recovery, self)\n", s }'
fi
