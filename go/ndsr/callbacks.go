package ndsr

/*
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"log"
	"math"
	"runtime"
	"runtime/cgo"
	"time"
	"unsafe"
)

// The callbacks cross C as cgo.Handle numbers; the library frees each (ndsrGoFree) exactly once
// after its last call.

type changeFn func(doc *Document)
type diffFn func(diff *Diff)
type stateFn func(state State)
type statsFn func(json string)

//export ndsrGoChange
func ndsrGoChange(handle C.uintptr_t, path *C.char, text *C.char, n C.size_t) {
	defer recoverCallback("OnChange")
	fn := cgo.Handle(handle).Value().(changeFn)
	doc, err := decode(C.GoStringN(text, C.int(n)))
	if err != nil {
		log.Printf("ndsr: %v", err)
		return
	}
	fn(doc)
}

//export ndsrGoDiff
func ndsrGoDiff(handle C.uintptr_t, path *C.char, text *C.char, n C.size_t) {
	defer recoverCallback("OnDiff")
	fn := cgo.Handle(handle).Value().(diffFn)
	diff, err := decodeDiff(C.GoStringN(text, C.int(n)))
	if err != nil {
		log.Printf("ndsr: %v", err)
		return
	}
	fn(diff)
}

//export ndsrGoState
func ndsrGoState(handle C.uintptr_t, state C.int) {
	defer recoverCallback("OnState")
	cgo.Handle(handle).Value().(stateFn)(State(state))
}

//export ndsrGoStats
func ndsrGoStats(handle C.uintptr_t, text *C.char, n C.size_t) {
	defer recoverCallback("OnStats")
	cgo.Handle(handle).Value().(statsFn)(C.GoStringN(text, C.int(n)))
}

//export ndsrGoFree
func ndsrGoFree(handle C.uintptr_t) {
	cgo.Handle(handle).Delete()
}

// A panic must not unwind into the library: it is logged and the callback thread carries on.
func recoverCallback(what string) {
	if p := recover(); p != nil {
		log.Printf("ndsr: panic in %s callback: %v", what, p)
	}
}

// Subscription is a registered callback; Close ends it.
type Subscription struct {
	r  *Registry
	id uint64
}

// Close ends the subscription: no new call starts after it returns. Calling it again, or after
// the registry is closed, does nothing.
func (s *Subscription) Close() error {
	if s == nil || s.r == nil {
		return nil
	}
	h, err := s.r.handle()
	s.r = nil
	if err != nil {
		return nil
	}
	var msg *C.char
	rc := C.ndsr_go_off(h, C.uint64_t(s.id), &msg)
	if rc == C.NDSR_E_NOT_FOUND || rc == C.NDSR_E_CLOSED || rc == C.NDSR_E_INVALID_ARGUMENT {
		if msg != nil {
			C.free(unsafe.Pointer(msg))
		}
		return nil
	}
	return toError(rc, msg)
}

// Debounce delivers at most one call per interval (OnChange and OnDiff subscriptions): always
// the latest state, the last one never lost; 0 delivers every change again.
func (s *Subscription) Debounce(interval time.Duration) error {
	if s == nil || s.r == nil {
		return &Error{Code: ENotFound, Message: "the subscription is closed"}
	}
	h, err := s.r.handle()
	if err != nil {
		return err
	}
	var msg *C.char
	return toError(C.ndsr_go_set_debounce(h, C.uint64_t(s.id), C.int(interval.Milliseconds()), &msg), msg)
}

// OnChange calls fn with the document of path now and after every change, on the registry's
// callback goroutine-thread, one call at a time, in order.
func (r *Registry) OnChange(path string, fn func(doc *Document)) (*Subscription, error) {
	return r.subscribe(path, changeFn(fn), false)
}

// OnDiff calls fn with what changed in path: first with every current child in Added, then after
// every change (see Diff), with the rules of OnChange. Applying the diffs in order gives every
// document.
func (r *Registry) OnDiff(path string, fn func(diff *Diff)) (*Subscription, error) {
	return r.subscribe(path, diffFn(fn), true)
}

func (r *Registry) subscribe(path string, fn any, diffs bool) (*Subscription, error) {
	cp := C.CString(path)
	defer C.free(unsafe.Pointer(cp))
	return r.subscribeWith(fn, func(ch *C.ndsr_t, h C.uintptr_t, sub *C.uint64_t, msg **C.char) C.int {
		if diffs {
			return C.ndsr_go_on_diff(ch, cp, h, sub, msg)
		}
		return C.ndsr_go_on_change(ch, cp, h, sub, msg)
	})
}

// OnState calls fn with the connection state now and after every change.
func (r *Registry) OnState(fn func(state State)) (*Subscription, error) {
	return r.subscribeWith(stateFn(fn), func(ch *C.ndsr_t, h C.uintptr_t, sub *C.uint64_t, msg **C.char) C.int {
		return C.ndsr_go_on_state(ch, h, sub, msg)
	})
}

// OnStats calls fn with the registry's stats (what StatsJSON gives) every interval (1 ms or
// more), on the callback thread, until the subscription is closed. A callback that falls behind
// skips ticks.
func (r *Registry) OnStats(interval time.Duration, fn func(json string)) (*Subscription, error) {
	ms := interval.Milliseconds()
	if ms < 1 || ms > math.MaxInt32 {
		return nil, &Error{Code: EInvalidArgument, Message: "the stats interval must be 1 ms or more"}
	}
	return r.subscribeWith(statsFn(fn), func(ch *C.ndsr_t, h C.uintptr_t, sub *C.uint64_t, msg **C.char) C.int {
		return C.ndsr_go_on_stats(ch, C.int(ms), h, sub, msg)
	})
}

// subscribeWith makes a subscription with call (one of the ndsr_go_on_* shims); from the call
// on, the library owns the callback's handle (it is deleted by ndsrGoFree even if the call fails).
func (r *Registry) subscribeWith(fn any, call func(*C.ndsr_t, C.uintptr_t, *C.uint64_t, **C.char) C.int) (*Subscription, error) {
	ch, err := r.handle()
	if err != nil {
		return nil, err
	}
	h := cgo.NewHandle(fn)
	var sub C.uint64_t
	var msg *C.char
	rc := call(ch, C.uintptr_t(h), &sub, &msg)
	runtime.KeepAlive(r)
	if err := toError(rc, msg); err != nil {
		return nil, err
	}
	return &Subscription{r: r, id: uint64(sub)}, nil
}
