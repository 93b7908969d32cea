//go:build go1.21

package ndsr

import (
	"context"
	"log/slog"
)

// slogLevels maps the library's levels (1 = error ... 5 = trace) to slog's.
var slogLevels = [...]slog.Level{1: slog.LevelError, 2: slog.LevelWarn, 3: slog.LevelInfo, 4: slog.LevelDebug, 5: slog.LevelDebug - 4}

// SetSlogLogger sends the library's log lines to l (Go 1.21 or later), each with its component
// as the attribute "component"; trace lines at slog.LevelDebug-4. Only the levels l is enabled
// for are produced by the library at all. nil restores stderr. Process-wide.
func SetSlogLogger(l *slog.Logger) {
	if l == nil {
		SetLogHandler(nil, 3)
		return
	}
	max := 0
	for level := 1; level < len(slogLevels); level++ {
		if l.Enabled(context.Background(), slogLevels[level]) {
			max = level
		}
	}
	SetLogHandler(func(level int, component, message string) {
		if level < 1 || level >= len(slogLevels) {
			level = 3
		}
		l.Log(context.Background(), slogLevels[level], message, "component", component)
	}, max)
}
