package zal

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

// Snapshot is one consistent set of current lists. Any field is nil until that
// list has been loaded. Snapshots are never modified: a refresh builds a new one.
type Snapshot struct {
	ZAL       *ZAL
	OCL       *OCL
	GNL       *GNL
	Whitelist *Whitelist
}

func (s *Snapshot) get(k Kind) List {
	switch k {
	case KindZAL:
		if s.ZAL != nil {
			return s.ZAL
		}
	case KindOCL:
		if s.OCL != nil {
			return s.OCL
		}
	case KindGNL:
		if s.GNL != nil {
			return s.GNL
		}
	case KindWhitelist:
		if s.Whitelist != nil {
			return s.Whitelist
		}
	}
	return nil
}

func (s Snapshot) with(l List) *Snapshot {
	switch v := l.(type) {
	case *ZAL:
		s.ZAL = v
	case *OCL:
		s.OCL = v
	case *GNL:
		s.GNL = v
	case *Whitelist:
		s.Whitelist = v
	}
	return &s
}

// StoredList is the last good raw copy of a list as persisted (package zaldb).
type StoredList struct {
	Kind         Kind
	Volgnummer   int64
	Raw          []byte
	ETag         string
	LastModified string
	Origin       string    // file path or URL it came from
	FetchedAt    time.Time // last time it was confirmed current at its origin
}

// Store persists the last good copies so that a restart without network still has
// lists. zaldb implements it on PostgreSQL.
type Store interface {
	// SaveList stores l unless a copy with a higher Volgnummer is already stored.
	SaveList(ctx context.Context, l StoredList) error
	// Touch records that the stored copy of kind was confirmed current at t.
	Touch(ctx context.Context, kind Kind, t time.Time, etag, lastModified string) error
	// LoadLists returns every stored copy.
	LoadLists(ctx context.Context) ([]StoredList, error)
}

// Origin says where a list comes from: a file path or an https URL (one of them).
type Origin struct{ File, URL string }

func (o Origin) String() string {
	if o.URL != "" {
		return o.URL
	}
	return o.File
}

// Options configure a Registry.
type Options struct {
	Origins      map[Kind]Origin
	Refresh      time.Duration // interval between refreshes; default 1h
	Jitter       float64       // fraction of Refresh added or taken at random; default 0.1
	FetchTimeout time.Duration // per request when HTTPClient is nil; default 30s
	HTTPClient   *http.Client  // for URL origins; default: TLS 1.2+, FetchTimeout
	Store        Store         // optional persistence of the last good copies
	Logger       *slog.Logger
	Parse        ParseOptions
	Now          func() time.Time
}

// Registry holds the current lists. Look-ups load one atomic pointer and never
// block; refreshes are serialised and swap in a new Snapshot only when the new list
// validates and its Volgnummer is higher than the current one.
type Registry struct {
	cur   atomic.Pointer[Snapshot]
	opts  Options
	mu    sync.Mutex // serialises writers and guards state
	state map[Kind]*listState
}

type listState struct {
	etag, lastModified string
	origin             string
	checkedAt          time.Time
	replacedAt         time.Time
	replacements       uint64
	unchanged          uint64
	failures           uint64
	lastError          string
}

// New returns a Registry with empty lists; call Load, then Run.
func New(opts Options) *Registry {
	if opts.Refresh <= 0 {
		opts.Refresh = time.Hour
	}
	if opts.Jitter == 0 {
		opts.Jitter = 0.1
	}
	if opts.FetchTimeout <= 0 {
		opts.FetchTimeout = 30 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = defaultFetchClient(opts.FetchTimeout)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Registry{opts: opts, state: map[Kind]*listState{}}
	for _, k := range Kinds {
		r.state[k] = &listState{}
	}
	r.cur.Store(&Snapshot{})
	return r
}

// NewStatic returns a Registry holding fixed lists (for tests and tools).
func NewStatic(lists ...List) *Registry {
	r := New(Options{})
	s := &Snapshot{}
	for _, l := range lists {
		s = s.with(l)
		r.state[l.Head().Kind].checkedAt = time.Now()
	}
	r.cur.Store(s)
	return r
}

// Snapshot returns the current lists; never nil, fields nil until loaded.
func (r *Registry) Snapshot() *Snapshot { return r.cur.Load() }

// Load restores the persisted copies (when a Store is set) and then refreshes every
// configured list once. It fails only when a configured list is still missing
// afterwards; a failed refresh over a restored copy is logged and counted.
func (r *Registry) Load(ctx context.Context) error {
	if r.opts.Store != nil {
		r.restore(ctx)
	}
	var missing []string
	for _, k := range Kinds {
		if _, ok := r.opts.Origins[k]; !ok {
			continue
		}
		err := r.Refresh(ctx, k)
		if err != nil && r.Snapshot().get(k) == nil {
			missing = append(missing, fmt.Sprintf("%s: %s", k, pgo.ErrorMessage(err)))
		}
	}
	if len(missing) > 0 {
		return pgo.Errorf(pgo.EUNAVAILABLE, "MedMij lists not available: %v", missing)
	}
	return nil
}

func (r *Registry) restore(ctx context.Context) {
	stored, err := r.opts.Store.LoadLists(ctx)
	if err != nil {
		r.opts.Logger.Warn("zal: loading persisted lists failed", "err", err)
		return
	}
	for _, s := range stored {
		if _, ok := r.opts.Origins[s.Kind]; !ok {
			continue // no longer configured: an orphan copy would only go stale
		}
		l, err := ParseKind(s.Kind, s.Raw, r.opts.Parse)
		if err != nil {
			r.opts.Logger.Warn("zal: persisted list does not validate; ignored", "list", s.Kind, "err", err)
			continue
		}
		r.mu.Lock()
		if cur := r.Snapshot().get(s.Kind); cur == nil || cur.Head().Volgnummer < l.Head().Volgnummer {
			r.cur.Store(r.Snapshot().with(l))
			st := r.state[s.Kind]
			st.etag, st.lastModified, st.origin, st.checkedAt = s.ETag, s.LastModified, "stored copy of "+s.Origin, s.FetchedAt
		}
		r.mu.Unlock()
		r.opts.Logger.Info("zal: restored persisted list", "list", s.Kind, "volgnummer", l.Head().Volgnummer)
	}
}

// Run refreshes every configured list every Refresh (± Jitter) until ctx ends.
func (r *Registry) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, k := range Kinds {
		if _, ok := r.opts.Origins[k]; !ok {
			continue
		}
		wg.Add(1)
		go func(k Kind) {
			defer wg.Done()
			for {
				t := time.NewTimer(r.nextDelay())
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
					_ = r.Refresh(ctx, k) // logged and counted inside
				}
			}
		}(k)
	}
	wg.Wait()
}

func (r *Registry) nextDelay() time.Duration {
	j := r.opts.Jitter * (2*rand.Float64() - 1)
	return time.Duration(float64(r.opts.Refresh) * (1 + j))
}

// Refresh fetches one list from its origin and swaps it in when it validates and
// its Volgnummer is higher. Any failure leaves the current list in place, is
// logged and counted, and is returned.
func (r *Registry) Refresh(ctx context.Context, kind Kind) error {
	origin, ok := r.opts.Origins[kind]
	if !ok {
		return pgo.Errorf(pgo.EINVALID, "no origin configured for the %s list", kind)
	}
	r.mu.Lock()
	st := *r.state[kind]
	haveCur := r.Snapshot().get(kind) != nil
	r.mu.Unlock()
	var res fetched
	var err error
	if origin.URL != "" {
		res, err = r.fetchURL(ctx, origin.URL, st, haveCur)
	} else {
		res, err = readFileOrigin(origin.File)
	}
	if err == nil {
		err = r.accept(ctx, kind, origin.String(), res)
	}
	if err != nil && ctx.Err() == nil { // a shutdown is not a failed refresh
		r.fail(kind, origin.String(), err)
	}
	return err
}

// fetched is what one fetch produced: a body, or notModified.
type fetched struct {
	raw                []byte
	etag, lastModified string
	notModified        bool
}
