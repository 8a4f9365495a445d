// Package k8s holds no code: its test decodes the Kubernetes manifests in
// this directory strictly into the Kubernetes API types and checks what the
// worker needs of them. It is a module of its own so that cobatch does not
// depend on the Kubernetes API packages.
package k8s
