package account

import (
	"context"
	"regexp"

	"github.com/pgo-koppelvlak/pgo"
)

// IsPatient reports whether id is the id of a patient's account. The auditor's
// "person" filter is free text; only a value that names a patient may be recorded
// as the person an audit view is about (NEN 7513: the patient sees who looked at
// their records), never an arbitrary string (issue 13).
func (s *Service) IsPatient(ctx context.Context, id string) (bool, error) {
	var patient bool
	if !uuidRE.MatchString(id) {
		return false, nil // account ids are UUIDs; anything else names no one
	}
	err := s.store.InTx(ctx, func(tx Tx) error {
		a, err := tx.AccountByID(ctx, id)
		if pgo.ErrorCode(err) == pgo.ENOTFOUND {
			return nil
		}
		if err != nil {
			return err
		}
		patient = a.Role == RolePatient
		return nil
	})
	return patient, err
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
