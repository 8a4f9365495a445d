#!/usr/bin/env bash
# Builds the image's files into DIR: DIR/fs, the root filesystem (the three
# commands, static and stamped with VERSION, the CA certificates, a non-root
# user, /tmp), and DIR/user, the user's working directory /data, which the
# Dockerfile copies in as the user's own. The Dockerfile's build stage runs it; so does
# scripts/image-offline.sh on a machine that cannot pull a Go image.
#
#   scripts/build-rootfs.sh DIR VERSION
set -euo pipefail

dir=${1:?usage: build-rootfs.sh DIR VERSION}
out=$dir/fs
version=${2:?usage: build-rootfs.sh DIR VERSION}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cd "$here/.."

# The uid the image runs as (the Dockerfile's USER); 65532 is the usual
# "nonroot" id of minimal images.
uid=65532
certs=/etc/ssl/certs/ca-certificates.crt
[ -s "$certs" ] || { echo "build-rootfs: $certs is missing (apt-get install ca-certificates)" >&2; exit 1; }

mkdir -p "$out/usr/local/bin" "$out/etc/ssl/certs" "$out/tmp" "$dir/user/data"
CGO_ENABLED=0 go build -trimpath -buildvcs=false \
	-ldflags "-s -w -X github.com/cobatch/cobatch/internal/version.Version=$version" \
	-o "$out/usr/local/bin/" ./cmd/enqueue ./cmd/worker ./cmd/cohere-sim
cp "$certs" "$out/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\ncobatch:x:%d:%d:cobatch:/data:/sbin/nologin\n' "$uid" "$uid" >"$out/etc/passwd"
printf 'root:x:0:\ncobatch:x:%d:\n' "$uid" >"$out/etc/group"
chmod 1777 "$out/tmp"
