package account

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"image/png"
	"net/url"
	"strings"
	"testing"
	"time"
)

var testParams = Argon2Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

func TestPasswordHash(t *testing.T) {
	h, err := HashPassword("correct horse battery", testParams)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=8192,t=1,p=1$") {
		t.Fatalf("not a PHC argon2id string: %s", h)
	}
	if h2, _ := HashPassword("correct horse battery", testParams); h2 == h {
		t.Fatal("two hashes of one password are equal: salt not random")
	}
	for _, tc := range []struct {
		pw   string
		want bool
	}{{"correct horse battery", true}, {"correct horse batterx", false}, {"", false}, {strings.Repeat("x", 200), false}} {
		ok, err := VerifyPassword(h, tc.pw)
		if err != nil || ok != tc.want {
			t.Errorf("VerifyPassword(%q) = %v, %v; want %v", tc.pw, ok, err, tc.want)
		}
	}
}

func TestPasswordRules(t *testing.T) {
	for _, pw := range []string{"", "short", "elevenchars", strings.Repeat("a", 129)} {
		if _, err := HashPassword(pw, testParams); err == nil {
			t.Errorf("HashPassword accepted a password of %d bytes", len(pw))
		} else if pw != "" && strings.Contains(err.Error(), pw) {
			t.Errorf("error repeats the password: %v", err)
		}
	}
}

func TestParsePHCRefusesBadHashes(t *testing.T) {
	for _, bad := range []string{
		"", "plain", "$argon2i$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=16$m=8192,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=19$m=0,t=1,p=1$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=19$m=8192,t=1,p=1$!!$a2V5a2V5a2V5a2V5a2V5aw",
		"$argon2id$v=19$m=8192,t=1,p=1$c2FsdHNhbHQ$a2V5",
	} {
		if _, err := VerifyPassword(bad, "whatever-password"); err == nil {
			t.Errorf("VerifyPassword accepted hash %q", bad)
		}
	}
}

// RFC 6238 Appendix B, SHA-1 seed, last six digits of the eight-digit values.
func TestTOTPVectors(t *testing.T) {
	seed := []byte("12345678901234567890")
	for _, tc := range []struct {
		unix int64
		want string
	}{{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"}, {1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"}} {
		if got := TOTPCode(seed, TOTPStep(time.Unix(tc.unix, 0))); got != tc.want {
			t.Errorf("T=%d: got %s want %s", tc.unix, got, tc.want)
		}
	}
}

func TestVerifyTOTPWindowAndReplay(t *testing.T) {
	seed := []byte("12345678901234567890")
	now := time.Unix(1700000000, 0)
	cur := TOTPStep(now)
	for _, tc := range []struct {
		name     string
		step     int64
		lastUsed int64
		ok       bool
	}{
		{"current", cur, 0, true},
		{"one behind", cur - 1, 0, true},
		{"one ahead", cur + 1, 0, true},
		{"two behind", cur - 2, 0, false},
		{"two ahead", cur + 2, 0, false},
		{"replayed", cur, cur, false},
		{"older than last used", cur - 1, cur, false},
		{"newer than last used", cur + 1, cur, true},
	} {
		step, ok := VerifyTOTP(seed, TOTPCode(seed, tc.step), now, tc.lastUsed)
		if ok != tc.ok || (ok && step != tc.step) {
			t.Errorf("%s: got step %d ok %v", tc.name, step, ok)
		}
	}
	for _, bad := range []string{"", "12345", "1234567", "abcdef"} {
		if _, ok := VerifyTOTP(seed, bad, now, 0); ok {
			t.Errorf("accepted %q", bad)
		}
	}
}

// matchTOTP tells the code of exactly the step last used (a double submit)
// from a wrong one; neither is accepted (review finding).
func TestMatchTOTPReplay(t *testing.T) {
	seed := []byte("12345678901234567890")
	now := time.Unix(1700000000, 0)
	cur := TOTPStep(now)
	for _, tc := range []struct {
		name     string
		step     int64
		lastUsed int64
		want     codeResult
	}{
		{"never used", cur, 0, codeAccepted},
		{"newer than last used", cur + 1, cur, codeAccepted},
		{"last used, current step", cur, cur, codeReplayed},
		{"last used, previous step", cur - 1, cur - 1, codeReplayed},
		{"last used, next step", cur + 1, cur + 1, codeReplayed},
		{"older than last used", cur - 1, cur, codeWrong},
		{"older than last used, two back", cur - 1, cur + 1, codeWrong},
		{"last used, out of the window", cur - 2, cur - 2, codeWrong},
	} {
		step, got := matchTOTP(seed, TOTPCode(seed, tc.step), now, tc.lastUsed)
		if got != tc.want || (got == codeAccepted) != (step == tc.step) {
			t.Errorf("%s: got step %d result %d; want %d", tc.name, step, got, tc.want)
		}
		if _, ok := VerifyTOTP(seed, TOTPCode(seed, tc.step), now, tc.lastUsed); ok != (tc.want == codeAccepted) {
			t.Errorf("%s: VerifyTOTP ok %v", tc.name, ok)
		}
	}
	for _, bad := range []string{"", "12345", "abcdef", TOTPCode(seed, cur+2)} {
		if _, got := matchTOTP(seed, bad, now, cur); got != codeWrong {
			t.Errorf("%q: result %d; want wrong", bad, got)
		}
	}
}

func TestEnrolmentURIAndQR(t *testing.T) {
	secret := []byte("12345678901234567890")
	uri := EnrolmentURI("PGO Noord", "jan", secret)
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/PGO Noord:jan" {
		t.Fatalf("bad URI %s (%v)", uri, err)
	}
	q := u.Query()
	if q.Get("secret") != "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ" || q.Get("issuer") != "PGO Noord" ||
		q.Get("digits") != "6" || q.Get("period") != "30" || q.Get("algorithm") != "SHA1" {
		t.Fatalf("bad query %v", q)
	}
	img, err := QRCodePNG(uri, 256)
	if err != nil {
		t.Fatal(err)
	}
	decoded, err := png.Decode(bytes.NewReader(img))
	if err != nil || decoded.Bounds().Dx() != 256 {
		t.Fatalf("QR is not a 256px PNG: %v", err)
	}
}

func TestRecoveryCodes(t *testing.T) {
	codes, err := NewRecoveryCodes()
	if err != nil || len(codes) != recoveryCount {
		t.Fatal(codes, err)
	}
	seen := map[string]bool{}
	for _, c := range codes {
		if len(c) != recoveryLen+1 || c[5] != '-' || seen[c] || !looksLikeRecoveryCode(c) {
			t.Errorf("bad or repeated code %q", c)
		}
		seen[c] = true
	}
	c := codes[0]
	p := Argon2Params{Time: 1, MemoryKiB: 19456, Threads: 1}
	h1, err := HashRecoveryCode(c, p)
	if err != nil {
		t.Fatal(err)
	}
	h2, _ := HashRecoveryCode(c, p)
	if bytes.Equal(h1, h2) {
		t.Error("two hashes of one code are equal: no salt")
	}
	other, _ := HashRecoveryCode(codes[1], p)
	stored := [][]byte{other, h1}
	if got := matchRecoveryCode(stored, "a", strings.ToLower(strings.Replace(c, "-", " ", 1))); !bytes.Equal(got, h1) {
		t.Error("normalisation: lower case with a space does not match")
	}
	if matchRecoveryCode(stored, "a", codes[2]) != nil {
		t.Error("a code that was not stored matches")
	}
	// Issue 15, finding 2: the stored value is not a plain SHA-256 of the code,
	// with or without the account id, so a dump does not give the codes away.
	norm := strings.ReplaceAll(c, "-", "")
	for _, guess := range []string{norm, "pgo-recovery\x00a\x00" + norm} {
		sum := sha256.Sum256([]byte(guess))
		if bytes.Contains(h1, sum[:]) || strings.Contains(string(h1), hex.EncodeToString(sum[:])) {
			t.Errorf("stored hash holds a plain SHA-256 of the code")
		}
	}
	if !bytes.HasPrefix(h1, []byte("$argon2id$v=19$m=19456,t=1,p=1$")) {
		t.Errorf("stored hash %q is not argon2id", h1)
	}
	// Codes handed out before argon2id keep working.
	legacy := sha256.Sum256([]byte("pgo-recovery\x00a\x00" + norm))
	if got := matchRecoveryCode([][]byte{legacy[:]}, "a", c); !bytes.Equal(got, legacy[:]) {
		t.Error("a legacy SHA-256 hash no longer matches")
	}
	if matchRecoveryCode([][]byte{legacy[:]}, "b", c) != nil {
		t.Error("a legacy hash matches another account")
	}
	if looksLikeRecoveryCode("123456") {
		t.Error("a TOTP code looks like a recovery code")
	}
}

func TestACRAtLeast(t *testing.T) {
	const (
		sub    = "http://eidas.europa.eu/LoA/substantial"
		high   = "http://eidas.europa.eu/LoA/high"
		low    = "http://eidas.europa.eu/LoA/low"
		midden = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"
	)
	for _, tc := range []struct {
		acr, min string
		ok       bool
	}{
		{sub, sub, true}, {high, sub, true}, {low, sub, false}, {"", sub, false},
		{"http://eidas.europa.eu/LoA/unknown", sub, false}, {midden, sub, false},
		{"urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard", midden, true},
		{"urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport", midden, false},
		{"2", "2", true}, {"1", "2", false}, {sub, "", false},
	} {
		if got := ACRAtLeast(tc.acr, tc.min); got != tc.ok {
			t.Errorf("ACRAtLeast(%q, %q) = %v", tc.acr, tc.min, got)
		}
	}
}

func TestCSRFToken(t *testing.T) {
	a, b := CSRFToken("session-a"), CSRFToken("session-b")
	if a == b || a != CSRFToken("session-a") {
		t.Fatal("token not tied to the session")
	}
	for _, tc := range []struct {
		sid, tok string
		ok       bool
	}{{"session-a", a, true}, {"session-a", b, false}, {"session-a", "", false}, {"", CSRFToken(""), false}, {"session-a", a + "x", false}} {
		if CheckCSRF(tc.sid, tc.tok) != tc.ok {
			t.Errorf("CheckCSRF(%q, %q) != %v", tc.sid, tc.tok, tc.ok)
		}
	}
}

func TestCheckNameAndRole(t *testing.T) {
	for _, n := range []string{"jan", "j.de-vries@pgo", "a1"} {
		if CheckName(n) != nil {
			t.Errorf("refused %q", n)
		}
	}
	for _, n := range []string{"", "J", "Jan", "-jan", "jan de vries", strings.Repeat("a", 65), "jan\n"} {
		if CheckName(n) == nil {
			t.Errorf("accepted %q", n)
		}
	}
	if _, err := ParseRole("admin"); err == nil {
		t.Error("accepted role admin")
	}
}
