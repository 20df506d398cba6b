#!/bin/sh
# restart.sh BACKEND - the example's stand-in for "install the new release
# and restart": stop the nginx of BACKEND gracefully (SIGQUIT: requests in
# flight finish), wait until it is gone, start it again.
#
# Each backend's nginx lives in backends/BACKEND/ (nginx.conf, nginx.pid),
# or in $BACKENDS_DIR/BACKEND/. nodown runs this in the plan's directory,
# with NODOWN_PLAN, NODOWN_RUN, NODOWN_POOL and NODOWN_BACKEND set.
set -eu
dir="${BACKENDS_DIR:-$(pwd)/backends}/$1"
[ -f "$dir/nginx.conf" ] || { echo "restart.sh: no $dir/nginx.conf" >&2; exit 2; }
if [ -s "$dir/nginx.pid" ]; then
	pid=$(cat "$dir/nginx.pid")
	echo "stopping nginx $pid of $1"
	kill -QUIT "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
fi
# (nginx reads $NGINX itself, hence NGINX_BIN; its output goes to a file:
# the daemon it leaves behind must not hold this script's output open)
if ! "${NGINX_BIN:-nginx}" -c "$dir/nginx.conf" -p "$dir/" -e "$dir/error.log" >"$dir/start.log" 2>&1; then
	cat "$dir/start.log"
	exit 1
fi
i=0
while [ ! -s "$dir/nginx.pid" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
echo "started nginx $(cat "$dir/nginx.pid") of $1"
