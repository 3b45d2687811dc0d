package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Hash is a SHA-256 value in the chain. The zero Hash is the genesis: the prev hash
// of record 1.
type Hash [32]byte

// String is the lower-case hex form used in exports, checkpoints and messages.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// MarshalText writes the hex form (JSON, NDJSON).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText reads the hex form.
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	*h = p
	return err
}

// ParseHash reads a 64-character hex hash.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("not a 64-character hex SHA-256 value")
	}
	copy(h[:], b)
	return h, nil
}

// HashFromBytes copies a 32-byte slice (as stored) into a Hash.
func HashFromBytes(b []byte) (Hash, error) {
	var h Hash
	if len(b) != len(h) {
		return h, fmt.Errorf("hash has %d bytes, want 32", len(b))
	}
	copy(h[:], b)
	return h, nil
}

// Record is a stored audit record: the Event plus what the store adds. Recorded is
// the store's clock when it was appended (it picks the month partition), while
// Event.Time is when the event happened.
//
// Two formats exist. Format 1 (written before issue 16) was linked when it was
// appended: Seq is its chain position, MAC is zero and Hash covers the content and
// PrevHash (Canonical). Format 2 records are appended unlinked, with their own MAC
// over the content (CanonicalContent), and a linker gives them their chain position
// (Link), PrevHash and Hash (over the link fields and the MAC, CanonicalLink)
// shortly after they commit. Their Seq is the order of appending (a database
// sequence: increasing, with gaps where a transaction rolled back), which is not
// necessarily the chain order: a transaction that commits late is linked late.
type Record struct {
	Event
	ID       string // UUID
	Seq      int64
	Recorded time.Time // UTC, microseconds
	// MACKey is the keyset key id whose chain key keys this record's MAC and
	// Hash (ChainKeys). 0: an unkeyed record (SHA-256), as written before keyed
	// chains or by a process without a keyset.
	MACKey uint32
	// MAC is a format 2 record's own MAC over its content; zero for format 1.
	MAC Hash
	// Link is a format 2 record's chain position, 0 while it is not linked.
	Link     int64
	PrevHash Hash // zero while a format 2 record is not linked
	Hash     Hash // zero while a format 2 record is not linked
}

// Format2 reports whether r carries its own MAC (appended unlinked).
func (r *Record) Format2() bool { return r.MAC != Hash{} }

// Linked reports whether r has its place in the chain.
func (r *Record) Linked() bool { return !r.Format2() || r.Link != 0 }

// Pos is r's chain position: Link for format 2, Seq for format 1.
func (r *Record) Pos() int64 {
	if r.Format2() {
		return r.Link
	}
	return r.Seq
}

// ChainKeys are the audit chain's MAC keys by keyset key id (vault.Vault). They
// live outside the database, so a database user who rewrites records cannot
// recompute their hashes (NEN 7513 non-repudiation; ASVS 5.0 V16.4.2).
type ChainKeys interface {
	ChainKey(id uint32) ([]byte, error)
}

// canonicalV1 fixes the field order of the canonical encoding. encoding/json writes
// struct fields in declaration order and map keys sorted, so the bytes depend only on
// the values. Never change this struct: add a canonicalV2 and a version switch.
type canonicalV1 struct {
	V             int               `json:"v"`
	ID            string            `json:"id"`
	Seq           int64             `json:"seq"`
	Recorded      string            `json:"recorded"`
	Time          string            `json:"time"`
	Action        Action            `json:"action"`
	Outcome       Outcome           `json:"outcome"`
	Reason        string            `json:"reason"`
	PersonID      string            `json:"person_id"`
	ActorType     ActorType         `json:"actor_type"`
	ActorID       string            `json:"actor_id"`
	Role          Role              `json:"role"`
	ObjectType    string            `json:"object_type"`
	ObjectID      string            `json:"object_id"`
	ObjectHashes  map[string]string `json:"object_hashes,omitempty"`
	SourceIP      string            `json:"source_ip"`
	UserAgent     string            `json:"user_agent"`
	RequestID     string            `json:"request_id"`
	CorrelationID string            `json:"correlation_id"`
	Details       map[string]string `json:"details,omitempty"`
	PrevHash      Hash              `json:"prev_hash"`
}

// TimeFormat is how times appear in the canonical encoding: UTC, always six digits.
const TimeFormat = "2006-01-02T15:04:05.000000Z"

// Canonical returns the bytes that are hashed: a JSON object with a fixed field
// order, including seq and the previous hash, so that changing, reordering or
// removing any record changes a hash that the next record or a checkpoint holds.
func (r *Record) Canonical() []byte {
	c := canonicalV1{
		V: 1, ID: r.ID, Seq: r.Seq,
		Recorded: r.Recorded.UTC().Format(TimeFormat), Time: r.Time.UTC().Format(TimeFormat),
		Action: r.Action, Outcome: r.Outcome, Reason: r.Reason, PersonID: r.PersonID,
		ActorType: r.ActorType, ActorID: r.ActorID, Role: r.Role,
		ObjectType: r.ObjectType, ObjectID: r.ObjectID, ObjectHashes: r.ObjectHashes,
		SourceIP: r.SourceIP, UserAgent: r.UserAgent,
		RequestID: r.RequestID, CorrelationID: r.CorrelationID, Details: r.Details,
		PrevHash: r.PrevHash,
	}
	return mustJSON(c)
}

// ComputeHash is the record's link value over Canonical: HMAC-SHA256 under the
// chain key r.MACKey names, or SHA-256 for an unkeyed record (MACKey 0). The
// error says that keys lacks that key.
func (r *Record) ComputeHash(keys ChainKeys) (Hash, error) { return r.mac(keys, r.Canonical()) }

// mac is HMAC-SHA256 of b under the chain key r.MACKey names, or SHA-256 of b for
// an unkeyed record.
func (r *Record) mac(keys ChainKeys, b []byte) (Hash, error) {
	if r.MACKey == 0 {
		return sha256.Sum256(b), nil
	}
	if keys == nil {
		return Hash{}, fmt.Errorf("linked with chain key %d, but no keyset is available to check it (PGO_KEYSET_FILE)", r.MACKey)
	}
	k, err := keys.ChainKey(r.MACKey)
	if err != nil {
		return Hash{}, fmt.Errorf("linked with chain key %d, which this keyset lacks", r.MACKey)
	}
	m := hmac.New(sha256.New, k)
	m.Write(b)
	var h Hash
	copy(h[:], m.Sum(nil))
	return h, nil
}

// Seal sets r.Hash of a format 1 record from the other fields (tests write such
// records; the store appends format 2 with SealContent and links with SealLink).
func (r *Record) Seal(keys ChainKeys) error {
	h, err := r.ComputeHash(keys)
	r.Hash = h
	return err
}

// canonicalV2 is the content of a format 2 record: canonicalV1 without what the
// store assigns when the row is written (seq) or linked (prev_hash); CanonicalLink
// covers those. The record is sealed before its insert, so that appending is one
// statement. Never change it.
type canonicalV2 struct {
	V             int               `json:"v"`
	ID            string            `json:"id"`
	Recorded      string            `json:"recorded"`
	Time          string            `json:"time"`
	Action        Action            `json:"action"`
	Outcome       Outcome           `json:"outcome"`
	Reason        string            `json:"reason"`
	PersonID      string            `json:"person_id"`
	ActorType     ActorType         `json:"actor_type"`
	ActorID       string            `json:"actor_id"`
	Role          Role              `json:"role"`
	ObjectType    string            `json:"object_type"`
	ObjectID      string            `json:"object_id"`
	ObjectHashes  map[string]string `json:"object_hashes,omitempty"`
	SourceIP      string            `json:"source_ip"`
	UserAgent     string            `json:"user_agent"`
	RequestID     string            `json:"request_id"`
	CorrelationID string            `json:"correlation_id"`
	Details       map[string]string `json:"details,omitempty"`
}

// canonicalLink is what a format 2 record's Hash covers: its seq, its place in
// the chain and its MAC (which covers the content), so the chain holds the
// content too.
type canonicalLink struct {
	V        int    `json:"v"`
	ID       string `json:"id"`
	Seq      int64  `json:"seq"`
	Link     int64  `json:"link"`
	MAC      Hash   `json:"mac"`
	PrevHash Hash   `json:"prev_hash"`
}

// CanonicalContent returns the bytes a format 2 record's own MAC covers.
func (r *Record) CanonicalContent() []byte {
	return mustJSON(canonicalV2{
		V: 2, ID: r.ID,
		Recorded: r.Recorded.UTC().Format(TimeFormat), Time: r.Time.UTC().Format(TimeFormat),
		Action: r.Action, Outcome: r.Outcome, Reason: r.Reason, PersonID: r.PersonID,
		ActorType: r.ActorType, ActorID: r.ActorID, Role: r.Role,
		ObjectType: r.ObjectType, ObjectID: r.ObjectID, ObjectHashes: r.ObjectHashes,
		SourceIP: r.SourceIP, UserAgent: r.UserAgent,
		RequestID: r.RequestID, CorrelationID: r.CorrelationID, Details: r.Details,
	})
}

// CanonicalLink returns the bytes a format 2 record's Hash covers.
func (r *Record) CanonicalLink() []byte {
	return mustJSON(canonicalLink{V: 2, ID: r.ID, Seq: r.Seq, Link: r.Link, MAC: r.MAC, PrevHash: r.PrevHash})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil { // only strings, ints and string maps: cannot happen
		panic("audit: canonical encoding: " + err.Error())
	}
	return b
}

// ComputeMAC is a format 2 record's own MAC over CanonicalContent, keyed like
// ComputeHash.
func (r *Record) ComputeMAC(keys ChainKeys) (Hash, error) { return r.mac(keys, r.CanonicalContent()) }

// ComputeLinkHash is a format 2 record's link value over CanonicalLink.
func (r *Record) ComputeLinkHash(keys ChainKeys) (Hash, error) { return r.mac(keys, r.CanonicalLink()) }

// SealContent sets r.MAC (the store calls it once, on append).
func (r *Record) SealContent(keys ChainKeys) error {
	h, err := r.ComputeMAC(keys)
	r.MAC = h
	return err
}

// SealLink places r after prev at position link and sets r.Hash (the linker).
func (r *Record) SealLink(keys ChainKeys, link int64, prev Hash) error {
	r.Link, r.PrevHash = link, prev
	h, err := r.ComputeLinkHash(keys)
	r.Hash = h
	return err
}
