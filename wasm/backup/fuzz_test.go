package backup

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// FuzzDecode: Decode never panics, returns one of its errors or a backup
// whose seal (if any) passes Check and encodes back to a backup Decode
// reads the same.
func FuzzDecode(f *testing.F) {
	good, _ := json.Marshal(sealedSeed(f))
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte(`{"format":"` + journal.ExportFormat + `","version":1,"profile":"ybndrfg8ejkmcpqxot1uwisza345h769ybndrfg8ejkmcpqxot1u","books":[],"seal":null}`))
	f.Add([]byte(`{"seal":{"v":1,"kdf":"argon2id","params":{"t":1,"m":64,"p":1}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, err := Decode(data)
		if err != nil {
			if !errors.Is(err, ErrNotBackup) && !errors.Is(err, ErrBadSeal) {
				t.Fatalf("Decode: an error of no kind: %v", err)
			}
			return
		}
		if b.Seal != nil {
			if err := b.Seal.Check(); err != nil {
				t.Fatalf("a decoded seal fails Check: %v", err)
			}
		}
		again, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		b2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded backup does not decode: %v", err)
		}
		if (b.Seal == nil) != (b2.Seal == nil) || b2.Profile != b.Profile {
			t.Fatal("re-encoded backup differs")
		}
	})
}

func sealedSeed(f *testing.F) *Backup {
	s, err := sealWith(seed(1), "p", KDFScrypt, cheap)
	if err != nil {
		f.Fatal(err)
	}
	return &Backup{Export: journal.Export{Format: journal.ExportFormat, Version: 1, Profile: identity.New(seed(1)).ID()}, Seal: s}
}
