#!/usr/bin/env bash
# The whole test suite: set up (packages, npm, build), lint, type-check, then all
# tests against real components (registry, skopeo, docker CLI, kernel).
set -euo pipefail
cd "$(dirname "$0")/.."
bash build/setup.sh --with-tests
echo "berth test: lint"
npx eslint --max-warnings 0 .
echo "berth test: type-check"
npx tsc -b --pretty
npx tsc -p renderer/tsconfig.json --pretty
echo "berth test: VM image"
# Cached by the hash of its inputs (/var/cache/berth/vm): only a changed recipe or engine rebuilds it.
bash vm/build.sh
echo "berth test: arm64 VM"
# Built and booted only when vm/ changed since it was last verified (or BERTH_VM_ARM64=1): see the script.
bash build/vm-arm64.sh
echo "berth test: tests"
node build/run-tests.mjs "$@"
