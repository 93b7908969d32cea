package ndsr

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// Watch sends the document of path now and after every change on the returned channel, until
// ctx is done; then the subscription ends and the channel is closed. A slow reader gets the
// latest document, never a backlog (the channel holds one; a newer one replaces it).
func (r *Registry) Watch(ctx context.Context, path string) (<-chan *Document, error) {
	ch := make(chan *Document, 1)
	var mu sync.Mutex
	closed := false
	sub, err := r.OnChange(path, func(d *Document) {
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		select {
		case ch <- d:
		default: // the reader is behind: the newer document replaces the pending one
			select {
			case <-ch:
			default:
			}
			ch <- d
		}
	})
	if err != nil {
		return nil, err
	}
	go func() {
		<-ctx.Done()
		_ = sub.Close()
		mu.Lock()
		closed = true
		close(ch)
		mu.Unlock()
	}()
	return ch, nil
}

// WaitForContext is WaitFor bounded by ctx instead of a timeout: it returns ctx.Err() once ctx
// is done (within 100 ms of a cancellation).
func (r *Registry) WaitForContext(ctx context.Context, path string, min int) error {
	for {
		slice, err := nextSlice(ctx, 100*time.Millisecond)
		if err != nil {
			return err
		}
		err = r.WaitFor(path, min, slice)
		if statusCode(err) != ETimeout {
			return err
		}
	}
}

// lockSlice is how long each attempt of LockContext waits before it checks its context again.
const lockSlice = 500 * time.Millisecond

// LockContext is Lock bounded by ctx instead of a wait: it waits for the lock until ctx is done
// and then returns ctx.Err() (within about a second of a cancellation). It waits in attempts of
// half a second, each leaving nothing behind in ZooKeeper, so a waiter whose context ends holds
// no place in the queue.
func (r *Registry) LockContext(ctx context.Context, path, name string, simultaneous int) (*Lock, error) {
	for {
		slice, err := nextSlice(ctx, lockSlice)
		if err != nil {
			return nil, err
		}
		lk, err := r.Lock(path, name, simultaneous, slice)
		if statusCode(err) != ETimeout {
			return lk, err
		}
	}
}

// nextSlice is how long the next attempt of a context-bounded wait may take: at most max, and
// no further than ctx's deadline. It returns ctx.Err() once ctx is done, and
// context.DeadlineExceeded once the deadline has passed even if ctx's own timer has not fired
// yet, so an attempt is never given a negative wait (which the C functions refuse).
func nextSlice(ctx context.Context, max time.Duration) (time.Duration, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		return max, nil
	}
	left := time.Until(deadline)
	if left <= 0 {
		return 0, context.DeadlineExceeded
	}
	if left < max {
		return left, nil
	}
	return max, nil
}

// DecodeChildren decodes the children's data into out, a pointer to a map from child name to
// the caller's own type (say map[string]Instance), with encoding/json's rules.
func (d *Document) DecodeChildren(out interface{}) error {
	var doc struct {
		Children json.RawMessage `json:"children"`
	}
	if err := json.Unmarshal([]byte(d.Raw), &doc); err != nil {
		return err
	}
	return json.Unmarshal(doc.Children, out)
}

// statusCode is the status code of err, or 0 when it is not a *Error.
func statusCode(err error) int {
	if e, ok := err.(*Error); ok {
		return e.Code
	}
	return 0
}
