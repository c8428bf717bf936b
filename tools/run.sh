#!/usr/bin/env bash
# run.sh BIN — what `make run` starts: devtools on 127.0.0.1:8081 and the
# relay serving the page (static/) on 127.0.0.1:8080, reporting to it.
#
# Ctrl-C or SIGTERM (to this script or its whole process group) stops both:
# each is sent SIGTERM once, shuts down gracefully, and is waited for; a
# stop asked for is a clean exit (0). If either exits by itself (a port in
# use), the other is stopped too and its status is the script's. Only the two started
# PIDs are ever signalled (never the process group: `trap 'kill 0'` signals
# this shell too, re-enters its own trap and crashed bash).
set -u
bin=${1:?usage: tools/run.sh BIN}

"$bin/devtools" -addr 127.0.0.1:8081 &
devtools=$!
"$bin/relay" -addr 127.0.0.1:8080 -static static -devtools ws://127.0.0.1:8081/peer &
relay=$!

# stop signals both servers once and waits for them.
stop() {
	trap '' INT TERM
	kill -TERM "$devtools" "$relay" 2>/dev/null
	wait "$devtools" "$relay" 2>/dev/null
}
trap 'stop; exit 0' INT
trap 'stop; exit 0' TERM

wait -n "$devtools" "$relay" # one of them ended by itself (a failed listen)
status=$?
stop
exit "$status"
