# The cobatch image: enqueue, worker and cohere-sim on an empty base, run as
# a non-root user. Build with `make image` (VERSION defaults to git describe).
#
#   docker run cobatch:latest -concurrency 16                  # the worker (default entrypoint)
#   docker run --entrypoint enqueue cobatch:latest -sim -in /data/in.jsonl
#
# The entrypoint is the command itself (exec form, no shell): it runs as PID 1
# and receives SIGTERM directly; each command stops gracefully on it (the
# worker finishes or requeues in-flight chunks within -shutdown-timeout). The
# commands start no child processes, so there is nothing for an init to reap.

ARG GO_VERSION=1.26

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=devel
RUN scripts/build-rootfs.sh /rootfs "${VERSION}"

# scripts/image-offline.sh builds this stage from a rootfs built on the host:
# keep it free of RUN steps (the base has no shell).
FROM scratch AS image
COPY --from=build /rootfs/fs/ /
# COPY makes files root's: the working directory (default Parquet output) is
# copied as an item of its own so that --chown applies to it.
COPY --from=build --chown=65532:65532 /rootfs/user/ /
ENV PATH=/usr/local/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
WORKDIR /data
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/worker"]
