#!/usr/bin/env bash
# tests/lint/test_checksrc.sh: the rules of STYLE.md that a compiler does not check (after
# curl's scripts/checksrc.pl). Each finding prints as `file:line: what`, and any finding
# fails the test (exit 1):
#   - a banned function called (§3.5) in src/ tools/ tests/ bench/, comments and strings aside;
#   - an #include the layer table of §2 forbids: project headers as "layer/file.h" from an
#     allowed layer, another module's *_int.h, or a third-party header outside its owner;
#   - SQL in a string literal outside src/store (adjacent literals joined, as C joins them).
#     tests/ is not scanned: Exchange SEARCH bodies are SQL-shaped by protocol;
#   - a condition of a src/*/conds.def that docs/errors.md does not list with its status and
#     element, or a row of docs/errors.md that no conds.def defines.
# Needs bash, grep, sed and perl (perl-base, always present on Debian).
set -euo pipefail
: "${ALMANAC_SOURCE_DIR:?ALMANAC_SOURCE_DIR must name the source root}"
cd "$ALMANAC_SOURCE_DIR"
findings=$(mktemp)
trap 'rm -f "$findings"' EXIT
report() { echo "$1" >>"$findings"; }

# Prints C source with comments removed and string/char literal contents blanked, keeping
# every newline so line numbers hold (mode "code"); or every string literal, adjacent ones
# joined, as `file:line: text` (mode "strings").
c_filter() {
    perl -e '
        my ($mode, $file) = @ARGV;
        open(my $fh, "<", $file) or die "$file: $!\n";
        local $/; my $src = <$fh>;
        my ($line, $str, $str_line, $out) = (1, undef, 0, "");
        my $flush = sub {
            print "$file:$str_line: $str\n" if defined $str && $mode eq "strings";
            $str = undef;
        };
        while ($src =~ m{\G(?:(//[^\n]*)|(/\*.*?\*/)|("(?:[^"\\\n]|\\.)*")|(\x27(?:[^\x27\\\n]|\\.)*\x27)|(\s+)|([^/"\x27\s]+|.))}gs) {
            my ($lc, $bc, $s, $ch, $ws, $code) = ($1, $2, $3, $4, $5, $6);
            my $tok = $lc // $bc // $s // $ch // $ws // $code;
            if (defined $s) {
                my $body = substr($s, 1, -1);
                if (defined $str) { $str .= $body; } else { ($str, $str_line) = ($body, $line); }
                $out .= "\"\"";
            } elsif (defined $lc || defined $bc) {
                $out .= "\n" x ($tok =~ tr/\n//);
            } elsif (defined $ws) {
                $out .= $ws;
            } else {
                $flush->();
                $out .= defined $ch ? "\x27 \x27" : $code;
            }
            $line += ($tok =~ tr/\n//);
        }
        $flush->();
        print $out if $mode eq "code";
    ' "$1" "$2"
}

list_files() { # list_files DIR... : C sources and headers under the directories that exist
    local d
    for d in "$@"; do
        if [ -d "$d" ]; then find "$d" -type f \( -name '*.c' -o -name '*.h' \); fi
    done | LC_ALL=C sort
}

# --- banned functions (§3.5) ---------------------------------------------------------------
banned='strcpy|strcat|strncpy|strncat|sprintf|vsprintf|gets|strtok|atoi|atol|atof|alloca'
while IFS= read -r f; do
    c_filter code "$f" | grep -nE "(^|[^A-Za-z0-9_])($banned)[[:space:]]*\(" |
        while IFS= read -r hit; do
            name=$(echo "$hit" | grep -oE "(^|[^A-Za-z0-9_])($banned)[[:space:]]*\(" | head -1 |
                   sed -E "s/^[^A-Za-z]*//; s/[[:space:]]*\($//")
            report "$f:${hit%%:*}: banned function $name() (STYLE.md §3.5)"
        done || true
done < <(list_files src tools tests bench)

# --- includes: the layer table (§2) --------------------------------------------------------
# Project layers each layer may include ("*": any). tools/ is its own row below.
declare -A allowed=(
    [util]="util"
    [xml]="xml util"
    [cal]="cal util"
    [store]="store util"
    [http]="http util"
    [dav]="dav http xml store cal util"
    [caldav]="caldav dav cal xml store http util"
    [repl]="repl dav cal xml store http util"
    [eas]="eas cal store http util"
    [server]="*"
)
# Third-party headers (a prefix of the name inside <>) and the one layer that may include
# them; "tests" marks test-only dependencies.
declare -A owner=(
    [sodium.h]=util [sqlite3.h]=store [libpq-fe.h]=store [microhttpd.h]=http
    [libxml/]=xml [libical/]=cal [ical.h]=cal [unicode/]=cal [cmocka.h]=tests [curl/]=tests
)

# check_includes FILE LAYER: LAYER is a src/ layer or "tools".
check_includes() {
    local f=$1 layer=$2 n inc target hdr
    while IFS=: read -r n inc; do
        if [[ "$inc" =~ \#[[:space:]]*include[[:space:]]*\"([^\"]*)\" ]]; then
            target=${BASH_REMATCH[1]}
            if ! [[ "$target" =~ ^([a-z_]+)/[A-Za-z0-9_]+\.(h|def)$ ]]; then
                report "$f:$n: project include \"$target\" is not \"layer/file.h\""
                continue
            fi
            local tl=${BASH_REMATCH[1]}
            if [[ "$target" == *_int.h && "$tl" != "$layer" ]]; then
                report "$f:$n: \"$target\" is internal to src/$tl"
            elif [ "$layer" = tools ]; then
                case "$tl" in
                store | cal | util) ;;
                server) [ "$target" = server/config.h ] ||
                    report "$f:$n: tools may include only server/config.h of server" ;;
                *) report "$f:$n: tools may not include $tl ($target)" ;;
                esac
            elif [ "${allowed[$layer]}" != "*" ] && [[ " ${allowed[$layer]} " != *" $tl "* ]]; then
                report "$f:$n: layer $layer may not include $tl ($target)"
            fi
        elif [[ "$inc" =~ \#[[:space:]]*include[[:space:]]*\<([^\>]*)\> ]]; then
            target=${BASH_REMATCH[1]}
            for hdr in "${!owner[@]}"; do
                if [[ "$target" == "$hdr"* ]] && [ "${owner[$hdr]}" != "$layer" ]; then
                    report "$f:$n: <$target> belongs to ${owner[$hdr]}, not $layer"
                fi
            done
        fi
    done < <(grep -nE '^[[:space:]]*#[[:space:]]*include' "$f" || true)
}

while IFS= read -r f; do
    layer=$(echo "$f" | cut -d/ -f2)
    if [ -z "${allowed[$layer]+set}" ]; then
        report "$f:1: src/$layer is not a layer of STYLE.md §2 (add it there and here)"
        continue
    fi
    check_includes "$f" "$layer"
done < <(list_files src)
while IFS= read -r f; do
    check_includes "$f" tools
done < <(list_files tools)

# --- SQL lives in src/store only (§2) ------------------------------------------------------
sql='\bSELECT\b.*\bFROM\b|\bINSERT[[:space:]]+(OR[[:space:]]+[A-Z]+[[:space:]]+)?INTO\b|\bUPDATE[[:space:]]+[A-Za-z_]+[[:space:]]+SET\b|\bDELETE[[:space:]]+FROM\b|\b(CREATE|DROP|ALTER)[[:space:]]+(UNIQUE[[:space:]]+)?(TABLE|INDEX|VIEW|TRIGGER)\b|\bPRAGMA[[:space:]]+[a-z_]+'
while IFS= read -r f; do
    case "$f" in src/store/*) continue ;; esac
    c_filter strings "$f" | grep -E "$sql" | while IFS= read -r hit; do
        report "${hit%%: *}: SQL outside src/store: ${hit#*: }"
    done || true
done < <(list_files src tools bench)

# --- every condition is documented (§3.3) --------------------------------------------------
# docs/errors.md rows read | `name` | status | element | ...; element is `P:name` for a
# namespaced condition (D: DAV:, C: CalDAV, CS: calendarserver, A: urn:x-almanac:), else -.
declare -A prefix=([DAV:]=D [urn:ietf:params:xml:ns:caldav]=C
                   [http://calendarserver.org/ns/]=CS [urn:x-almanac:]=A)
declare -A defined=() # "name status" -> 1
errors=docs/errors.md
if [ ! -f "$errors" ]; then
    report "$errors:1: missing"
else
    shopt -s nullglob
    for def in src/*/conds.def; do
        while IFS=: read -r n line; do
            re='^[[:space:]]*ERR_COND\([[:space:]]*[A-Za-z_][A-Za-z0-9_]*[[:space:]]*,[[:space:]]*"([^"]+)"[[:space:]]*,[[:space:]]*(NULL|"[^"]*")[[:space:]]*,[[:space:]]*([0-9]+)[[:space:]]*,'
            if ! [[ "$line" =~ $re ]]; then
                report "$def:$n: cannot read this ERR_COND(sym, \"name\", ns, http, eas) line"
                continue
            fi
            name=${BASH_REMATCH[1]} ns=${BASH_REMATCH[2]} status=${BASH_REMATCH[3]}
            defined["$name $status"]=1
            if [ "$ns" = NULL ]; then
                element=-
            else
                ns=${ns//\"/}
                element="\`${prefix[$ns]:-?}:$name\`"
            fi
            row=$(grep -nF "| \`$name\` | $status |" "$errors" | head -1 || true)
            if [ -z "$row" ]; then
                report "$def:$n: condition $name ($status) is not listed in $errors"
            elif [[ "$row" != *"| \`$name\` | $status | $element |"* ]]; then
                report "${errors}:${row%%:*}: $name should have element $element (per $def:$n)"
            fi
        done < <(grep -nE '^[[:space:]]*ERR_COND' "$def" || true)
    done
    while IFS=: read -r n line; do
        if [[ "$line" =~ ^\|\ \`([a-z0-9-]+)\`\ \|\ ([0-9]+)\ \| ]]; then
            if [ -z "${defined["${BASH_REMATCH[1]} ${BASH_REMATCH[2]}"]+set}" ]; then
                report "$errors:$n: no src/*/conds.def defines ${BASH_REMATCH[1]} (${BASH_REMATCH[2]})"
            fi
        fi
    done < <(grep -nE '^\| `' "$errors" || true)
fi

if [ -s "$findings" ]; then
    cat "$findings"
    echo "checksrc: $(wc -l <"$findings") findings"
    exit 1
fi
echo "checksrc: clean"
