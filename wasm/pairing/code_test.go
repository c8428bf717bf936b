package pairing

import (
	"errors"
	"strings"
	"testing"
)

func TestCodeRoundTrip(t *testing.T) {
	for range 100 {
		c, err := NewCode()
		if err != nil {
			t.Fatal(err)
		}
		s := c.String()
		if len(s) != len("tml1-xxxx-xxxx-xxxx-xxxx") || !strings.HasPrefix(s, "tml1-") {
			t.Fatalf("code %q", s)
		}
		for _, text := range []string{s, strings.ToUpper(s), strings.ReplaceAll(s, "-", " "), strings.ReplaceAll(s, "-", ""), " " + s[:14] + "\n" + s[14:] + "\r\n"} {
			got, err := ParseCode(text)
			if err != nil || got != c {
				t.Fatalf("ParseCode(%q) = %x, %v; want %x", text, got, err, c)
			}
		}
	}
}

func TestParseCodeErrors(t *testing.T) {
	c := Code{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	s := c.String()
	for _, tc := range []struct{ text, want string }{
		{"", `starts with "tml1"`},
		{"hello", `starts with "tml1"`},
		{"tmr1-" + s[5:], "recovery code"},
		{"tml2-" + s[5:], "another version"},
		{s[:len(s)-1], "15 characters after"},
		{s + "y", "17 characters after"},
		{s[:6] + "0" + s[7:], `'0' at position 7`},
		{s[:6] + "é" + s[7:], `'é' at position 7`},
		{"tml1-" + strings.Repeat("y", MaxCodeInput), "characters, a code has 20"},
		{"tml1-\xff", "UTF-8"},
	} {
		_, err := ParseCode(tc.text)
		if !errors.Is(err, ErrBadCode) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseCode(%q) = %v, want an error saying %q", tc.text, err, tc.want)
		}
	}
}

// TestRendezvous: the rendezvous key depends on the first half only.
func TestRendezvous(t *testing.T) {
	a := Code{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	b := a
	b[9] ^= 1
	if a.Rendezvous().ID() != b.Rendezvous().ID() {
		t.Error("the secret half changes the rendezvous")
	}
	b[0] ^= 1
	if a.Rendezvous().ID() == b.Rendezvous().ID() {
		t.Error("the rendezvous half does not change the rendezvous")
	}
}

func FuzzParseCode(f *testing.F) {
	f.Add("tml1-ybnd-rfg8-ejkm-cpqx")
	f.Add("TML1 YBND RFG8 EJKM CPQX")
	f.Add("tmr1-0000")
	f.Fuzz(func(t *testing.T, text string) {
		c, err := ParseCode(text)
		if err != nil {
			if !errors.Is(err, ErrBadCode) {
				t.Fatalf("error %v does not wrap ErrBadCode", err)
			}
			return
		}
		if back, err := ParseCode(c.String()); err != nil || back != c {
			t.Fatalf("%q: round trip %x, %v", text, back, err)
		}
	})
}
