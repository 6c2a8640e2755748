#!/usr/bin/env bash
# scripts/demo-setup.sh ALMANAC DATA: creates the demo user and calendar in DATA unless the
# user exists already. The generated password is printed once; it is not stored anywhere
# else (run `almanac --data DATA user passwd demo --password-stdin` to change it).
set -euo pipefail
almanac=$1
data=$2
if "$almanac" --data "$data" user list 2>/dev/null | grep -qx demo; then
    echo "demo-setup: user 'demo' exists in $data (password unchanged)"
    exit 0
fi
password=$("$almanac" --data "$data" user add demo --generate-password)
"$almanac" --data "$data" calendar add demo calendar --displayname "Demo calendar"
cat <<MSG
demo-setup: created user 'demo' with calendar /calendars/demo/calendar/ in $data
demo-setup: password for 'demo' (shown once): $password
demo-setup: try  curl -u demo:$password -X PROPFIND -H 'Depth: 1' http://127.0.0.1:8008/calendars/demo/
MSG
