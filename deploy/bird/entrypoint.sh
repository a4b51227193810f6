#!/bin/sh
# BIRD for PureLB: runs in the foreground on the host network with its config and control socket in the
# directory shared with the lbnodeagent (hostPath). The agent renders bird.conf there and reloads BIRD
# over the socket; until it does, BIRD runs a minimal config that advertises nothing.
set -eu
DIR="${PURELB_BIRD_DIR:-/run/purelb/bird}"
CONF="$DIR/bird.conf"
mkdir -p "$DIR"
if [ ! -s "$CONF" ]; then
  # router id: any IPv4 of this host; the agent's config sets the real one
  printf 'router id %s;\nprotocol device {}\n' "${PURELB_BIRD_ROUTER_ID:-192.0.2.1}" > "$CONF"
fi
# a stale socket from a previous container would make birdc talk to nobody
rm -f "$DIR/bird.ctl"
exec bird -f -c "$CONF" -s "$DIR/bird.ctl" "$@"
