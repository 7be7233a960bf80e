#!/usr/bin/env bash
# Quick start: set everything up, then run Berth: the engine (berthd) and Berth Desktop. The app
# opens natively where Electron's binary is installed (setup fetches it when it can) and there is a
# display; else in web mode, a link to open in a browser (`berth desktop` says why). Ctrl-C stops
# both; quitting the app leaves the engine running until then. Arguments go to berthd (dockerd's
# flags); the first -H is where the app looks.
# BERTH_SKIP_SETUP=1 skips the setup (already done); BERTH_DAEMON_LOG moves the engine's log.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -n "${BERTH_SKIP_SETUP:-}" ] || bash build/setup.sh

HOST=
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
  case "${args[i]}" in
    -H | --host) HOST=${args[i + 1]:-} ;;
    -H=* | --host=*) HOST=${args[i]#*=} ;;
    -Hunix://* | -Htcp://*) HOST=${args[i]#-H} ;;
    *) continue ;;
  esac
  [[ "$HOST" == unix://* ]] && break
done
HOST=${HOST:-unix:///run/berth/docker.sock}
SOCK=
[[ "$HOST" == unix://* ]] && SOCK=${HOST#unix://}
export BERTH_DAEMON_LOG=${BERTH_DAEMON_LOG:-/var/log/berth/berthd.log}
mkdir -p "$(dirname "$BERTH_DAEMON_LOG")"

# berthd logs JSON lines to stderr (this terminal) and to its own rotated log file, which the
# app's Troubleshoot screen finds through the launch record berthd writes beside its socket.
./bin/berthd --log-file "$BERTH_DAEMON_LOG" "$@" &
BERTHD=$!
DESKTOP=
stop() {
  trap - INT TERM EXIT
  [ -n "$DESKTOP" ] && kill "$DESKTOP" 2>/dev/null || true
  kill "$BERTHD" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

ready() {
  if [ -n "$SOCK" ]; then [ -S "$SOCK" ]; else ./bin/berth -H "$HOST" version >/dev/null 2>&1; fi
}
for _ in $(seq 1 300); do
  ready && break
  kill -0 "$BERTHD" 2>/dev/null || { echo "berth: the engine did not start (see above)" >&2; exit 1; }
  sleep 0.05
done

cat <<MSG

  Berth engine running on $HOST (log: $BERTH_DAEMON_LOG)
  Point the docker CLI (or any Docker client) at it from another shell:

      export DOCKER_HOST=$HOST
      docker run --rm -it <image> sh

  or use Berth's own CLI:  $(pwd)/bin/berth ps
  Stop everything with Ctrl-C.

MSG
./bin/berth -H "$HOST" desktop ${BERTH_DESKTOP_ARGS:---no-open} &
DESKTOP=$!
wait -n "$BERTHD" "$DESKTOP" || true
# Quitting the app leaves the engine to the containers and the docker CLI, until Ctrl-C.
if kill -0 "$BERTHD" 2>/dev/null; then
  DESKTOP=
  echo "berth: Berth Desktop closed; the engine keeps running (reopen the app: ./bin/berth -H $HOST desktop). Ctrl-C stops it."
  wait "$BERTHD" || true
fi
