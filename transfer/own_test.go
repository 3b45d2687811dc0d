package transfer_test

import (
	"context"
	"errors"
	"testing"

	"github.com/pgo-koppelvlak/pgo/transfer"
)

// The ZAL lists this instance too ("doel", the target in these tests): the choice
// page offers only the other PGOs, and starting a transfer from ourselves is
// refused like an unknown source.
func TestOwnInstanceIsNoSource(t *testing.T) {
	e := newEnv(t, true, nil)
	got, _, err := e.svc.Sources("")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Name != "bron@medmij" {
		t.Errorf("sources %+v, want only bron@medmij", got)
	}
	if _, err := e.svc.Start(context.Background(), e.actor, "doel@medmij"); !errors.Is(err, transfer.ErrNoSource) {
		t.Errorf("start from ourselves: %v, want ErrNoSource", err)
	}
	if _, err := e.svc.Start(context.Background(), e.actor, "bron@medmij"); err != nil {
		t.Errorf("start from bron: %v", err)
	}
}
