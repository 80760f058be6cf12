#!/bin/sh
# Shell health check (POSIX sh: scriptcage runs it as `sh -c`).
#
#   scriptcage run examples/check.sh --shell
#   scriptcage run examples/check.sh --shell --env MAX_DISK_USED_PERCENT=80
#
# Prints a short report on stdout; exits 0 when healthy, 1 when the disk
# holding the working directory is fuller than MAX_DISK_USED_PERCENT
# (default 95), 2 when a required tool is missing.

max_used="${MAX_DISK_USED_PERCENT:-95}"

for tool in df awk uname; do
  command -v "$tool" >/dev/null 2>&1 || { echo "missing tool: $tool" >&2; exit 2; }
done

echo "kernel: $(uname -sr)"
echo "user: $(id -u 2>/dev/null || echo '?')"

used=$(df -P . | awk 'NR == 2 { sub("%", "", $5); print $5 }')
case "$used" in
  ''|*[!0-9]*) echo "cannot read disk usage of $(pwd)" >&2; exit 1 ;;
esac
echo "disk used: ${used}% (max ${max_used}%)"

if [ "$used" -gt "$max_used" ]; then
  echo "disk usage ${used}% is above ${max_used}%" >&2
  exit 1
fi
echo "healthy"
