package audit

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgo-koppelvlak/pgo"
)

func sample() Record {
	return Record{
		Event: Event{
			Time: time.Date(2026, 11, 23, 10, 0, 0, 123456000, time.UTC), Action: ActDocumentFetched, Outcome: Success,
			PersonID: "u-1", ActorType: ActorPeer, ActorID: "zuid.pgo.test", Role: RoleSource,
			ObjectType: "document", ObjectID: "d-1", ObjectHashes: map[string]string{"sha256": "00ff"},
			SourceIP: "192.0.2.1", UserAgent: "ua", RequestID: "r", CorrelationID: "c", Details: map[string]string{"b": "2", "a": "1"},
		},
		ID: "01a20977-3888-7937-ad5c-54b9cda0850d", Seq: 7,
		Recorded: time.Date(2026, 11, 23, 10, 0, 1, 0, time.UTC),
	}
}

// The canonical encoding must never change: stored hashes depend on it.
func TestCanonicalEncodingIsStable(t *testing.T) {
	r := sample()
	want := `{"v":1,"id":"01a20977-3888-7937-ad5c-54b9cda0850d","seq":7,"recorded":"2026-11-23T10:00:01.000000Z",` +
		`"time":"2026-11-23T10:00:00.123456Z","action":"document_fetched","outcome":"success","reason":"","person_id":"u-1",` +
		`"actor_type":"peer","actor_id":"zuid.pgo.test","role":"source","object_type":"document","object_id":"d-1",` +
		`"object_hashes":{"sha256":"00ff"},"source_ip":"192.0.2.1","user_agent":"ua","request_id":"r","correlation_id":"c",` +
		`"details":{"a":"1","b":"2"},"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000"}`
	if got := string(r.Canonical()); got != want {
		t.Fatalf("canonical encoding changed:\n got %s\nwant %s", got, want)
	}
	empty, none := sample(), sample()
	empty.Details, none.Details = map[string]string{}, nil
	if sha(&empty) != sha(&none) {
		t.Fatal("an empty and a nil map hash differently")
	}
	changed := sample()
	changed.Seq = 8
	if sha(&changed) == sha(&r) {
		t.Fatal("seq is not covered by the hash")
	}
}

// sha is the unkeyed link value of r.
func sha(r *Record) Hash {
	h, _ := r.ComputeHash(nil)
	return h
}

type testKeys map[uint32][]byte

func (k testKeys) ChainKey(id uint32) ([]byte, error) {
	if b, ok := k[id]; ok {
		return b, nil
	}
	return nil, errors.New("no such key")
}

// A keyed record's hash is an HMAC under its key: without the key it cannot be
// recomputed (a plain SHA-256 does not match), another key gives another value,
// and a walker without the key (or with another keyset) reports a break.
func TestKeyedRecordHash(t *testing.T) {
	keys := testKeys{7: bytes.Repeat([]byte{1}, 32), 8: bytes.Repeat([]byte{2}, 32)}
	r := sample()
	r.MACKey = 7
	if err := r.Seal(keys); err != nil {
		t.Fatal(err)
	}
	plain := r
	plain.MACKey = 0
	if sha(&plain) == r.Hash {
		t.Fatal("keyed hash equals the plain SHA-256")
	}
	other := r
	other.MACKey = 8
	if h, _ := other.ComputeHash(keys); h == r.Hash {
		t.Fatal("two keys give one hash")
	}
	if _, err := r.ComputeHash(nil); err == nil || !strings.Contains(err.Error(), "no keyset") {
		t.Errorf("without keys: %v", err)
	}
	if _, err := r.ComputeHash(testKeys{}); err == nil || !strings.Contains(err.Error(), "lacks") {
		t.Errorf("with another keyset: %v", err)
	}
	w := NewWalker(nil, nil)
	if w.Add(&r); w.Break == nil || !strings.Contains(w.Break.Problem, "no keyset") {
		t.Errorf("walker without keys: %v", w.Break)
	}
}

func TestValidate(t *testing.T) {
	ok := sample().Event
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid event: %v", err)
	}
	mod := func(f func(*Event)) Event { e := sample().Event; f(&e); return e }
	many := map[string]string{}
	for i := 0; i < 40; i++ {
		many[strings.Repeat("k", i+1)] = "v"
	}
	cases := map[string]struct {
		ev   Event
		want string
	}{
		"action":        {mod(func(e *Event) { e.Action = "nope" }), "closed list"},
		"outcome":       {mod(func(e *Event) { e.Outcome = "" }), "outcome"},
		"reason format": {mod(func(e *Event) { e.Outcome, e.Reason = Failure, "Bad Reason" }), "reason code"},
		"time":          {mod(func(e *Event) { e.Time = time.Date(1999, 1, 1, 0, 0, 0, 0, time.UTC) }), "out of range"},
		"actor":         {mod(func(e *Event) { e.ActorID = "  " }), "actor id is empty"},
		"long id":       {mod(func(e *Event) { e.ObjectID = strings.Repeat("x", 300) }), "object id is 300 bytes"},
		"utf8":          {mod(func(e *Event) { e.ObjectID = "\xff" }), "not valid UTF-8"},
		"bsn object":    {mod(func(e *Event) { e.ObjectID = "123456782" }), "looks like a BSN"},
		"bsn detail":    {mod(func(e *Event) { e.Details = map[string]string{"patient": "123456782"} }), "looks like a BSN"},
		"detail key":    {mod(func(e *Event) { e.Details = map[string]string{"Bad Key": "x"} }), "details key"},
		"many details":  {mod(func(e *Event) { e.Details = many }), "at most 32"},
		"long hash":     {mod(func(e *Event) { e.ObjectHashes = map[string]string{"sha256": strings.Repeat("a", 2000)} }), "at most 1024"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			err := c.ev.Validate()
			if pgo.ErrorCode(err) != pgo.EINVALID || !strings.Contains(pgo.ErrorMessage(err), c.want) {
				t.Fatalf("Validate = %v, want invalid with %q", err, c.want)
			}
			if strings.Contains(pgo.ErrorMessage(err), "123456782") {
				t.Fatal("the error repeats a BSN")
			}
		})
	}
}

func TestNormalize(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("CET", 3600))
	ev := Event{UserAgent: "a\x00b\xffc" + strings.Repeat("é", 400), Details: map[string]string{}}.Normalize(now)
	if ev.Time.Location() != time.UTC || ev.Time.Nanosecond() != 678901000 || !ev.Time.Equal(now.Truncate(time.Microsecond)) {
		t.Fatalf("time = %v", ev.Time)
	}
	if !strings.HasPrefix(ev.UserAgent, "a b\uFFFDc") || len(ev.UserAgent) > maxUserAgent || !strings.HasSuffix(ev.UserAgent, "é") {
		t.Fatalf("user agent not cleaned: %q (%d bytes)", ev.UserAgent[:10], len(ev.UserAgent))
	}
	if ev.Details != nil {
		t.Fatal("empty details not made nil")
	}
}

func TestLooksLikeBSN(t *testing.T) {
	for s, want := range map[string]bool{"123456782": true, "999999990": true, "123456789": false, "12345678": false, "12345678a": false, "000000000": false} {
		if LooksLikeBSN(s) != want {
			t.Errorf("LooksLikeBSN(%q) = %v", s, !want)
		}
	}
}

func chain(n int) []Record {
	var out []Record
	var prev Hash
	for i := 1; i <= n; i++ {
		r := sample()
		r.Seq, r.PrevHash = int64(i), prev
		r.Recorded = r.Recorded.Add(time.Duration(i) * time.Second)
		r.Seal(nil)
		prev = r.Hash
		out = append(out, r)
	}
	return out
}

func TestWalker(t *testing.T) {
	walk := func(recs []Record, anchor *Anchor, head *Anchor) *Break {
		w := NewWalker(anchor, nil)
		for i := range recs {
			w.Add(&recs[i])
		}
		return w.Finish(head)
	}
	good := chain(5)
	head := &Anchor{Seq: 5, Hash: good[4].Hash}
	if b := walk(good, &Anchor{}, head); b != nil {
		t.Fatalf("good chain: %s", b)
	}
	cases := map[string]struct {
		recs    []Record
		head    *Anchor
		wantSeq int64
		want    string
	}{
		"missing tail": {good[:4], head, 5, "the chain head says seq 5"},
		"duplicate":    {append(append([]Record{}, good[:3]...), good[2]), head, 3, "out of order or duplicated"},
		"gap":          {append(append([]Record{}, good[:2]...), good[3:]...), head, 4, "records 3..3"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := walk(c.recs, &Anchor{}, c.head)
			if b == nil || b.Seq != c.wantSeq || !strings.Contains(b.Problem, c.want) {
				t.Fatalf("break = %v, want seq %d %q", b, c.wantSeq, c.want)
			}
		})
	}
	if b := walk(nil, nil, head); b != nil {
		t.Fatalf("an empty period checked against the head: %s", b)
	}
	back := chain(2)
	back[1].Recorded = back[0].Recorded.Add(-time.Second)
	back[1].Seal(nil)
	if b := walk(back, &Anchor{}, nil); b == nil || !strings.Contains(b.Problem, "goes back") {
		t.Fatalf("recorded going back: %v", b)
	}
}

func TestStartAnchor(t *testing.T) {
	if a, b := StartAnchor(1, nil, nil); b != nil || a != (Anchor{}) {
		t.Fatalf("record 1: %v %v", a, b)
	}
	if _, b := StartAnchor(5, nil, nil); b == nil || !strings.Contains(b.Problem, "records 1..4 are missing") {
		t.Fatalf("no prune record: %v", b)
	}
	h := chain(1)[0].Hash
	prune := pruneRecord(t, nil, 0, 5, h, 9)
	if a, b := StartAnchor(5, prune, nil); b != nil || a.Seq != 4 || a.Hash != h {
		t.Fatalf("prune record: %v %v", a, b)
	}
	if _, b := StartAnchor(6, prune, nil); b == nil {
		t.Fatal("a prune record naming another start was accepted")
	}
	// Kept records before the named start (linked before a dropped one): the
	// chain starts at the named position all the same.
	if a, b := StartAnchor(3, prune, nil); b != nil || a.Seq != 4 || a.Hash != h {
		t.Fatalf("prune record after the first kept record: %v %v", a, b)
	}
	keys := testKeys{7: bytes.Repeat([]byte{1}, 32)}
	if a, b := StartAnchor(3, pruneRecord(t, keys, 7, 5, h, 5), keys); b != nil || a.Seq != 4 || a.Hash != h {
		t.Fatalf("keyed prune record: %v %v", a, b)
	}
}

// pruneRecord is an audit_pruned record as Prune writes it, naming keptFrom
// (with prev hash h) and linked at link, keyed with key id macKey (0: unkeyed).
func pruneRecord(t *testing.T, keys ChainKeys, macKey uint32, keptFrom int64, h Hash, link int64) *Record {
	t.Helper()
	r := sample()
	r.Action, r.ObjectType, r.MACKey = ActAuditPruned, "audit_log", macKey
	r.Details = map[string]string{DetailKeptFromSeq: strconv.FormatInt(keptFrom, 10), DetailKeptFromPrevHash: h.String()}
	if err := r.SealContent(keys); err != nil {
		t.Fatal(err)
	}
	if err := r.SealLink(keys, link, Hash{1}); err != nil {
		t.Fatal(err)
	}
	return &r
}

// A prune record makes every record before the position it names a record
// whose link is not checked: it is only trusted when it is what Prune writes.
// A database user without the chain key cannot make one: an unkeyed, unsealed
// or changed one, or one linked before the cut, is a break.
func TestStartAnchorRefusesForgedPrune(t *testing.T) {
	keys := testKeys{7: bytes.Repeat([]byte{1}, 32)}
	h := chain(1)[0].Hash
	changed := pruneRecord(t, keys, 7, 100, h, 120)
	changed.Details[DetailKeptFromSeq] = "110"
	format1 := &Record{Event: Event{Action: ActAuditPruned, Details: map[string]string{DetailKeptFromSeq: "100", DetailKeptFromPrevHash: h.String()}}}
	unlinked := pruneRecord(t, keys, 7, 100, h, 120)
	unlinked.Link, unlinked.PrevHash, unlinked.Hash = 0, Hash{}, Hash{}
	cases := map[string]struct {
		prune *Record
		want  string
	}{
		"unkeyed in a keyed chain": {pruneRecord(t, nil, 0, 100, h, 40), "unkeyed while the chain is keyed"},
		"unkeyed, linked after":    {pruneRecord(t, nil, 0, 100, h, 120), "unkeyed while the chain is keyed"},
		"linked before the cut":    {pruneRecord(t, keys, 7, 100, h, 40), "linked at position 40, before the position 100"},
		"changed":                  {changed, "does not hold"},
		"without a MAC":            {format1, "no MAC of its own"},
		"not linked":               {unlinked, "not linked into the chain yet"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, b := StartAnchor(1, c.prune, keys)
			if b == nil || !strings.Contains(b.Problem, c.want) {
				t.Fatalf("break = %v, want %q", b, c.want)
			}
		})
	}
	// Without chain keys an unkeyed prune record must still be linked after the cut.
	if _, b := StartAnchor(1, pruneRecord(t, nil, 0, 100, h, 40), nil); b == nil || !strings.Contains(b.Problem, "before the position 100") {
		t.Fatalf("unkeyed chain, prune linked before the cut: %v", b)
	}
}

// keyedChain is n format 2 records linked at positions 1..n with key id 7.
func keyedChain(t *testing.T, keys ChainKeys, n int) []Record {
	t.Helper()
	var out []Record
	var prev Hash
	for i := 1; i <= n; i++ {
		r := sample()
		r.Seq, r.MACKey = int64(i), 7
		r.Recorded = r.Recorded.Add(time.Duration(i) * time.Second)
		if err := r.SealContent(keys); err != nil {
			t.Fatal(err)
		}
		if err := r.SealLink(keys, int64(i), prev); err != nil {
			t.Fatal(err)
		}
		prev = r.Hash
		out = append(out, r)
	}
	return out
}

// Records before a (genuine) prune anchor have only their content checked; an
// unkeyed one after keyed ones there, or an unkeyed record not linked yet, was
// written by someone without the chain key. A checkpoint among the kept
// records before the anchor cannot be checked: a break, not skipped; one that
// names a dropped record (signed before every kept record) is skipped.
func TestWalkerBeforeAnchor(t *testing.T) {
	keys := testKeys{7: bytes.Repeat([]byte{1}, 32)}
	recs := keyedChain(t, keys, 10)
	// Positions 3..4 were dropped; 1..2 kept (linked before a dropped one).
	anchor := &Anchor{Seq: 4, Hash: recs[3].Hash}
	kept := append(append([]Record{}, recs[:2]...), recs[4:]...)
	head := &Anchor{Seq: 10, Hash: recs[9].Hash}
	walk := func(recs []Record, cps []Checkpoint) *Walker {
		w := NewWalker(anchor, cps)
		w.Keys = keys
		for i := range recs {
			w.Add(&recs[i])
		}
		w.Finish(head)
		return w
	}
	if w := walk(kept, nil); w.Break != nil {
		t.Fatalf("genuine prune: %s", w.Break)
	}
	dropped := Checkpoint{Seq: 3, Hash: recs[2].Hash, Recorded: recs[0].Recorded.Add(-time.Hour)} // its record was in a dropped month
	if w := walk(kept, []Checkpoint{dropped}); w.Break != nil {
		t.Fatalf("checkpoint at a dropped record: %s", w.Break)
	}
	kept2 := Checkpoint{Seq: 2, Hash: recs[1].Hash, Recorded: recs[1].Recorded}
	t.Run("checkpoint at a kept record before the anchor", func(t *testing.T) {
		if w := walk(kept, []Checkpoint{kept2, dropped}); w.Break != nil || w.Matched != 1 {
			t.Fatalf("break %v, matched %d; want no break, 1 matched", w.Break, w.Matched)
		}
	})
	t.Run("checkpoint at a removed record before the anchor", func(t *testing.T) {
		removed := append(append([]Record{}, kept[0]), kept[2:]...)
		w := walk(removed, []Checkpoint{kept2})
		if w.Break == nil || w.Break.Seq != 2 || !strings.Contains(w.Break.Problem, "cannot be checked") {
			t.Fatalf("break = %v", w.Break)
		}
	})
	t.Run("checkpoint at a changed record before the anchor", func(t *testing.T) {
		cp := kept2
		cp.Hash = Hash{9}
		w := walk(kept, []Checkpoint{cp})
		if w.Break == nil || w.Break.Seq != 2 || !strings.Contains(w.Break.Problem, "differs from the checkpoint") {
			t.Fatalf("break = %v", w.Break)
		}
	})
	t.Run("unkeyed record before the anchor", func(t *testing.T) {
		forged := append([]Record{}, kept...)
		forged[1].MACKey = 0
		_ = forged[1].SealContent(nil)
		_ = forged[1].SealLink(nil, forged[1].Link, forged[1].PrevHash)
		w := walk(forged, nil)
		if w.Break == nil || w.Break.Seq != 2 || !strings.Contains(w.Break.Problem, "unkeyed record follows keyed ones") {
			t.Fatalf("break = %v", w.Break)
		}
	})
	t.Run("unkeyed record not linked yet", func(t *testing.T) {
		w := walk(kept, nil)
		r := sample()
		r.Seq = 11
		_ = r.SealContent(nil)
		if b := w.AddUnlinked(&r); b == nil || !strings.Contains(b.Problem, "unkeyed while the chain is keyed") {
			t.Fatalf("break = %v", b)
		}
		r.MACKey = 7
		_ = r.SealContent(keys)
		if b := w.AddUnlinked(&r); b != nil {
			t.Fatalf("keyed unlinked record: %v", b)
		}
	})
}

func TestEveryActionMapsToFHIR(t *testing.T) {
	for _, a := range AllActions() {
		if _, ok := mappings[a]; !ok {
			t.Errorf("action %s has no AuditEvent mapping", a)
		}
	}
	r := sample()
	r.Outcome, r.Reason = Failure, "invalid_grant"
	ae := ToAuditEvent(&r, Source{Name: "PGO Noord", URL: "https://noord.test/"})
	if ae.Outcome != "4" || ae.OutcomeDesc != "invalid_grant" || ae.Action != "R" || ae.Entity[0].What.Identifier.System != "https://noord.test/id/person" {
		t.Fatalf("AuditEvent = %+v", ae)
	}
}

// A BSN inside a free-text field (a client's User-Agent, a detail's text) is
// masked before the record is written; digit runs that are not a BSN stay, and a
// detail that is a BSN as a whole is still refused (a programming error).
func TestNormalizeMasksBSNsInFreeText(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct{ in, want string }{
		{"Mozilla/5.0 (bsn 111222333)", "Mozilla/5.0 (bsn *********)"},
		{"111222333", "*********"},
		{"a123456782b", "a*********b"},
		{"1112223330", "1112223330"}, // ten digits: not a BSN
		{"111222334", "111222334"},   // fails the elfproef
		{"x 111222333 y 123456782", "x ********* y *********"},
		{"", ""},
	}
	for _, tt := range tests {
		ev := Event{UserAgent: tt.in, Details: map[string]string{"message": "about " + tt.in, "records": "111222333"}}.Normalize(now)
		if ev.UserAgent != tt.want {
			t.Errorf("user agent %q: %q; want %q", tt.in, ev.UserAgent, tt.want)
		}
		if ev.Details["message"] != "about "+tt.want {
			t.Errorf("detail %q: %q", tt.in, ev.Details["message"])
		}
		if ev.Details["records"] != "111222333" {
			t.Errorf("counter detail changed: %q", ev.Details["records"])
		}
	}
	ev := Event{Action: ActLogin, Outcome: Success, ActorType: ActorUser, ActorID: "u", Details: map[string]string{"note": "111222333"}}.Normalize(now)
	if err := ev.Validate(); err == nil || !strings.Contains(err.Error(), "looks like a BSN") {
		t.Errorf("a detail that is a BSN as a whole: %v; want refused", err)
	}
}

// TestNormalizeKeepsHashDetails: a hex hash the code wrote keeps its digit runs.
// A prune record's kept_from_prev_hash with a run passing the elfproef (about one
// in a hundred) was masked, and verification after the prune then broke.
func TestNormalizeKeepsHashDetails(t *testing.T) {
	h := "ab408925000c" + strings.Repeat("ef", 26) // 408925000 passes the elfproef
	ev := Event{Action: ActAuditPruned, Outcome: Success, ActorType: ActorSystem, ActorID: "system",
		Details: map[string]string{DetailKeptFromPrevHash: h, "document_hash": h, "message": h}}.Normalize(time.Now())
	if ev.Details[DetailKeptFromPrevHash] != h || ev.Details["document_hash"] != h {
		t.Errorf("hash details changed: %q", ev.Details)
	}
	if ev.Details["message"] == h {
		t.Error("free text with a BSN-shaped run was not masked")
	}
	if err := ev.Validate(); err != nil {
		t.Error(err)
	}
	if _, err := ParseHash(ev.Details[DetailKeptFromPrevHash]); err != nil {
		t.Errorf("kept_from_prev_hash no longer parses: %v", err)
	}
}

// TestNormalizeKeepsRunDetail: the ids the code generates itself (a
// transfer's run, DetailRun; the grant, its export job, the access token and the
// grants a new one supersedes) keep their digit runs. About one UUID in 750
// holds nine digits passing the elfproef; masked, the record would name an id no
// auditor could match. Free text with the same value is still masked.
func TestNormalizeKeepsRunDetail(t *testing.T) {
	id := "0b8c5e1a-3f2d-4a6b-9c7e-a123456782bc" // 123456782 passes the elfproef
	for _, k := range []string{"run", "grant_id", "export_job_id", "jti", "token_id", "supersedes"} {
		ev := Event{Action: ActDocumentListed, Outcome: Success, ActorType: ActorSystem, ActorID: "worker",
			Details: map[string]string{k: id, "message": id}}.Normalize(time.Now())
		if ev.Details[k] != id {
			t.Errorf("%s detail changed: %q; want %q", k, ev.Details[k], id)
		}
		if ev.Details["message"] == id {
			t.Error("free text with a BSN-shaped run was not masked")
		}
		if err := ev.Validate(); err != nil {
			t.Error(err)
		}
	}
	// Two grant ids in supersedes keep theirs too.
	two := id + "," + id
	if ev := (Event{Action: ActConsentGranted, Outcome: Success, ActorType: ActorSystem, ActorID: "x",
		Details: map[string]string{"supersedes": two}}).Normalize(time.Now()); ev.Details["supersedes"] != two {
		t.Errorf("supersedes changed: %q", ev.Details["supersedes"])
	}
	// An id key whose value is no UUID keeps the BSN guard: a BSN-shaped run in
	// it is masked, and a BSN as the whole value refuses the record.
	ev := Event{Action: ActDocumentListed, Outcome: Success, ActorType: ActorSystem, ActorID: "worker",
		Details: map[string]string{"grant_id": "grant 123456782"}}.Normalize(time.Now())
	if ev.Details["grant_id"] != "grant *********" {
		t.Errorf("a BSN-shaped run in a grant_id that is no UUID: %q; want it masked", ev.Details["grant_id"])
	}
	ev = Event{Action: ActDocumentListed, Outcome: Success, ActorType: ActorSystem, ActorID: "worker",
		Details: map[string]string{"jti": "123456782"}}.Normalize(time.Now())
	if err := ev.Validate(); err == nil {
		t.Error("a BSN as a whole jti passed Validate")
	}
}
