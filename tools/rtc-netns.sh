#!/usr/bin/env bash
# Runs a command inside a private network namespace that has only the
# loopback interface up, so WebRTC tests can use 127.0.0.1 host candidates
# and nothing can leave the machine. (DESIGN.md "Networking in tests",
# setup 1: Chromium needs --allow-loopback-in-peer-connection and a
# getUserMedia call in the page, which the test harness makes.)
#
# Usage: tools/rtc-netns.sh COMMAND [ARGS...]   (needs root, as CI has)
set -euo pipefail
ns="tmrtc-$$"
if ! ip netns add "$ns"; then
	echo "rtc-netns: cannot create network namespace $ns (root needed): the WebRTC tests cannot run" >&2
	exit 1
fi
trap 'ip netns delete "$ns" 2>/dev/null || true' EXIT
ip netns exec "$ns" ip link set lo up
ip netns exec "$ns" env E2E_NETNS="$ns" "$@"
