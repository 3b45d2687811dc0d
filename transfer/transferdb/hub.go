package transferdb

import (
	"log/slog"

	"github.com/pgo-koppelvlak/pgo/store"
)

// NewHub returns the hub of transfer changes (LISTEN pgo_transfer) on the
// database at url (store.DB.URL): it wakes the progress streams of this process.
func NewHub(url string, log *slog.Logger) *store.Hub { return store.NewHub(url, Channel, log) }
