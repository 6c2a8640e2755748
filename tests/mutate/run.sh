#!/bin/sh
# tests/mutate/run.sh: the mutation tester; see run.py (make mutate).
exec python3 "$(dirname "$0")/run.py" "$@"
