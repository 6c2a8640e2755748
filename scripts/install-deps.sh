#!/usr/bin/env bash
# scripts/install-deps.sh: install the Debian packages that Almanac's build and tests need,
# only those that are missing. Idempotent and non-interactive; says what it does.
set -euo pipefail

# Build toolchain and libraries named in DESIGN.md, plus the test tools. clang and its
# sanitizer and libFuzzer runtimes (only a Recommends of clang, which we do not install by
# default) build the fuzz targets of tests/fuzz (docs/testing.md). dpkg-dev and debhelper
# build the Debian package (`make deb`, debian/), and adduser is what it depends on.
# Chromium, its chromedriver and Selenium drive the web page in a real browser
# (tests/integration/test_web.py). libcurl is almanacd's SMTP client for iMIP as well as the
# tests' HTTP client; python3-aiosmtpd is the real SMTP server the iMIP tests send to
# (tests/integration/test_imip.py). PostgreSQL 15 (server and psql) runs the private clusters
# of the PostgreSQL store's tests (tests/integration/pgcluster.py, issue #10); they never use
# the cluster Debian's package may create and start, and libpq-dev builds the engine.
packages=(
    build-essential cmake pkg-config
    libmicrohttpd-dev libgnutls28-dev libxml2-dev libical-dev libicu-dev libsqlite3-dev libpq-dev libsodium-dev
    libcmocka-dev libcurl4-openssl-dev
    litmus curl python3 clang-format git openssl
    clang libclang-rt-dev
    python3-caldav vdirsyncer libwbxml2-utils sqlite3 python3-aiosmtpd
    dpkg-dev debhelper adduser
    postgresql-15 postgresql-client-15
    chromium chromium-driver python3-selenium
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "install-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-deps: done"
