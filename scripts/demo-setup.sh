#!/usr/bin/env bash
# scripts/demo-setup.sh ALMANAC DATA [LISTEN]: creates the demo user and calendar in DATA unless
# the user exists already; LISTEN (host:port, default 127.0.0.1:8008) is where `make run` serves,
# for the example printed. The generated password is printed once; it is not stored anywhere
# else (run `almanac --data DATA user passwd demo --password-stdin` to change it).
set -euo pipefail
almanac=$1
data=$2
listen=${3:-127.0.0.1:8008}
if "$almanac" --data "$data" user list 2>/dev/null | grep -qx demo; then
    echo "demo-setup: user 'demo' exists in $data (password unchanged)"
    exit 0
fi
password=$("$almanac" --data "$data" user add demo --generate-password)
"$almanac" --data "$data" calendar add demo calendar --displayname "Demo calendar"
cat <<MSG
demo-setup: created user 'demo' with calendar /calendars/demo/calendar/ in $data
demo-setup: password for 'demo' (shown once): $password
demo-setup: try  curl -u demo:$password -X PROPFIND -H 'Depth: 1' http://$listen/calendars/demo/
MSG
