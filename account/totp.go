package account

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"image/png"
	"net/url"
	"time"

	"github.com/boombuler/barcode"
	"github.com/boombuler/barcode/qr"

	"github.com/pgo-koppelvlak/pgo"
)

// TOTP parameters fixed by the issue and by what authenticator apps support:
// RFC 6238 with HMAC-SHA-1, a 30-second step, 6 digits, and ±1 step for clock skew.
const (
	totpStep    = 30
	totpDigits  = 6
	totpSkew    = 1
	totpSeedLen = 20 // RFC 4226 §4 R6: at least 128 bits; 160 recommended
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPSecret returns a fresh random seed.
func NewTOTPSecret() ([]byte, error) {
	s := make([]byte, totpSeedLen)
	if _, err := rand.Read(s); err != nil {
		return nil, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	return s, nil
}

// TOTPStep returns the RFC 6238 time-step counter T for t.
func TOTPStep(t time.Time) int64 { return t.Unix() / totpStep }

// TOTPCode returns the code for one time step (RFC 4226 §5.3 dynamic truncation).
func TOTPCode(secret []byte, step int64) string {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], uint64(step))
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	bin := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	return fmt.Sprintf("%0*d", totpDigits, bin%1_000_000)
}

// VerifyTOTP checks code against the steps now-1, now and now+1 and returns the
// matching step. A step at or before lastUsed is refused, so a code that was
// accepted once (or an older one) can never be used again (RFC 6238 §5.2).
func VerifyTOTP(secret []byte, code string, now time.Time, lastUsed int64) (int64, bool) {
	step, res := matchTOTP(secret, code, now, lastUsed)
	return step, res == codeAccepted
}

// codeResult is how a submitted second factor compares.
type codeResult int

const (
	codeWrong    codeResult = iota // no match: a failed attempt, counted
	codeAccepted                   // a TOTP step newer than the last used, or an unused recovery code
	// codeReplayed is the code of exactly the step last accepted, still in
	// the window: refused like any used code (RFC 6238 §5.2), but not a
	// guess, since whoever sends it knew a valid code (a double submit).
	codeReplayed
)

// matchTOTP is VerifyTOTP that also tells a replay of the last accepted step
// (lastUsed) from a wrong code. The codes of all three steps in the window are
// always computed and compared (in constant time, with no early return), so the
// work done depends neither on lastUsed nor on which step, if any, matched,
// and only exactly the step lastUsed is a replay. A step before lastUsed is wrong,
// not a replay; a step after it is accepted even if its code happens to equal
// the replayed one.
func matchTOTP(secret []byte, code string, now time.Time, lastUsed int64) (int64, codeResult) {
	if len(code) != totpDigits {
		return 0, codeWrong
	}
	var step int64
	res := codeWrong
	cur := TOTPStep(now)
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		eq := subtle.ConstantTimeCompare([]byte(TOTPCode(secret, s)), []byte(code)) == 1
		switch {
		case eq && s > lastUsed && res != codeAccepted:
			step, res = s, codeAccepted
		case eq && s == lastUsed && res == codeWrong:
			res = codeReplayed
		}
	}
	return step, res
}

// EnrolmentURI is the Key Uri Format understood by authenticator apps:
// otpauth://totp/ISSUER:NAME?secret=BASE32&issuer=ISSUER&algorithm=SHA1&digits=6&period=30.
func EnrolmentURI(issuer, name string, secret []byte) string {
	q := url.Values{}
	q.Set("secret", b32.EncodeToString(secret))
	q.Set("issuer", issuer)
	q.Set("algorithm", "SHA1")
	q.Set("digits", fmt.Sprint(totpDigits))
	q.Set("period", fmt.Sprint(totpStep))
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + name, RawQuery: q.Encode()}
	return u.String()
}

// QRCodePNG renders uri as a PNG QR code (error correction M), for the enrolment page.
func QRCodePNG(uri string, size int) ([]byte, error) {
	code, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return nil, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	code, err = barcode.Scale(code, size, size)
	if err != nil {
		return nil, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, code); err != nil {
		return nil, pgo.Wrap(pgo.EINTERNAL, err, "")
	}
	return buf.Bytes(), nil
}
