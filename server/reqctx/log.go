package reqctx

import (
	"context"
	"fmt"
	"io"
	"log/slog"
)

// LogHandler wraps a slog.Handler so that every record logged with a context
// carrying IDs gets request_id and correlation_id attributes. Log with the
// *Context methods (logger.InfoContext(ctx, ...)) to get them.
type LogHandler struct {
	slog.Handler
}

// Handle adds the ids from ctx and passes the record on.
func (h LogHandler) Handle(ctx context.Context, r slog.Record) error {
	if ids := FromContext(ctx); ids.Request != "" || ids.Correlation != "" {
		r = r.Clone()
		if ids.Request != "" {
			r.AddAttrs(slog.String("request_id", ids.Request))
		}
		if ids.Correlation != "" {
			r.AddAttrs(slog.String("correlation_id", ids.Correlation))
		}
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs keeps the wrapper around the derived handler.
func (h LogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return LogHandler{h.Handler.WithAttrs(attrs)}
}

// WithGroup keeps the wrapper around the derived handler.
func (h LogHandler) WithGroup(name string) slog.Handler {
	return LogHandler{h.Handler.WithGroup(name)}
}

// NewLogger returns the service's structured JSON logger writing to w at level
// (debug, info, warn or error), with the ids of the context on every line.
func NewLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("log level %q: want debug, info, warn or error", level)
	}
	return slog.New(LogHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})}), nil
}
