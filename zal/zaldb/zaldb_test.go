package zaldb_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/store/storetest"
	"github.com/pgo-koppelvlak/pgo/zal"
	"github.com/pgo-koppelvlak/pgo/zal/zaldb"
)

func lists(t *testing.T, v int64) map[zal.Kind][]byte {
	t.Helper()
	out, err := zal.Generate(zal.GenerateInput{Instances: []zal.Instance{{Name: "noord", BaseURL: "https://noord.example.nl"}}, Volgnummer: v})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSaveLoadTouch(t *testing.T) {
	ctx := context.Background()
	s := zaldb.New(storetest.DB(t))
	t0 := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	v5, v4 := lists(t, 5)[zal.KindZAL], lists(t, 4)[zal.KindZAL]
	if err := s.SaveList(ctx, zal.StoredList{Kind: zal.KindZAL, Volgnummer: 5, Raw: v5, ETag: `"a"`, Origin: "f", FetchedAt: t0}); err != nil {
		t.Fatal(err)
	}
	// A lower Volgnummer never replaces the stored copy (another instance was faster).
	if err := s.SaveList(ctx, zal.StoredList{Kind: zal.KindZAL, Volgnummer: 4, Raw: v4, FetchedAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Touch(ctx, zal.KindZAL, t0.Add(2*time.Hour), `"b"`, "Mon, 23 Nov 2026 12:00:00 GMT"); err != nil {
		t.Fatal(err)
	}
	got, err := s.LoadLists(ctx)
	if err != nil || len(got) != 1 {
		t.Fatalf("load: %v %v", got, err)
	}
	g := got[0]
	if g.Kind != zal.KindZAL || g.Volgnummer != 5 || string(g.Raw) != string(v5) || g.ETag != `"b"` ||
		!g.FetchedAt.Equal(t0.Add(2*time.Hour)) || g.Origin != "f" || g.LastModified == "" {
		t.Errorf("stored %+v", g)
	}
	// The table's own checks refuse nonsense even from a buggy caller.
	err = s.SaveList(ctx, zal.StoredList{Kind: "other", Volgnummer: 1, Raw: v5, FetchedAt: t0})
	if pgo.ErrorCode(err) != pgo.EINVALID {
		t.Errorf("bad kind: %v", err)
	}
}

func TestRestartWithoutNetworkUsesPersistedCopy(t *testing.T) {
	ctx := context.Background()
	db := storetest.DB(t)
	v7 := lists(t, 7)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(v7[zal.KindZAL])
	}))
	client := srv.Client()
	client.Timeout = time.Second
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	opts := zal.Options{
		Origins:    map[zal.Kind]zal.Origin{zal.KindZAL: {URL: srv.URL + "/MedMij_Zorgaanbiederslijst.xml?api=1"}},
		HTTPClient: client, Store: zaldb.New(db), Logger: log,
	}
	first := zal.New(opts)
	if err := first.Load(ctx); err != nil {
		t.Fatal(err)
	}
	srv.Close() // the network is gone

	second := zal.New(opts)
	if err := second.Load(ctx); err != nil {
		t.Fatalf("restart without network: %v", err)
	}
	if z := second.Snapshot().ZAL; z == nil || z.Volgnummer != 7 || len(z.Sources("51")) != 1 {
		t.Fatalf("persisted copy not used: %+v", second.Snapshot())
	}
	st := second.Stats()[0]
	if st.Failures != 1 || st.LastError != "fetching the list failed: connection error" {
		t.Errorf("stats %+v", st)
	}
	if err := second.Ready(time.Hour); err != nil {
		t.Errorf("ready: %v", err)
	}

	// A stored list whose kind is no longer configured is not restored.
	if err := zaldb.New(db).SaveList(ctx, zal.StoredList{Kind: zal.KindOCL, Volgnummer: 7, Raw: v7[zal.KindOCL], FetchedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if again := zal.New(opts); again.Load(ctx) != nil || again.Snapshot().OCL != nil {
		t.Error("unconfigured OCL restored")
	}

	// A stored copy that no longer validates is not used.
	if _, err := db.Pool.Exec(ctx, `update medmij_list set raw = 'garbage'::bytea where kind = 'zal'`); err != nil {
		t.Fatal(err)
	}
	third := zal.New(opts)
	err := third.Load(ctx)
	if pgo.ErrorMessage(err) != "MedMij lists not available: [zal: fetching the list failed: connection error]" {
		t.Errorf("corrupt copy: %v", err)
	}
	if third.Snapshot().ZAL != nil {
		t.Error("corrupt copy in use")
	}
}
