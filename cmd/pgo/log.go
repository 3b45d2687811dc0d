package main

import (
	"io"
	"log/slog"

	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// newLogger returns the JSON logger every long-running command uses; request and
// correlation ids in the context go onto each line. The level was validated with
// the configuration, so a bad one cannot reach here; info is the fallback.
func newLogger(w io.Writer, level string) *slog.Logger {
	l, err := reqctx.NewLogger(w, level)
	if err != nil {
		l, _ = reqctx.NewLogger(w, "info")
	}
	return l
}
