#!/usr/bin/env bash
# Builds camgw-bench in release and runs it with malloc-interposer preloaded, so it can count allocations.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --product camgw-bench
bin=$(swift build -c release --show-bin-path)
LD_PRELOAD="$bin/libMallocInterposerSwift.so" "$bin/camgw-bench"
