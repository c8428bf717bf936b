#!/usr/bin/env bash
# run.sh BIN — what `make run` starts: devtools on 127.0.0.1:8081, the
# relay serving the page (static/) on 127.0.0.1:8080, reporting to it, and
# a mirror on that relay (data in mirror-data/, metrics on 127.0.0.1:8082),
# which the relay names in its /config.json: the page pins its books to it
# (sealed: the mirror cannot read them). PIN_MIRROR=0 leaves it unnamed.
#
# Ctrl-C or SIGTERM (to this script or its whole process group) stops them
# all: each is sent SIGTERM once, shuts down gracefully, and is waited for;
# a stop asked for is a clean exit (0). If one exits by itself (a port in
# use), the others are stopped too and its status is the script's. Only the
# started PIDs are ever signalled (never the process group: `trap 'kill 0'` signals
# this shell too, re-enters its own trap and crashed bash).
#
# RUN_RELAY_ADDR, RUN_DEVTOOLS_ADDR, RUN_MIRROR_ADDR and RUN_MIRROR_DIR move
# them (e2e TestMakeRun runs this script on free ports).
set -u
bin=${1:?usage: tools/run.sh BIN}
relay_addr=${RUN_RELAY_ADDR:-127.0.0.1:8080}
devtools_addr=${RUN_DEVTOOLS_ADDR:-127.0.0.1:8081}
mirror_addr=${RUN_MIRROR_ADDR:-127.0.0.1:8082}
mirror_dir=${RUN_MIRROR_DIR:-mirror-data}

pin=()
if [ "${PIN_MIRROR:-1}" = 1 ]; then
	mirror_id=$("$bin/mirror" -dir "$mirror_dir" -print-id) || exit 1
	echo "  mirror id: $mirror_id (data in $(cd "$mirror_dir" && pwd))"
	pin=(-mirror "$mirror_id")
fi
"$bin/devtools" -addr "$devtools_addr" &
devtools=$!
"$bin/relay" -addr "$relay_addr" -static static -devtools "ws://$devtools_addr/peer" "${pin[@]}" &
relay=$!
"$bin/mirror" -dir "$mirror_dir" -relay "ws://$relay_addr/relay" -addr "$mirror_addr" &
mirror=$!

# stop signals the servers once and waits for them.
stop() {
	trap '' INT TERM
	kill -TERM "$devtools" "$relay" "$mirror" 2>/dev/null
	wait "$devtools" "$relay" "$mirror" 2>/dev/null
}
trap 'stop; exit 0' INT
trap 'stop; exit 0' TERM

wait -n "$devtools" "$relay" "$mirror" # one of them ended by itself (a failed listen)
status=$?
stop
exit "$status"
