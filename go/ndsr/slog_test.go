//go:build go1.21

package ndsr

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the library's threads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func TestSetSlogLogger(t *testing.T) {
	var out lockedBuffer
	SetSlogLogger(slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})))
	defer SetSlogLogger(nil)
	// A handle that cannot connect logs why, at warning or error level.
	_, err := Open("127.0.0.1:1", map[string]string{"timeout_ms": "300"})
	if code(err) != ENoConnection {
		t.Fatalf("Open: %v", err)
	}
	r := open(t)
	r.Close()
	text := out.String()
	if !strings.Contains(text, "component=session") || !strings.Contains(text, "level=INFO") {
		t.Fatalf("slog got:\n%s", text)
	}
	if strings.Contains(text, "level=DEBUG") {
		t.Fatalf("debug lines although the logger is at info:\n%s", text)
	}
}
