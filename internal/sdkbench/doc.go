// Package sdkbench runs Cohere's official Go SDK and cobatch side by side
// against the same simulator. It is a module of its own so that cobatch
// itself never depends on the SDK; its go.mod points the cobatch module at
// this repository.
package sdkbench
