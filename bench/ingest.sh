#!/usr/bin/env bash
# Ingestion benchmark: builds the aleph binary and bench/ingest once, then
# RUNS times, for each backend of BACKENDS, starts a fresh core node (new
# temporary data dir, new database, default GOMAXPROCS), runs the client
# against it and stops it. The backends alternate within each run, so both
# see the same machine. Prints a summary table per backend with the median
# and the min–max of each figure, and the PostgreSQL / SQLite ratio.
#
#   bench/ingest.sh                      # 3 runs, 20000 messages, 64 connections
#   RUNS=5 N=50000 C=128 bench/ingest.sh
#   BACKENDS=sqlite bench/ingest.sh      # one backend only
#   PERF=1 bench/ingest.sh               # + one extra run under `perf record`,
#                                        #   not counted in the table
#
# The postgres backend runs on a throwaway cluster (initdb + pg_ctl in the
# temporary directory, port PG_PORT) with PostgreSQL's default durability:
# fsync and synchronous_commit on, so every acknowledged batch is on disk.
# (The SQLite node uses WAL with synchronous=NORMAL: durable across a crash
# of the node, not of the machine; PostgreSQL here gives more.) As root the
# cluster runs as the postgres user. Its CPU per message is reported as
# db_cpu_us (the SQLite node's database work is inside node_cpu_us), and is
# not counted in other_cpus.
#
# Before each run it waits (at most WAIT_QUIET=300 s) for the machine to be
# idle, and each run reports how much CPU other processes used meanwhile
# (other_cpus): on a shared 2-CPU machine that is the main source of noise.
#
# Everything listens on and talks to 127.0.0.1 only.
set -euo pipefail

RUNS=${RUNS:-3}
BACKENDS=${BACKENDS:-sqlite postgres}
PG_PORT=${PG_PORT:-5433}
N=${N:-20000}
C=${C:-64}
PERF=${PERF:-0}

cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
. bench/lib.sh
unset GOMAXPROCS
export CGO_ENABLED=${CGO_ENABLED:-1} # libsecp256k1 through cgo, as the node is meant to be built

tmp=$(mktemp -d /tmp/aleph-bench-ingest.XXXXXX)
node_pid=
perf_pid=
pg_running=0
cleanup() {
	[ -n "$perf_pid" ] && kill -INT "$perf_pid" 2>/dev/null || true
	[ -n "$node_pid" ] && kill -INT "$node_pid" 2>/dev/null && wait "$node_pid" 2>/dev/null || true
	[ "$pg_running" = 1 ] && pg pg_ctl -D "$tmp/pg/data" -m fast -w stop >/dev/null 2>&1 || true
	rm -rf "$tmp"
}
trap cleanup EXIT

require_free_port

build_bench ingest

# pg runs a PostgreSQL program (as the postgres user when root).
pg() {
	local bin=$1
	shift
	if [ "$(id -u)" = 0 ]; then
		su postgres -s /bin/sh -c "cd /tmp && $(printf '%q ' "$pg_bin/$bin" "$@")"
	else
		"$pg_bin/$bin" "$@"
	fi
}

start_postgres() {
	pg_bin=$(dirname "$(readlink -f "$(command -v initdb 2>/dev/null || ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -1)")")
	if [ ! -x "$pg_bin/initdb" ]; then
		echo "PostgreSQL is not installed (scripts/install-deps.sh installs it); or set BACKENDS=sqlite" >&2
		exit 1
	fi
	mkdir -p "$tmp/pg"
	[ "$(id -u)" = 0 ] && chown postgres "$tmp" "$tmp/pg"
	pg initdb -D "$tmp/pg/data" -U postgres -A trust --no-locale -E UTF8 >/dev/null
	pg pg_ctl -D "$tmp/pg/data" -l "$tmp/pg/log" -w \
		-o "-p $PG_PORT -k $tmp/pg -c listen_addresses=127.0.0.1 -c shared_buffers=256MB" start >/dev/null
	pg_running=1
	echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$PG_PORT (fsync on, synchronous_commit on)"
}

# database_url creates a fresh database for run $1 and prints its URL.
database_url() {
	psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "CREATE DATABASE bench_${1//-/_}" >/dev/null
	echo "postgres://postgres@127.0.0.1:$PG_PORT/bench_${1//-/_}?sslmode=disable"
}

start_node() { # $1: data dir, $2: database URL (empty: SQLite in the data dir)
	local db=()
	[ -n "${2:-}" ] && db=(--database-url "$2")
	"$tmp/aleph" node run --data-dir "$1" "${db[@]}" --listen "$ADDR" --log-level warn >"$1.log" 2>&1 &
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

# pg_ticks prints the CPU clock ticks used so far by the PostgreSQL server:
# the postmaster and its reaped children, plus the live ones.
pg_ticks() {
	local pm=$(head -1 "$tmp/pg/data/postmaster.pid") total=0 f pid
	f=($(sed 's/^.*) //' "/proc/$pm/stat"))
	total=$((f[11] + f[12] + f[13] + f[14]))
	for pid in $(pgrep -P "$pm"); do
		f=($(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null)) || continue
		total=$((total + f[11] + f[12]))
	done
	echo "$total"
}

run_once() { # $1: label, $2: output file, $3: backend
	local dir=$tmp/data-$1 url= ticks0=0
	[ "$3" = postgres ] && url=$(database_url "$1")
	wait_quiet
	start_node "$dir" "$url"
	[ "$3" = postgres ] && ticks0=$(pg_ticks)
	echo "== run $1, $3 ($(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg))"
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
	# db_cpu_us: the database server's CPU per message (0 for SQLite, whose
	# work is in node_cpu_us); other_cpus from the client counts the server,
	# so it is reported without it.
	local db_us=0
	if [ "$3" = postgres ]; then
		db_us=$(awk -v t="$(($(pg_ticks) - ticks0))" -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN { printf "%.0f", t / hz * 1e6 / n }')
	fi
	awk -v db="$db_us" -v n="$N" '/^RESULT / {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		secs = n / v["e2e_rate"]
		other = v["other_cpus"] - db * n / 1e6 / secs
		if (other < 0) other = 0
		sub(/ other_cpus=[^ ]*/, sprintf(" other_cpus=%.2f", other))
		$0 = $0 " db_cpu_us=" db
	} { print }' "$2" >"$2.tmp" && mv "$2.tmp" "$2"
	[ "$3" = postgres ] && grep '^RESULT ' "$2" | sed 's/.*\( db_cpu_us=[^ ]*\).*\( other_cpus=[^ ]*\).*/database server:\1,\2 without it/'
	stop_node
	rm -rf "$dir"
	if [ "$3" = postgres ]; then
		psql -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -c "DROP DATABASE bench_${1//-/_}" >/dev/null
	fi
}

for b in $BACKENDS; do
	case $b in
	sqlite) ;;
	postgres) start_postgres ;;
	*)
		echo "unknown backend $b (sqlite, postgres)" >&2
		exit 1
		;;
	esac
done

for i in $(seq "$RUNS"); do
	for b in $BACKENDS; do
		run_once "$i-$b" "$tmp/out-$b-$i.txt" "$b"
	done
done

# Summary per backend: one row per run, then the median and range of each
# column.
cols="accept_rate e2e_rate p50_ms p99_ms ecrecover_rate ratio node_cpu_us db_cpu_us client_cpu_us other_cpus applier_busy"
for b in $BACKENDS; do
echo
echo "== summary, $b: N=$N C=$C, $RUNS runs, $(nproc) CPUs, $(date -u +%F)"
{
	echo "run $cols"
	for i in $(seq "$RUNS"); do
		line=$(grep '^RESULT ' "$tmp/out-$b-$i.txt")
		row="$i"
		for c in $cols; do
			row="$row $(sed -n "s/.* $c=\([^ ]*\).*/\1/p" <<<"$line")"
		done
		echo "$row"
	done
} >"$tmp/table-$b.txt"
column -t "$tmp/table-$b.txt"
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
		if (name[j - 1] == "e2e_rate") print med >"'"$tmp/median-$b"'"
	}
}' "$tmp/table-$b.txt"
disturbed=$(awk 'NR > 1 && $(NF - 1) >= 0.2 { printf "%s ", $1 }' "$tmp/table-$b.txt")
if [ -n "$disturbed" ]; then
	echo "note: other processes used ≥ 0.2 CPU on average during run(s) $disturbed(other_cpus); their rates are lower than an idle machine gives"
fi
done
if [ -f "$tmp/median-sqlite" ] && [ -f "$tmp/median-postgres" ]; then
	awk -v s="$(cat "$tmp/median-sqlite")" -v p="$(cat "$tmp/median-postgres")" \
		'BEGIN { printf "\n== postgres / sqlite (median e2e_rate): %d / %d = %.2f\n", p, s, p / s }'
fi

if [ "$PERF" = 1 ]; then
	run_once perf "$tmp/out-perf.txt" "${BACKENDS%% *}" >/dev/null
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
