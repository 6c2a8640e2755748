#!/usr/bin/env bash
# scripts/install-bench-deps.sh: install the Debian packages the benchmarks need (bench/),
# only those that are missing: wrk (durable PUT throughput), nginx (the static file server
# that serves a saved PROPFIND answer as the machine's bar, issue 16), the CalDAV peers of
# bench/peers.py (Radicale, Xandikos, Cyrus IMAP with its CalDAV module and the SASL tools
# that make its user). Idempotent and non-interactive. The bench runs the peers itself, as
# unprivileged configurations in temporary directories; the packages' system services are
# not used (policy-rc.d keeps apt from starting them here).
set -euo pipefail

packages=(
    wrk
    nginx
    radicale xandikos
    cyrus-imapd cyrus-caldav cyrus-admin sasl2-bin
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-bench-deps: all ${#packages[@]} packages present"
    exit 0
fi

echo "install-bench-deps: installing ${missing[*]}"
sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
    sudo_cmd=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
# Do not start the packages' daemons (cyrus-imapd would bind the IMAP/POP ports system-wide):
# a policy-rc.d answering 101 ("action not allowed") for the time of the install.
policy=/usr/sbin/policy-rc.d
made_policy=0
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod 755 "$policy"
    made_policy=1
fi
cleanup() {
    if [ "$made_policy" = 1 ]; then
        "${sudo_cmd[@]}" rm -f "$policy"
    fi
}
trap cleanup EXIT
"${sudo_cmd[@]}" apt-get update -qq
"${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "install-bench-deps: done"
