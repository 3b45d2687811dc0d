package audit

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// CheckpointSink receives every signed checkpoint, outside the database: an
// append-only file on other storage, or standard output for a log shipper. A
// database user who truncates or rewrites the chain and deletes the checkpoint
// rows cannot reach it, so `pgo audit verify` finds the damage against the
// newest checkpoint there (NEN 7513; ASVS 5.0 V16.4.3: logs go to a separate
// system).
type CheckpointSink interface {
	WriteCheckpoint(cp Checkpoint) error
}

// LineSink writes each checkpoint as one line (the compact JWS, the format of
// `pgo audit checkpoint` and `pgo audit verify --checkpoints`).
type LineSink struct {
	mu   sync.Mutex
	w    io.Writer
	sync func() error
}

// NewLineSink writes to w (standard output for log shipping).
func NewLineSink(w io.Writer) *LineSink { return &LineSink{w: w} }

// OpenFileSink opens path for appending (created with mode 0600); every write is
// synced to disk before it returns.
func OpenFileSink(path string) (*LineSink, io.Closer, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, fmt.Errorf("checkpoint sink: %w", err)
	}
	return &LineSink{w: f, sync: f.Sync}, f, nil
}

// WriteCheckpoint appends cp's JWS as a line.
func (s *LineSink) WriteCheckpoint(cp Checkpoint) error {
	if cp.JWS == "" {
		return fmt.Errorf("checkpoint sink: checkpoint at seq %d has no signature", cp.Seq)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := io.WriteString(s.w, cp.JWS+"\n"); err != nil {
		return fmt.Errorf("checkpoint sink: %w", err)
	}
	if s.sync != nil {
		if err := s.sync(); err != nil {
			return fmt.Errorf("checkpoint sink: %w", err)
		}
	}
	return nil
}
