package identity_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

func ExampleRecoveryCode() {
	code := identity.RecoveryCode(identity.Seed{1, 2, 3})
	seed, err := identity.ParseRecoveryCode(strings.ToUpper(strings.ReplaceAll(code, "-", " ")))
	fmt.Println(len(code), strings.Count(code, "-"), code[:5], seed == identity.Seed{1, 2, 3}, err)
	// Output: 74 14 tmr1- true <nil>
}

func TestRecoveryCode(t *testing.T) {
	seed := identity.Seed{7, 7, 7, 31: 1} // fixed: a random seed could (one in 10^4) hide a typo
	code := identity.RecoveryCode(seed)
	for _, in := range []string{
		code,
		strings.ToUpper(code),
		strings.ReplaceAll(code, "-", ""),
		strings.ReplaceAll(code, "-", " "),
		"  " + strings.ReplaceAll(code, "-", "\n") + "\n",
	} {
		got, err := identity.ParseRecoveryCode(in)
		if err != nil || got != seed {
			t.Fatalf("ParseRecoveryCode(%q) = %v, %v", in, got == seed, err)
		}
	}
	// Every single-character substitution is caught (the checksum, or the
	// alphabet), and so is a swap of two neighbours that differ.
	const alphabet = "ybndrfg8ejkmcpqxot1uwisza345h769"
	body := []byte(code)
	for i := 5; i < len(body); i++ {
		if body[i] == '-' {
			continue
		}
		orig := body[i]
		for _, c := range []byte(alphabet) {
			if c == orig {
				continue
			}
			body[i] = c
			if _, err := identity.ParseRecoveryCode(string(body)); !errors.Is(err, identity.ErrBadRecoveryCode) {
				t.Fatalf("typo at %d (%c→%c) not caught: %v", i, orig, c, err)
			}
		}
		body[i] = orig
	}
}

func TestRecoveryCodeErrors(t *testing.T) {
	code := identity.RecoveryCode(identity.Seed{9})
	for _, c := range []struct{ in, want string }{
		{"", `starts with "tmr1"`},
		{identity.Seed{9}.String(), `starts with "tmr1"`},
		{"tmr2" + code[4:], "another version"},
		{code[:10] + "l" + code[11:], `'l' in group 2 is not a character`},
		{code[:len(code)-1], "one is missing or extra"},
		{code + "y", "one is missing or extra"},
		{code[:5] + string(code[6]) + string(code[5]) + code[7:], "typo"},
		{strings.Repeat("y", identity.MaxRecoveryCodeInput+1), "characters, a code has"},
	} {
		_, err := identity.ParseRecoveryCode(c.in)
		if !errors.Is(err, identity.ErrBadRecoveryCode) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseRecoveryCode(%q) = %v, want an error saying %q", c.in, err, c.want)
		}
	}
}

func FuzzParseRecoveryCode(f *testing.F) {
	code := identity.RecoveryCode(identity.Seed{1, 2, 3})
	for _, s := range []string{code, strings.ToUpper(code), code[:20], code + "-", "tmr1", "tmr1-" + strings.Repeat("y", 56),
		"tmr1-" + strings.Repeat("9", 56), code[:10] + "\xff" + code[11:], code[:10] + "é" + code[12:]} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		seed, err := identity.ParseRecoveryCode(s)
		if err != nil {
			if !errors.Is(err, identity.ErrBadRecoveryCode) {
				t.Fatalf("error %v does not wrap ErrBadRecoveryCode", err)
			}
			return
		}
		again, err := identity.ParseRecoveryCode(identity.RecoveryCode(seed))
		if err != nil || again != seed {
			t.Fatalf("the code of a parsed seed does not parse back: %v", err)
		}
	})
}
