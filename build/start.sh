#!/usr/bin/env bash
# Quick start: set everything up, then run berthd in the foreground on its default socket.
set -euo pipefail
cd "$(dirname "$0")/.."
bash build/setup.sh
SOCK=/run/berth/docker.sock
cat <<MSG

  Berth engine starting on unix://$SOCK
  Point the docker CLI (or any Docker client) at it from another shell:

      export DOCKER_HOST=unix://$SOCK
      docker pull <image> && docker images

  or use Berth's own CLI:  $(pwd)/bin/berth images
  Stop with Ctrl-C.

MSG
exec ./bin/berthd "$@"
