#!/usr/bin/env bash
# Builds the image without pulling anything: the root filesystem is built on
# this machine (scripts/build-rootfs.sh, as the Dockerfile's build stage does)
# and the Dockerfile's final stage, taken verbatim but for its COPY source, is
# built over it with podman (or buildah). Then it runs the image:
#   - as a non-root user, with the three commands and the CA certificates;
#   - the worker as PID 1 against REDIS_URL (default redis://127.0.0.1:6379/15,
#     host network), stopped with SIGTERM: it must log its graceful shutdown
#     and exit 0.
#
#   scripts/image-offline.sh [VERSION]
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
version=${1:-$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo devel)}
redis_url=${REDIS_URL:-redis://127.0.0.1:6379/15}
engine=$(command -v podman || command -v buildah || true)
[ -n "$engine" ] || { echo "image-offline: podman or buildah is needed (apt-get install podman)" >&2; exit 1; }

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
"$here/build-rootfs.sh" "$ctx/rootfs" "$version"
# The final stage, from its FROM line on, copying the local rootfs instead of
# the build stage's.
sed -n '/^FROM scratch AS image/,$p' "$root/Dockerfile" |
	sed 's|^COPY --from=build \(.*\)/rootfs/|COPY \1rootfs/|' >"$ctx/Containerfile"
grep -q '^COPY rootfs/fs/ /$' "$ctx/Containerfile" || { echo "image-offline: the Dockerfile's final stage changed shape" >&2; exit 1; }
case $engine in
*podman) podman build -q -t "cobatch:$version" -t cobatch:latest -f "$ctx/Containerfile" "$ctx" ;;
*buildah) buildah bud -q -t "cobatch:$version" -t cobatch:latest -f "$ctx/Containerfile" "$ctx" ;;
esac
echo "built cobatch:$version"
command -v podman >/dev/null || { echo "image-offline: no podman to inspect the image"; exit 0; }

fail() { echo "image-offline: FAIL: $*" >&2; exit 1; }
img=cobatch:$version
[ "$(podman image inspect --format '{{.Config.User}}' "$img")" = 65532:65532 ] || fail "image user"
[ "$(podman image inspect --format '{{json .Config.Entrypoint}}' "$img")" = '["/usr/local/bin/worker"]' ] || fail "entrypoint"
echo "image size: $(($(podman image inspect --format '{{.Size}}' "$img") / 1024 / 1024)) MiB"

# Run the image's own files, taken out of the image, in a new PID namespace
# under chroot as uid 65532: the command is PID 1 as in a container. (Where
# this was written, `podman run` could not start containers: the sandbox
# forbids the runtime's setrlimit.)
fs=$ctx/fs
mkdir -p "$fs"
cp -a "$(podman image mount "$img")/." "$fs/"
podman image unmount "$img" >/dev/null
in_image() { # ENTRYPOINT ARGS...
	# env runs before chroot: the image has no env of its own.
	unshare --pid --fork env -i PATH=/usr/local/bin HOME=/data "${run_env[@]}" "$(command -v chroot)" --userspec=65532:65532 "$fs" "$@"
}
[ "$(stat -c %u "$fs/data")" = 65532 ] || fail "/data is not the user's"
run_env=()
for cmd in enqueue worker cohere-sim; do
	in_image "/usr/local/bin/$cmd" -h >/dev/null 2>&1 || fail "$cmd -h"
done
# An end-to-end job inside the image: embedded mode against the simulator,
# writing Parquet as the non-root user into its working directory.
{ gzip -dc "$root/examples/kjv/verses.jsonl.gz" || true; } | head -500 >"$fs/data/in.jsonl"
in_image /usr/local/bin/enqueue -sim -in /data/in.jsonl -dimensions 256 -log-format json -sink parquet:/data/out >"$ctx/job.log" 2>&1 ||
	fail "embedded job: $(tail -5 "$ctx/job.log")"
grep -q '500 written' "$ctx/job.log" || fail "embedded job summary: $(tail -5 "$ctx/job.log")"
echo "embedded job in the image: $(grep -o '[0-9]* written, [0-9]* skipped, [0-9]* failed' "$ctx/job.log" | head -1)"
[ -s "$fs/etc/ssl/certs/ca-certificates.crt" ] || fail "no CA certificates"

# The worker as PID 1: SIGTERM reaches its graceful shutdown.
run_env=(REDIS_URL="$redis_url" COHERE_API_KEY=unused)
in_image /usr/local/bin/worker -http 127.0.0.1:0 -log-format json >"$ctx/worker.log" 2>&1 &
outer=$!
for _ in $(seq 600); do grep -q '"worker started"' "$ctx/worker.log" && break; sleep 0.1; done
grep -q "\"version\":\"$version\"" "$ctx/worker.log" || fail "worker log has no version $version: $(tail -3 "$ctx/worker.log")"
pid1=$(pgrep -x -f '/usr/local/bin/worker -http 127.0.0.1:0 -log-format json' | head -1)
[ "$(awk '/^NSpid:/ {print $NF}' "/proc/$pid1/status")" = 1 ] || fail "worker is not PID 1 in its namespace"
[ "$(awk '/^Uid:/ {print $2}' "/proc/$pid1/status")" = 65532 ] || fail "worker does not run as uid 65532"
kill -TERM "$pid1"
code=0
wait "$outer" || code=$?
grep -q 'shutting down' "$ctx/worker.log" || fail "no graceful shutdown logged: $(tail -3 "$ctx/worker.log")"
[ "$code" = 0 ] || fail "worker exited $code after SIGTERM"
echo "worker as PID 1 (uid 65532): graceful shutdown on SIGTERM, exit 0"
