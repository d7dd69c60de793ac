#!/bin/bash
# The store is split into units of one job each (docs/architecture.md,
# "The store"): no file in persistence/ grows past 400 lines.
# Usage: file_sizes.sh SOURCE_DIR
set -u
limit=400
status=0
for f in "$1"/persistence/*.cpp "$1"/persistence/*.hpp; do
  n=$(wc -l < "$f")
  if [ "$n" -gt "$limit" ]; then
    echo "persistence/$(basename "$f"): $n lines, more than $limit" >&2
    status=1
  fi
done
[ "$status" -eq 0 ] && echo "every file in persistence/ has at most $limit lines"
exit $status
