#!/usr/bin/env bash
# Quick start: set everything up, then run Berth: the engine (berthd) on its default socket and
# Berth Desktop (the Electron app when its binary is installed, else web mode on 127.0.0.1).
# Both stop with Ctrl-C. Arguments go to berthd (dockerd's flags).
set -euo pipefail
cd "$(dirname "$0")/.."
bash build/setup.sh
SOCK=/run/berth/docker.sock
LOG_DIR=/var/log/berth
mkdir -p "$LOG_DIR"
export BERTH_DAEMON_LOG="$LOG_DIR/berthd.log"

# berthd logs JSON lines to stderr: keep them on the terminal and in a file the app's
# Troubleshoot screen can show.
./bin/berthd "$@" 2> >(tee -a "$BERTH_DAEMON_LOG" >&2) &
BERTHD=$!
DESKTOP=
stop() {
  trap - INT TERM EXIT
  [ -n "$DESKTOP" ] && kill "$DESKTOP" 2>/dev/null || true
  kill "$BERTHD" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

for _ in $(seq 1 200); do
  [ -S "$SOCK" ] && break
  kill -0 "$BERTHD" 2>/dev/null || { echo "berth: the engine did not start (see above)" >&2; exit 1; }
  sleep 0.05
done

cat <<MSG

  Berth engine running on unix://$SOCK (log: $BERTH_DAEMON_LOG)
  Point the docker CLI (or any Docker client) at it from another shell:

      export DOCKER_HOST=unix://$SOCK
      docker run --rm -it <image> sh

  or use Berth's own CLI:  $(pwd)/bin/berth ps
  Stop everything with Ctrl-C.

MSG
./bin/berth -H "unix://$SOCK" desktop ${BERTH_DESKTOP_ARGS:---no-open} &
DESKTOP=$!
wait -n "$BERTHD" "$DESKTOP" || true
