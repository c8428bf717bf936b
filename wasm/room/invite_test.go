package room

import (
	"errors"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

func TestInviteRoundTrip(t *testing.T) {
	task, _ := NewTaskID()
	inv, err := NewInvite(identity.New(identity.Seed{1}).ID(), task)
	if err != nil || inv.Secret == ([InviteSecretSize]byte{}) {
		t.Fatalf("NewInvite: %+v, %v", inv, err)
	}
	code := inv.Code()
	if len(code) != inviteTextSize || !strings.HasPrefix(code, InvitePrefix) {
		t.Fatalf("code %q", code)
	}
	for _, pasted := range []string{code, "  " + code + "\n", strings.ToUpper(code)} {
		got, err := ParseInvite(pasted)
		if err != nil || got != inv {
			t.Fatalf("ParseInvite(%q) = %v, %v", pasted, got, err)
		}
	}
	id, err := ParseTaskID(task.String())
	if err != nil || id != task {
		t.Fatalf("task id round trip: %v", err)
	}
}

func TestInviteErrors(t *testing.T) {
	task, _ := NewTaskID()
	code := Invite{Host: identity.New(identity.Seed{1}).ID(), Task: task}.Code()
	swap := []byte(code)
	i := len(InvitePrefix) + 10
	if swap[i] == 'y' {
		swap[i] = 'b'
	} else {
		swap[i] = 'y'
	}
	var weak identity.ID
	weak[0] = 1
	cases := map[string]string{
		"":                               "empty",
		"hello":                          "not a task-messenger invite",
		code[:len(code)-5]:               "too short",
		code + "yy":                      "too long",
		string(swap):                     "checksum",
		code[:10] + "0" + code[11:]:      "mistyped",
		Invite{Host: weak}.Code():        "host",
		"tm3" + code[len(InvitePrefix):]: "not a task-messenger invite",
		// A version 1 code (no secret): a clear error, not "too short".
		"tm1" + zbase32.EncodeToString(make([]byte, 52)): "older version",
	}
	for in, want := range cases {
		_, err := ParseInvite(in)
		if !errors.Is(err, ErrBadInvite) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseInvite(%q) = %v, want ErrBadInvite saying %q", in, err, want)
		}
	}
}

func FuzzParseInvite(f *testing.F) {
	task, _ := NewTaskID()
	inv, _ := NewInvite(identity.New(identity.Seed{1}).ID(), task)
	f.Add(inv.Code())
	f.Add("tm1")
	f.Add("tm2")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		inv, err := ParseInvite(s)
		if err != nil {
			return
		}
		if again, err := ParseInvite(inv.Code()); err != nil || again != inv {
			t.Fatalf("accepted %q but its code does not round-trip", s)
		}
	})
}
