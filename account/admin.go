package account

import (
	"context"

	"github.com/pgo-koppelvlak/pgo"
	"github.com/pgo-koppelvlak/pgo/audit"
	"github.com/pgo-koppelvlak/pgo/server/reqctx"
)

// Enrolment is what a new account's owner must see exactly once: the TOTP
// enrolment URI (and QR code made from it) and the recovery codes.
type Enrolment struct {
	Account       *Account
	URI           string // otpauth://totp/...
	RecoveryCodes []string
}

// Create makes an account with a password and a fresh TOTP secret, in one
// transaction with its recovery codes and the audit record.
func (s *Service) Create(ctx context.Context, name string, role Role, password string, c Client) (*Enrolment, error) {
	if err := CheckName(name); err != nil {
		return nil, err
	}
	if _, err := ParseRole(string(role)); err != nil {
		return nil, err
	}
	hash, err := HashPassword(password, s.cfg.Argon2)
	if err != nil {
		return nil, err
	}
	secret, err := NewTOTPSecret()
	if err != nil {
		return nil, err
	}
	codes, err := NewRecoveryCodes()
	if err != nil {
		return nil, err
	}
	hashes, err := hashRecoveryCodes(codes, s.cfg.Argon2)
	if err != nil {
		return nil, err
	}
	a := &Account{ID: newAccountID(), Name: name, Role: role, PasswordHash: hash, CreatedAt: s.clock()}
	if a.TOTPSealed, err = s.sealSeed(TOTPObjectID(a.ID), secret); err != nil {
		return nil, err
	}
	err = s.store.InTx(ctx, func(tx Tx) error {
		if err := tx.CreateAccount(ctx, a); err != nil {
			if pgo.ErrorCode(err) == pgo.ECONFLICT {
				return pgo.Errorf(pgo.ECONFLICT, "name: an account %q already exists", name)
			}
			return err
		}
		if err := tx.AddRecoveryCodes(ctx, a.ID, hashes, false); err != nil {
			return err
		}
		return tx.Audit(ctx, s.adminEvent(audit.ActAccountCreated, a, c))
	})
	if err != nil {
		return nil, err
	}
	return &Enrolment{Account: a, URI: EnrolmentURI(s.cfg.Issuer, a.Name, secret), RecoveryCodes: codes}, nil
}

// List returns all accounts, ordered by name.
func (s *Service) List(ctx context.Context) ([]Account, error) {
	var out []Account
	err := s.store.InTx(ctx, func(tx Tx) error {
		var err error
		out, err = tx.ListAccounts(ctx)
		return err
	})
	return out, err
}

// Lock disables an account until an operator unlocks it and ends its sessions.
func (s *Service) Lock(ctx context.Context, name string, c Client) error {
	return s.store.InTx(ctx, func(tx Tx) error {
		a, err := tx.AccountByName(ctx, name)
		if pgo.ErrorCode(err) == pgo.ENOTFOUND {
			return pgo.Errorf(pgo.ENOTFOUND, "name: no account %q", name)
		}
		if err != nil {
			return err
		}
		a.Disabled = true
		if err := tx.SaveLoginState(ctx, a); err != nil {
			return err
		}
		if _, err := tx.DeleteAccountSessions(ctx, a.ID); err != nil {
			return err
		}
		return tx.Audit(ctx, s.adminEvent(audit.ActAccountLocked, a, c))
	})
}

// adminEvent records an operator action on account a.
func (s *Service) adminEvent(act audit.Action, a *Account, c Client) audit.Event {
	ev := s.event(act, audit.Success, "", a.ID, a.Role, c)
	ev.ActorType, ev.ActorID = audit.ActorSystem, "system"
	ev.Details = map[string]string{"role": string(a.Role)}
	if a.Role == RolePatient {
		ev.PersonID = a.ID
	}
	return ev
}

// Whoami returns the name of account id and whether it logs in with a password
// (for the account page).
func (s *Service) Whoami(ctx context.Context, id string) (string, bool, error) {
	var name string
	var password bool
	err := s.store.InTx(ctx, func(tx Tx) error {
		a, err := tx.AccountByID(ctx, id)
		if err != nil {
			return err
		}
		name, password = a.Name, a.PasswordHash != ""
		return nil
	})
	return name, password, err
}

// newAccountID returns a random (version 4) UUID with no BSN-shaped digit run
// in it: account ids go onto log lines and, as person ids, into audit records
// and the auditor's filter, where such a run reads as a BSN.
func newAccountID() string { return reqctx.NewID() }
