#!/usr/bin/env bash
# tests/lint/test_checksrc.sh: STYLE.md's rules that a compiler does not check: banned
# functions, the layer dependency table (§2), third-party headers in their owning layer
# only, and no SQL outside src/store.
set -euo pipefail
: "${ALMANAC_SOURCE_DIR:?}"
cd "$ALMANAC_SOURCE_DIR"
fail=0
report() { echo "$1"; fail=1; }

files=$(git ls-files 'src/*.c' 'src/*.h' 'tools/*.c' 'tests/*.c' 'bench/*.c' 2>/dev/null ||
        find src tools tests bench -name '*.[ch]')
banned='\b(strcpy|strcat|strncpy|strncat|sprintf|vsprintf|gets|strtok|atoi|atol|atof|alloca)[[:space:]]*\('
while IFS= read -r hit; do report "banned function: $hit"; done < <(grep -nE "$banned" $files || true)

# Layer -> project layers it may include.
declare -A allowed=(
    [util]="util" [xml]="xml util" [cal]="cal util" [store]="store util" [http]="http util"
    [dav]="dav http xml store cal util" [caldav]="caldav dav cal xml store http util"
    [repl]="repl dav cal xml store http util" [eas]="eas cal store http util"
    [server]="server dav caldav repl eas http xml cal store util"
)
# Third-party header -> the one layer that may include it.
declare -A owner=([sodium.h]=util [sqlite3.h]=store [libpq-fe.h]=store [microhttpd.h]=http
                  [libxml]=xml [libical]=cal)
for f in $(find src -name '*.[ch]'); do
    layer=$(echo "$f" | cut -d/ -f2)
    while IFS= read -r inc; do
        target=$(echo "$inc" | sed -E 's/.*#[[:space:]]*include[[:space:]]*"([a-z_]+)\/.*/\1/')
        case " ${allowed[$layer]:-} " in
            *" $target "*) ;;
            *) report "$f: layer $layer may not include $target ($inc)" ;;
        esac
    done < <(grep -E '^#[[:space:]]*include[[:space:]]*"[a-z_]+/' "$f" || true)
    for hdr in "${!owner[@]}"; do
        if grep -qE "^#[[:space:]]*include[[:space:]]*<$hdr" "$f" && [ "${owner[$hdr]}" != "$layer" ]; then
            report "$f: <$hdr> belongs to layer ${owner[$hdr]}"
        fi
    done
done
for f in $(find tools -name '*.c'); do
    while IFS= read -r inc; do
        target=$(echo "$inc" | sed -E 's/.*"([a-z_]+)\/.*/\1/')
        case " store cal util server " in *" $target "*) ;; *) report "$f: tools may not include $target" ;; esac
    done < <(grep -E '^#[[:space:]]*include[[:space:]]*"[a-z_]+/' "$f" || true)
done

sql='"[^"]*\b(SELECT [^"]* FROM|INSERT INTO|UPDATE [a-z_]+ SET|DELETE FROM|CREATE (TABLE|INDEX))\b'
while IFS= read -r hit; do report "SQL outside src/store: $hit"; done < <(
    grep -nE "$sql" $(find src tools -name '*.[ch]' -not -path 'src/store/*') || true)

[ "$fail" -eq 0 ] && echo "checksrc: clean"
exit "$fail"
