package app

import (
	"context"
	"encoding/json"
	"testing"
	"time"
)

// FuzzDo feeds arbitrary methods and arguments to Do: errors, never a
// panic, and the App still answers.
func FuzzDo(f *testing.F) {
	for _, s := range [][2]string{
		{"createTask", `[{"title":"plan"}]`},
		{"createTask", `[{"title":"sub","parent":"a6iqxmqirzaucofg5c5yppiy3r"}]`},
		{"send", `["a6iqxmqirzaucofg5c5yppiy3r","hi",{"replyTo":{"id":"k7aiywuqwojhgs3frnxuw83kjxwyat9i3fcn5qbpetgqzyq5q5ao/6"}}]`},
		{"sendMany", `["a6iqxmqirzaucofg5c5yppiy3r",["a","b"]]`},
		{"invite", `["a6iqxmqirzaucofg5c5yppiy3r",{"expires":"2030-01-01T00:00:00.000Z"}]`},
		{"invite", `["a6iqxmqirzaucofg5c5yppiy3r",{"expires":1893456000000}]`},
		{"join", `["tm1.xyz",{"timeout":10}]`},
		{"timeline", `["a6iqxmqirzaucofg5c5yppiy3r",{"limit":5,"before":"0.0.0"}]`},
		{"tasks", `[]`},
		{"members", `["a6iqxmqirzaucofg5c5yppiy3r"]`},
		{"read", `["a6iqxmqirzaucofg5c5yppiy3r", "orhzqdiexwmi6iidktucgud63ufa5nwtsuzdxe176a8izd6jsqky/3"]`},
		{"export", `[{"passphrase":""}]`},
		{"import", `["{\"format\":\"taskmessenger-export\",\"version\":1}",{"passphrase":"x"}]`},
		{"rename", `["a6iqxmqirzaucofg5c5yppiy3r","x"]`},
		{"revokeInvite", `["x"]`},
		{"recoveryCode", `[]`},
		{"recover", `["tmr1-yyyy"]`},
		{"restoreStatus", `[]`},
		{"mirrors", `[]`},
		{"finishRestore", `[]`},
		{"linkDevice", `[{"label":"phone"}]`},
		{"link", `["tml1-ybnd-rfg8-ejkm-cpqx",{"label":"x","timeout":10}]`},
		{"devices", `[]`},
		{"revokeDevice", `["k7aiywuqwojhgs3frnxuw83kjxwyat9i3fcn5qbpetgqzyq5q5ao"]`},
		{"person", `[]`},
		{"nope", `[`},
	} {
		f.Add(s[0], []byte(s[1]))
	}
	a := startApp(f, "fuzz", deadRelay(f))
	var task struct{ ID string }
	if err := json.Unmarshal(do(f, a.App, "createTask", `[{"title":"plan"}]`), &task); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, method string, args []byte) {
		if method == "reset" {
			return // closes the App
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second) // a join waits for its host
		defer cancel()
		out, err := a.Do(ctx, method, args)
		if err == nil && out != nil && !json.Valid(out) {
			t.Fatalf("%s(%q) → invalid JSON %q", method, args, out)
		}
		if _, err := a.Tasks(); err != nil {
			t.Fatalf("after %s(%q): %v", method, args, err)
		}
	})
}
