//go:build !cgo

package ndsr

// The package wraps libndsr through cgo: without it there is nothing to build. This file
// turns Go's "build constraints exclude all Go files" into an error that says so.
var _ = ndsr_needs_cgo__build_with_CGO_ENABLED_1_and_a_C_compiler
