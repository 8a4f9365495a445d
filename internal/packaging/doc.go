// Package packaging checks the files that ship cobatch: the Dockerfile (with
// scripts/build-rootfs.sh, which its build stage runs) and compose.yaml. The
// Kubernetes manifests under deploy/k8s are checked by a module of their own,
// so that cobatch does not depend on the Kubernetes API packages.
//
// The checks are structural: they hold where no container engine runs.
// scripts/image-offline.sh builds and runs the image where podman is
// installed.
package packaging
