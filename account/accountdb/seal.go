package accountdb

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/account"
	"github.com/pgo-koppelvlak/pgo/store"
)

// SealClearSeeds seals the TOTP seeds that migration 004 stored in the clear
// (totp_secret, totp_pending) into totp_sealed and totp_pending_sealed and empties
// the clear columns, all in one transaction; it returns how many accounts it
// changed. `pgo migrate` has no keyset, so `pgo serve` and the `pgo user` commands
// run this before anything else (migration 007). Repeating it finds nothing; two
// instances starting at once serialise on the rows.
func (s *Store) SealClearSeeds(ctx context.Context, sealer account.Sealer) (int, error) {
	var n int
	err := s.db.WithTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `select id::text, totp_secret, totp_pending from accounts
			where totp_secret is not null or totp_pending is not null order by id for update`)
		if err != nil {
			return store.Error(err)
		}
		type clear struct {
			id              string
			secret, pending []byte
		}
		list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (clear, error) {
			var c clear
			return c, r.Scan(&c.id, &c.secret, &c.pending)
		})
		if err != nil {
			return store.Error(err)
		}
		n = 0
		for _, c := range list {
			secret, err := sealIf(sealer, account.TOTPObjectID(c.id), c.secret)
			if err != nil {
				return err
			}
			pending, err := sealIf(sealer, account.PendingTOTPObjectID(c.id), c.pending)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `update accounts set totp_secret = null, totp_pending = null,
				totp_sealed = coalesce($2, totp_sealed), totp_pending_sealed = coalesce($3, totp_pending_sealed)
				where id = $1::uuid`, c.id, secret, pending)
			if err != nil {
				return store.Error(err)
			}
			n++
		}
		return nil
	})
	return n, err
}

// sealIf seals a clear seed; nil stays nil.
func sealIf(sealer account.Sealer, objectID string, seed []byte) ([]byte, error) {
	if len(seed) == 0 {
		return nil, nil
	}
	ct, err := sealer.Seal(objectID, seed)
	if err != nil {
		return nil, pgo.Wrap(pgo.EINTERNAL, fmt.Errorf("sealing a TOTP seed: %w", err), "")
	}
	return ct, nil
}

// Sealed TOTP columns as rewrap targets (store.DB.Rewrap): the row's uuid is the
// key, and the object id adds the field (account.TOTPObjectID).
var (
	totpColumn    = store.SealedColumn{Table: "accounts", ID: "id", Sealed: "totp_sealed"}
	pendingColumn = store.SealedColumn{Table: "accounts", ID: "id", Sealed: "totp_pending_sealed"}
)

// RewrapTOTP moves up to limit active TOTP seeds after `after` from an older key to
// the primary key, after `pgo keys rotate` (compare and swap: an enrolment that
// changes the seed meanwhile is never overwritten).
func (s *Store) RewrapTOTP(ctx context.Context, v store.Rewrapper, after string, limit int) (store.RewrapResult, error) {
	return s.db.Rewrap(ctx, totpColumn, objectIDs{v, account.TOTPObjectID}, after, limit)
}

// RewrapPendingTOTP is RewrapTOTP for the seeds of enrolments not yet confirmed.
func (s *Store) RewrapPendingTOTP(ctx context.Context, v store.Rewrapper, after string, limit int) (store.RewrapResult, error) {
	return s.db.Rewrap(ctx, pendingColumn, objectIDs{v, account.PendingTOTPObjectID}, after, limit)
}

// objectIDs maps the row key that store.DB.Rewrap passes to the seed's object id.
type objectIDs struct {
	store.Rewrapper
	id func(accountID string) string
}

func (o objectIDs) Rewrap(rowID string, ciphertext []byte) ([]byte, error) {
	return o.Rewrapper.Rewrap(o.id(rowID), ciphertext)
}
