//go:build ndsr_system

package ndsr

/*
#cgo pkg-config: ndsr
*/
import "C"
