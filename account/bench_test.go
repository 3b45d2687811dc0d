package account

import (
	"testing"
	"time"
)

// BenchmarkHashPassword measures one argon2id hash at the default settings
// (PGO_ARGON2_TIME=2, PGO_ARGON2_MEMORY_KIB=19456): the cost of every login.
func BenchmarkHashPassword(b *testing.B) {
	p := Argon2Params{Time: 2, MemoryKiB: 19456, Threads: 1}
	start := time.Now()
	for i := 0; i < b.N; i++ {
		if _, err := HashPassword("correct horse battery staple", p); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(time.Since(start).Milliseconds())/float64(b.N), "ms/hash")
}

// BenchmarkVerifyTOTP measures checking a code against the ±1 step window.
func BenchmarkVerifyTOTP(b *testing.B) {
	seed := []byte("12345678901234567890")
	now := time.Unix(1700000000, 0)
	code := TOTPCode(seed, TOTPStep(now)+1)
	for i := 0; i < b.N; i++ {
		if _, ok := VerifyTOTP(seed, code, now, 0); !ok {
			b.Fatal("refused")
		}
	}
}
