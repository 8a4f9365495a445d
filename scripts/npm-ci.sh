#!/usr/bin/env bash
# Installs the npm packages a directory's package-lock.json pins, for the
# tests that run real JavaScript clients against what cobatch writes:
#
#   scripts/npm-ci.sh internal/langchain
#
# It runs `npm ci` only when node_modules is missing or was installed from a
# different lock file (a stamp beside the packages records the lock file's
# sha256), so a second run costs nothing and needs no network. npm's own
# cache is used first (--prefer-offline). Runs for the same directory queue
# on a lock. Progress goes to stderr.
set -euo pipefail

dir=${1:?usage: scripts/npm-ci.sh DIR}
cd "$dir"
[ -f package-lock.json ] || { echo "npm-ci: $dir has no package-lock.json" >&2; exit 1; }
command -v npm >/dev/null 2>&1 || { echo "npm-ci: npm is not installed (Debian: apt-get install nodejs npm)" >&2; exit 1; }

stamp=node_modules/.cobatch-lock-sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)

exec 9>.npm-ci.lock
flock 9
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
	exit 0
fi
echo "npm-ci: installing $dir from package-lock.json" >&2
npm ci --prefer-offline --no-audit --no-fund --ignore-scripts --loglevel=error >&2
echo "$want" >"$stamp"
