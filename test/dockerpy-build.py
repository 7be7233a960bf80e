"""Builds one context through docker-py's images.build (the classic API, as compose v1 and
testcontainers use it) and prints one JSON line: {"id": ..., "stream": ...} on success,
{"error": ..., "stream": ...} on a BuildError or APIError.

Usage: DOCKER_HOST=unix:///... python3 test/dockerpy-build.py '<json options>'
Options: path (the context dir), tag, buildargs, platform, nocache, pull, cache_from,
network_mode, extra_hosts, target, dockerfile; they map onto images.build's keyword arguments.
"""
import json
import os
import sys

# The vendored docker-py (one constant: the coordinator may point it elsewhere).
DOCKER_PY_SUITE = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'conformance', 'docker-py', 'suite')
sys.path.insert(0, DOCKER_PY_SUITE)

import docker  # noqa: E402


def main():
    opts = json.loads(sys.argv[1])
    client = docker.from_env(timeout=300)
    kwargs = {k: v for k, v in opts.items() if v is not None}
    kwargs.setdefault('rm', True)
    stream = []
    try:
        image, logs = client.images.build(**kwargs)
        for chunk in logs:
            if 'stream' in chunk:
                stream.append(chunk['stream'])
        print(json.dumps({'id': image.id, 'stream': ''.join(stream)}))
    except docker.errors.BuildError as e:
        for chunk in e.build_log:
            if 'stream' in chunk:
                stream.append(chunk['stream'])
        print(json.dumps({'error': e.msg, 'stream': ''.join(stream)}))
    except docker.errors.APIError as e:
        print(json.dumps({'error': str(e.explanation), 'stream': ''}))


if __name__ == '__main__':
    main()
