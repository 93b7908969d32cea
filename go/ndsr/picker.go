package ndsr

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"runtime"
	"sync"
	"time"
	"unsafe"
)

// Picker chooses an instance of a service for each request (ndsr_picker_new): round-robin by
// default; options "strategy" (random, round_robin, weighted, consistent), "filter"
// ("zone=eu-1,..."), "down_errors", "down_window_ms", "down_ms", "panic_percent". Safe for
// concurrent use. Free it when done; a finalizer frees a forgotten one.
type Picker struct {
	mu sync.RWMutex // Free waits for picks in progress
	p  *C.ndsr_picker_t
}

// NewPicker makes a picker of the instances of path (its children read as instances).
func (r *Registry) NewPicker(path string, options map[string]string) (*Picker, error) {
	ck, cv, n, free := cOptions(options)
	defer free()
	var out *C.ndsr_picker_t
	_, err := r.withPath(path, func(h *C.ndsr_t, p *C.char, e **C.char) C.int {
		return C.ndsr_go_picker_new(h, p, ck, cv, C.int(n), &out, e)
	})
	if err != nil {
		return nil, err
	}
	pk := &Picker{p: out}
	runtime.SetFinalizer(pk, (*Picker).Free)
	return pk, nil
}

// Pick returns the name ("host:port") of an instance; an *Error with ENotFound when none is
// usable.
func (p *Picker) Pick() (string, error) { return p.pick(nil) }

// PickKey picks for key: with the consistent strategy the same key gets the same instance.
func (p *Picker) PickKey(key string) (string, error) {
	ck := C.CString(key)
	defer C.free(unsafe.Pointer(ck))
	return p.pick(ck)
}

func (p *Picker) pick(key *C.char) (string, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.p == nil {
		return "", &Error{Code: EInvalidArgument, Message: "the picker is freed"}
	}
	var buf [256]C.char
	var n C.size_t
	var msg *C.char
	rc := C.ndsr_go_pick(p.p, key, &buf[0], C.size_t(len(buf)), &n, &msg)
	if rc == C.NDSR_E_TOO_LARGE {
		C.free(unsafe.Pointer(msg))
		big := make([]C.char, n+1)
		msg = nil
		rc = C.ndsr_go_pick(p.p, key, &big[0], C.size_t(len(big)), &n, &msg)
		if err := toError(rc, msg); err != nil {
			return "", err
		}
		return C.GoStringN(&big[0], C.int(n)), nil
	}
	if err := toError(rc, msg); err != nil {
		return "", err
	}
	return C.GoStringN(&buf[0], C.int(n)), nil
}

// Report tells the picker how a request to name went (the down-instance policy).
func (p *Picker) Report(name string, ok bool) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.p == nil {
		return &Error{Code: EInvalidArgument, Message: "the picker is freed"}
	}
	cn := C.CString(name)
	defer C.free(unsafe.Pointer(cn))
	okc := C.int(0)
	if ok {
		okc = 1
	}
	var msg *C.char
	return toError(C.ndsr_go_pick_report(p.p, cn, okc, &msg), msg)
}

// Free frees the picker. Calling it again does nothing.
func (p *Picker) Free() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.p != nil {
		runtime.SetFinalizer(p, nil)
		C.ndsr_picker_free(p.p)
		p.p = nil
	}
}

// WaitFor waits up to timeout until path has at least min usable instances; an *Error with
// ETimeout when the time runs out first.
func (r *Registry) WaitFor(path string, min int, timeout time.Duration) error {
	_, err := r.withPath(path, func(h *C.ndsr_t, p *C.char, e **C.char) C.int {
		return C.ndsr_go_wait_for(h, p, C.size_t(min), C.int(timeout.Milliseconds()), e)
	})
	return err
}

// Drain marks this registry's registration of path "state": "draining" at once (pickers stop
// choosing it) and removes it after grace, for good. It returns at once; a new SetNode of the
// path before the removal cancels it.
func (r *Registry) Drain(path string, grace time.Duration) error {
	_, err := r.withPath(path, func(h *C.ndsr_t, p *C.char, e **C.char) C.int {
		return C.ndsr_go_drain(h, p, C.int(grace.Milliseconds()), e)
	})
	return err
}
