# Shell functions shared by the bench scripts; they source it from the
# repository root:  . bench/lib.sh

# The node under test listens on 127.0.0.1:$PORT.
PORT=${PORT:-4024}
ADDR=127.0.0.1:$PORT
URL=http://$ADDR

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

# require_free_port exits when something already answers on $URL (at
# $ADDR), so that a run never measures another node.
require_free_port() {
	if curl -s -o /dev/null --max-time 1 "$URL/version"; then
		echo "something already answers on $ADDR; set PORT" >&2
		exit 1
	fi
}

# build_bench builds the aleph command and the bench/$1 program into $tmp.
build_bench() {
	echo "building into $tmp …"
	go build -o "$tmp/aleph" ./cmd/aleph
	go build -o "$tmp/$1" "./bench/$1"
}
