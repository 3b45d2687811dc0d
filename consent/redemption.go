package consent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
)

// A token request reads its code, the code's PKCE challenge and its grant in one
// round trip (Store.Redemption) and keeps them for the request: fosite asks for
// the code twice (once to check the request, once to issue the token), for the
// challenge once, and Token for the grant. Re-reading the code adds nothing:
// the redemption itself is the compare-and-set in RedeemCode, inside the token's
// transaction, which a concurrent redemption cannot pass twice.

// redemption is one token request's code as read, and whether its
// compare-and-set is still to run.
type redemption struct {
	sig     []byte
	row     Redemption
	loaded  bool
	pending bool // InvalidateAuthorizeCodeSession was called; RedeemCode or Commit runs it

	// The stored requests of the code and of its PKCE challenge (fosite stores
	// a sanitised and a full copy), each decoded once: fosite asks for the
	// code's twice.
	decoded [2]decodedRequest
}

type decodedRequest struct {
	b  []byte
	sr *storedRequest
}

type redemptionKey struct{}

// errGrantEnded: the grant ended between Token's check and the redemption.
var errGrantEnded = errors.New("consent: the grant of this code has ended")

// withRedemption returns ctx with an empty redemption for the token request.
func withRedemption(ctx context.Context) context.Context {
	return context.WithValue(ctx, redemptionKey{}, &redemption{})
}

func redemptionOf(ctx context.Context) *redemption {
	rd, _ := ctx.Value(redemptionKey{}).(*redemption)
	return rd
}

// is reports whether the redemption is of the code with this signature.
func (rd *redemption) is(sig []byte) bool { return rd.loaded && bytes.Equal(rd.sig, sig) }

// code returns the code of sig: in a token request read once with its challenge
// and grant, elsewhere (revocation, the consent screen) as before.
func (f *fositeStore) code(ctx context.Context, sig []byte) (Code, error) {
	rd := redemptionOf(ctx)
	if rd == nil {
		return f.s.d.Store.Code(ctx, sig)
	}
	if !rd.is(sig) {
		if rd.pending {
			return Code{}, errors.New("consent: a second code in one token request")
		}
		row, err := f.s.d.Store.Redemption(ctx, sig)
		if err != nil {
			return Code{}, err
		}
		*rd = redemption{sig: sig, row: row, loaded: true}
	}
	return rd.row.Code, nil
}

// grantOf is the grant of the token request's code when it was read with it,
// else read now.
func (s *Service) grantOf(ctx context.Context, id string) (Grant, error) {
	if rd := redemptionOf(ctx); rd != nil && rd.loaded && rd.row.Grant.ID == id {
		return rd.row.Grant, nil
	}
	return s.d.Store.Grant(ctx, id)
}

// decode returns the stored request of b: in a token request decoded once and
// kept for the request, elsewhere decoded each time.
func (rd *redemption) decode(b []byte) (*storedRequest, error) {
	if rd != nil {
		for _, d := range rd.decoded {
			if d.sr != nil && bytes.Equal(d.b, b) {
				return d.sr, nil
			}
		}
	}
	sr := &storedRequest{}
	if err := json.Unmarshal(b, sr); err != nil {
		return nil, err
	}
	if rd != nil {
		for i := range rd.decoded {
			if rd.decoded[i].sr == nil {
				rd.decoded[i] = decodedRequest{b: b, sr: sr}
				break
			}
		}
	}
	return sr, nil
}
