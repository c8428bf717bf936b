package room

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

func TestCleanName(t *testing.T) {
	for in, want := range map[string]string{
		"  Ana  ":                   "Ana",
		"Ana\u202Egnp.exe":          "Anagnp.exe",
		"A\u2066n\u2069a\u200F":     "Ana",
		"Ana\x00\x07\x1b[31m":       "Ana[31m",
		"Ana \n\t  Maria":           "Ana Maria",
		"<b>Ana</b>":                "<b>Ana</b>", // markup is text: the page sets textContent
		"\xff\xfeAna":               "\uFFFDAna",
		"👩‍💻 Ana":                   "👩‍💻 Ana", // a ZWJ sequence keeps its joiner
		"\u202A\u202B\u202C\u202D ": "",
	} {
		if got := CleanName(in); got != want {
			t.Errorf("CleanName(%q) = %q, want %q", in, got, want)
		}
	}
	if _, err := checkName(strings.Repeat("é", MaxName)); !errors.Is(err, ErrBadName) {
		t.Errorf("a name of %d bytes: %v", 2*MaxName, err)
	}
	if _, err := checkName(" \u202E\x00 "); !errors.Is(err, ErrBadName) {
		t.Errorf("a name of nothing shown: %v", err)
	}
	if got := clipName(strings.Repeat("é", 10000)); len(got) > MaxName || !utf8.ValidString(got) {
		t.Errorf("clipName: %d bytes, valid %v", len(got), utf8.ValidString(got))
	}
}

func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"Ana", " A\u202Eb ", "\xff", "a\u2066\u2069b", strings.Repeat("ж", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := CleanName(s)
		if !utf8.ValidString(got) || got != strings.TrimSpace(got) || CleanName(got) != got {
			t.Fatalf("CleanName(%q) = %q: not valid, trimmed and stable", s, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || isBidiControl(r) {
				t.Fatalf("CleanName(%q) keeps %U", s, r)
			}
		}
		if c := clipName(s); len(c) > MaxName || !utf8.ValidString(c) {
			t.Fatalf("clipName(%q) = %q", s, c)
		}
	})
}

// FuzzDecodeChange: a page decoded as an edit, a delete or a name always
// names its cause, and a name always fits.
func FuzzDecodeChange(f *testing.F) {
	ana := identity.New(identity.Seed{1}).ID()
	for _, m := range []Message{
		{Head: Head{By: ana, Mid: 2}, Refs: Refs{Cause: &Ref{By: ana, Mid: 1}}, Type: TypeEdit, Data: json.RawMessage(`{"text":"y"}`), Meta: Meta{Date: MinDate, Clock: 3}},
		{Head: Head{By: ana, Mid: 3}, Refs: Refs{Cause: &Ref{By: ana, Mid: 1}}, Type: TypeDelete, Meta: Meta{Date: MinDate, Clock: 4}},
		{Head: Head{By: ana, Mid: 4}, Type: TypeName, Data: json.RawMessage(`{"name":"Ana"}`), Meta: Meta{Date: MinDate, Clock: 5}},
	} {
		b, _ := m.Encode()
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, page []byte) {
		m, err := Decode(page, ana)
		if err != nil {
			return
		}
		switch m.Type {
		case TypeEdit, TypeDelete:
			if m.Refs.Cause == nil {
				t.Fatalf("an %s without a cause accepted", m.Type)
			}
		case TypeName:
			var d struct{ Name string }
			if json.Unmarshal(m.Data, &d) != nil || len(CleanName(d.Name)) > MaxName || CleanName(d.Name) == "" {
				t.Fatalf("a bad name accepted: %s", m.Data)
			}
		}
	})
}

// nameOf is the name n shows for member id of task.
func (n *node) nameOf(task TaskID, id identity.ID) string {
	mi, _ := n.member(task, id)
	return mi.Name
}

func TestNamesTravelWithJoinAndRename(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	ctx := testCtx(t)
	if err := bob.SetName(ctx, "  Bob\u202E "); err != nil {
		t.Fatal(err)
	}
	if bob.Name() != "Bob" {
		t.Fatalf("bob's name is %q", bob.Name())
	}
	task, err := bob.CreateTask(ctx, "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := ana.SetName(ctx, "Ana"); err != nil { // before the join: the join carries it
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	eventually(t, "names learned from the task and the join", func() bool {
		return bob.nameOf(task.ID, ana.ID()) == "Ana" && ana.nameOf(task.ID, bob.ID()) == "Bob"
	}, state(task.ID, bob, ana))

	names := make(chan identity.ID, 8)
	cancel := bob.Subscribe(func(ev Event) {
		if ev.Type == EventName {
			names <- ev.Peer
		}
	})
	defer cancel()
	if err := ana.SetName(ctx, "Ana Maria"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the rename", func() bool { return bob.nameOf(task.ID, ana.ID()) == "Ana Maria" }, state(task.ID, bob, ana))
	if p := <-names; p != ana.ID() {
		t.Fatalf("name event for %s", p.Short())
	}
	// The rename is a line of the timeline, the name carried by every task.
	var said bool
	for _, m := range bob.timeline(task.ID) {
		said = said || m.Type == TypeName && m.Head.By == ana.ID() && strings.Contains(string(m.Data), "Ana Maria")
	}
	if !said {
		t.Fatal("no name message in bob's timeline")
	}
	for _, bad := range []string{"", " \x00\u2066 ", strings.Repeat("x", MaxName+1)} {
		if err := ana.SetName(ctx, bad); !errors.Is(err, ErrBadName) {
			t.Errorf("SetName(%q): %v", bad, err)
		}
	}
	// Names survive a reload, without a scan.
	bob.stop()
	bob.start()
	if got := bob.nameOf(task.ID, ana.ID()); got != "Ana Maria" || bob.Name() != "Bob" {
		t.Fatalf("after a reload: ana is %q, bob %q", got, bob.Name())
	}
}

// chat returns the message ref names in n's timeline of task, in its
// newest version.
func (n *node) chat(task TaskID, ref Ref) (Message, Version, bool) {
	for _, m := range n.timeline(task) {
		if m.Ref() == ref {
			msg, v := n.Newest(testCtx(n.t), task, m)
			return msg, v, true
		}
	}
	return Message{}, Version{}, false
}

func TestEditAndDelete(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	ctx := testCtx(t)
	task, err := bob.CreateTask(ctx, "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	eventually(t, "paired", func() bool { return bob.paired(task.ID, 1) && ana.paired(task.ID, 1) }, state(task.ID, bob, ana))
	mine := ana.send(task.ID, "helo", nil)
	theirs := bob.send(task.ID, "bob's", nil)
	gone := ana.send(task.ID, "oops", nil)
	eventually(t, "ana has bob's message", func() bool { _, _, ok := ana.chat(task.ID, theirs.Ref()); return ok })

	if _, err := ana.Edit(ctx, task.ID, mine.Ref(), "hello"); err != nil {
		t.Fatal(err)
	}
	if _, err := ana.Edit(ctx, task.ID, mine.Ref(), "hello!"); err != nil {
		t.Fatal(err)
	}
	if _, err := ana.Delete(ctx, task.ID, gone.Ref()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		what string
		err  error
		do   func() error
	}{
		{"an edit of bob's message", ErrNotYours, func() error { _, err := ana.Edit(ctx, task.ID, theirs.Ref(), "x"); return err }},
		{"a delete of bob's message", ErrNotYours, func() error { _, err := ana.Delete(ctx, task.ID, theirs.Ref()); return err }},
		{"an edit of no message", ErrNoMessage, func() error { _, err := ana.Edit(ctx, task.ID, Ref{By: ana.ID(), Mid: 999}, "x"); return err }},
		{"an edit of a deleted message", ErrDeleted, func() error { _, err := ana.Edit(ctx, task.ID, gone.Ref(), "x"); return err }},
		{"a second delete", ErrDeleted, func() error { _, err := ana.Delete(ctx, task.ID, gone.Ref()); return err }},
		{"an edit of the task message", ErrNotEditable, func() error { _, err := bob.Edit(ctx, task.ID, Ref{By: bob.ID(), Mid: 1}, "x"); return err }},
	} {
		if err := c.do(); !errors.Is(err, c.err) {
			t.Errorf("%s: %v, want %v", c.what, err, c.err)
		}
	}
	if _, err := ana.Edit(ctx, task.ID, mine.Ref(), strings.Repeat("x", MaxText+1)); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("a long edit: %v", err)
	}
	check := func(n *node) bool {
		msg, v, _ := n.chat(task.ID, mine.Ref())
		del, dv, _ := n.chat(task.ID, gone.Ref())
		return strings.Contains(string(msg.Data), `"hello!"`) && v.Edited != 0 && !v.Deleted && dv.Deleted && del.Data == nil
	}
	for _, n := range []*node{ana, bob} {
		eventually(t, n.name+" sees the edit and the delete", func() bool { return check(n) }, state(task.ID, n))
		for _, m := range n.timeline(task.ID) {
			if m.Type == TypeEdit || m.Type == TypeDelete || m.Type == TypeInvalid {
				t.Fatalf("%s's timeline shows %s", n.name, line(m))
			}
		}
	}
	bob.stop()
	bob.start()
	if !check(bob) {
		t.Fatal("the edit and the delete are lost on a reload")
	}
}

func TestHostileEditsRefused(t *testing.T) {
	url := startRelay(t)
	bob, mal := newNode(t, url, "bob", 2), newNode(t, url, "mallory", 6)
	ctx := testCtx(t)
	task, err := bob.CreateTask(ctx, "T", nil)
	if err != nil {
		t.Fatal(err)
	}
	mal.join(bob, task.ID)
	eventually(t, "paired", func() bool { return bob.paired(task.ID, 1) && mal.paired(task.ID, 1) }, state(task.ID, bob, mal))
	theirs := bob.send(task.ID, "bob's own words", nil)
	own := mal.send(task.ID, "mine", nil)
	if _, err := mal.Delete(ctx, task.ID, own.Ref()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "mallory has bob's message", func() bool { _, _, ok := mal.chat(task.ID, theirs.Ref()); return ok })
	tk := mal.task(task.ID)
	clock := func() uint64 { mal.mu.Lock(); defer mal.mu.Unlock(); return tk.clock + 1 }
	forge := func(typ string, cause *Ref, data string) {
		mal.rawWrite(task.ID, mal.forged(Message{Type: typ, Refs: Refs{Cause: cause}, Data: json.RawMessage(data), Meta: Meta{Date: MinDate, Clock: clock()}}))
	}
	forge(TypeEdit, &Ref{By: bob.ID(), Mid: theirs.Head.Mid}, `{"text":"mallory's words"}`) // someone else's
	forge(TypeDelete, &Ref{By: bob.ID(), Mid: theirs.Head.Mid}, `{}`)                       // someone else's
	forge(TypeEdit, &Ref{By: mal.ID(), Mid: 999}, `{"text":"x"}`)                           // missing
	forge(TypeEdit, &Ref{By: mal.ID(), Mid: own.Head.Mid}, `{"text":"back"}`)               // deleted
	forge(TypeEdit, nil, `{"text":"x"}`)                                                    // no cause
	forge(TypeName, nil, fmt.Sprintf(`{"name":%q}`, strings.Repeat("m", 500)))              // too long
	want := []string{"only its author", "only its author", "no such message", "was deleted", "names no message", "bad name"}
	eventually(t, "bob refuses each with its reason", func() bool {
		var reasons []string
		for _, m := range bob.timeline(task.ID) {
			if m.Type == TypeInvalid && m.Head.By == mal.ID() {
				reasons = append(reasons, m.Reason)
			}
		}
		if len(reasons) != len(want) {
			return false
		}
		for i, r := range reasons {
			if !strings.Contains(r, want[i]) {
				t.Fatalf("refusal %d: %q, want %q", i, r, want[i])
			}
		}
		return true
	}, state(task.ID, bob))
	msg, v, _ := bob.chat(task.ID, theirs.Ref())
	if !strings.Contains(string(msg.Data), "bob's own words") || v != (Version{}) {
		t.Fatalf("bob's message became %s %+v", msg.Data, v)
	}
	if _, v, _ := bob.chat(task.ID, own.Ref()); !v.Deleted {
		t.Fatal("mallory's delete of its own message was not taken")
	}
	if got := bob.nameOf(task.ID, mal.ID()); got != "" {
		t.Fatalf("a refused name was taken: %q", got)
	}
}
