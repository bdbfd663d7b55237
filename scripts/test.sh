#!/usr/bin/env bash
# The whole test suite, on a fresh Debian 12 machine with the Swift toolchain:
#   1. installs the Debian packages the tests need (real RTSP peers: ffmpeg, GStreamer, mpv; libonvif's onvif-util; libxml2 headers;
#      iproute2 and nftables for the network-namespace tests (multicast, discovery, the egress lock); systemd
#      and util-linux to run the hardened unit under a throwaway systemd; curl; python3-venv), and the PyPI peers (wsdiscovery, onvif-zeep-async, aiortsp) into .build-venv,
#   2. checks formatting (`swift format lint --strict`, config in .swift-format),
#   3. builds everything, tests included (our targets treat warnings as errors, see Package.swift),
#   4. runs every test,
#   5. runs each libFuzzer target briefly (CAMGW_FUZZ_SECONDS, default 60 each; 0 skips).
# Exits non-zero when anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    pkg-config libxml2-dev openssl iproute2 nftables curl python3 python3-venv systemd util-linux
    ffmpeg mpv onvif-tools
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav
)
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    sudo_cmd=()
    [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
    "${sudo_cmd[@]}" apt-get update
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The PyPI peers: a real WS-Discovery stack and the ONVIF client Home Assistant uses. The tests find them in
# .build-venv (kept out of git by the .build-* rule).
# Pinned: the versions the README's compatibility matrix names.
if ! .build-venv/bin/python -c "import wsdiscovery, onvif, aiortsp" 2>/dev/null; then
    echo "== installing the PyPI peers into .build-venv"
    python3 -m venv .build-venv
    .build-venv/bin/pip install --quiet --disable-pip-version-check \
        WSDiscovery==2.1.2 onvif-zeep-async==4.3.0 aiortsp==1.4.0
fi
# python-onvif-zeep (the synchronous client many VMS scripts use) installs the same `onvif` module as
# onvif-zeep-async, so it gets a venv of its own.
if ! .build-venv-zeep/bin/python -c "from onvif import ONVIFCamera; import zeep" 2>/dev/null; then
    echo "== installing python-onvif-zeep into .build-venv-zeep"
    python3 -m venv .build-venv-zeep
    .build-venv-zeep/bin/pip install --quiet --disable-pip-version-check onvif-zeep==0.2.12
fi

echo "== swift format lint --strict"
swift format lint --strict --recursive Sources Tests Package.swift

echo "== swift build --build-tests"
swift build --build-tests

echo "== swift test"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
# One test at a time: the suites run real peers (ffmpeg, GStreamer, Python ONVIF clients, daemons in network
# namespaces), and all of them at once on a 2-core machine starve each other past their timeouts. About five
# minutes; `swift test` alone runs them in parallel for a quick local check.
swift test --skip-build --no-parallel 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
# One summary line in the plain 'N passed, N failed' form, from Swift Testing's own closing line.
summary=$(grep -E "Test run with [0-9]+ tests? .*(passed|failed)" "$log" | tail -1 || true)
total=$(echo "$summary" | sed -E 's/.*Test run with ([0-9]+) tests?.*/\1/')
failed=$(echo "$summary" | grep -oE "with [0-9]+ issues?" | grep -oE "[0-9]+" || echo 0)
if [ "$status" -ne 0 ]; then
    [ -z "$summary" ] || echo "tests: failed with $failed issues"
    exit "$status"
fi

fuzz_seconds=${CAMGW_FUZZ_SECONDS:-60}
if [ "$fuzz_seconds" -gt 0 ]; then
    echo "== scripts/fuzz.sh $fuzz_seconds"
    scripts/fuzz.sh "$fuzz_seconds"
fi
# The closing line, in the plain 'N passed, N failed' form, from Swift Testing's own summary.
[ -z "$summary" ] || echo "tests: $total passed, 0 failed"
