package backup

import (
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// BenchmarkKDF measures the key derivation of a seal (DefaultParams and
// the argon2id alternative) natively; under GOOS=js GOARCH=wasm (node) it
// approximates the browser's cost.
func BenchmarkKDF(b *testing.B) {
	for _, c := range []struct {
		name string
		kdf  string
		p    Params
	}{
		{"scrypt-N15-r8", KDFScrypt, DefaultParams},
		{"argon2id-t2-m32M", KDFArgon2id, Params{T: 2, M: 32 << 10, P: 1}},
		{"argon2id-t1-m64M", KDFArgon2id, Params{T: 1, M: 64 << 10, P: 1}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s := &Seal{V: Version, KDF: c.kdf, Params: c.p, Salt: make([]byte, SaltSize)}
			for b.Loop() {
				if _, err := s.key("correct horse"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkSeal is a whole seal with the defaults.
func BenchmarkSeal(b *testing.B) {
	var seed identity.Seed
	for b.Loop() {
		if _, err := SealSeed(seed, "correct horse"); err != nil {
			b.Fatal(err)
		}
	}
}
