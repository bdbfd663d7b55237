#!/usr/bin/env bash
# Builds the libFuzzer targets (Swift code instrumented for coverage and AddressSanitizer, per
# ../shared/FUZZING.md) and runs each for a bounded time. Seed corpora: fuzz/seeds/<target> plus the shared camera
# fixtures. A crash writes fuzz/artifacts/<target>/crash-*; copy it into Tests/Fuzz/regressions/<target>/ once
# fixed, where the test suite replays it.
#   scripts/fuzz.sh [seconds per target, default 60] [target ...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(FuzzRTSPParser FuzzHeaders FuzzSDP FuzzRTP FuzzPayload FuzzRelayInput FuzzSOAP FuzzDiscoveryProbe FuzzDiscoveryProbeMatches)
fixtures=${CAMGW_FIXTURES:-../shared/fixtures}
for target in "${targets[@]}"; do
    swift build -c release --product "$target" --scratch-path .build-fuzz --sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address >/dev/null
done
bin=.build-fuzz/release
status=0
for target in "${targets[@]}"; do
    corpus=.build-fuzz/corpus/$target
    artifacts=fuzz/artifacts/$target
    mkdir -p "$corpus" "$artifacts"
    cp -n fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
    case "$target" in
        FuzzRTSPParser) cp -n "$fixtures"/rtsp/*.txt "$corpus"/ 2>/dev/null || true ;;
        FuzzSDP) cp -n "$fixtures"/rtsp/*_sdp.txt "$corpus"/ 2>/dev/null || true ;;
        FuzzSOAP) cp -n "$fixtures"/onvif/*/*.xml "$fixtures"/discovery/*.xml "$corpus"/ 2>/dev/null || true ;;
        FuzzDiscoveryProbe | FuzzDiscoveryProbeMatches) cp -n "$fixtures"/discovery/*.xml "$corpus"/ 2>/dev/null || true ;;
    esac
    log=$(mktemp)
    set +e
    SWIFT_BACKTRACE=enable=no "$bin/$target" -max_total_time="$seconds" -use_value_profile=1 -print_final_stats=1 \
        -artifact_prefix="$artifacts/" -max_len=8192 "$corpus" >"$log" 2>&1
    code=$?
    set -e
    runs=$(grep -oE "stat::number_of_executed_units: [0-9]+" "$log" | grep -oE "[0-9]+$" || echo 0)
    counters=$(grep -oE "INFO: Loaded [0-9]+ modules +\([0-9]+ inline 8-bit counters\)" "$log" | grep -oE "\([0-9]+" | tr -d '(' | head -1)
    if [ "$code" -ne 0 ]; then
        echo "$target: FAILED (exit $code) after $runs runs; see $artifacts"; tail -30 "$log"; status=1
    elif [ "${runs:-0}" -lt 1000 ] || [ "${counters:-0}" -lt 1000 ]; then
        # FUZZING.md's traps: an empty main that exits at once, or Swift code without coverage counters.
        echo "$target: did not fuzz (runs=$runs, counters=$counters)"; tail -20 "$log"; status=1
    else
        echo "$target: $runs runs in ${seconds}s without a finding ($counters coverage counters)"
    fi
    rm -f "$log"
done
exit $status
