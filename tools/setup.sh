#!/usr/bin/env bash
# tools/setup.sh — everything a fresh Debian 12 machine needs: installs the packages listed in
# tools/debian-packages.txt (only those missing; with sudo when not root), then configures and builds into build/.
# Usage: bash tools/setup.sh [extra cmake options]
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
while read -r pkg; do
    [ -z "$pkg" ] && continue
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done < tools/debian-packages.txt

if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
echo "setup: built build/gemma4 and the tests (ctest --test-dir build)"
