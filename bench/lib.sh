# Shell functions shared by the bench scripts; they source it from the
# repository root:  . bench/lib.sh

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
