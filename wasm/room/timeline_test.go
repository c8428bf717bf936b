package room

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

var ctx = context.Background()

// memSource is a Source in memory.
type memSource []Message

func (s memSource) Len(context.Context) (int, error) { return len(s), nil }
func (s memSource) Get(_ context.Context, i int) (Message, error) {
	return s[i], nil
}

// simulate has authors write n messages in all, each seeing the others'
// messages with some lag, keeping Lamport clocks; some are replies.
func simulate(seed uint64, authors []identity.ID, n int) ([]memSource, []Message) {
	r := rand.New(rand.NewPCG(seed, 1))
	srcs := make([]memSource, len(authors))
	seen := make([]uint64, len(authors)) // highest clock each author has seen
	var all []Message
	for range n {
		a := r.IntN(len(authors))
		// Catch up on a random part of what was written.
		if len(all) > 0 && r.IntN(2) == 0 {
			m := all[r.IntN(len(all))]
			seen[a] = max(seen[a], m.Meta.Clock)
		}
		seen[a]++
		m := Message{Head: Head{By: authors[a], Mid: uint64(len(srcs[a]))}, Type: TypeChat, Meta: Meta{Clock: seen[a]}}
		if len(all) > 0 && r.IntN(4) == 0 {
			cause := all[r.IntN(len(all))]
			if cause.Meta.Clock < m.Meta.Clock {
				m.Refs.Cause = &Ref{By: cause.Head.By, Mid: cause.Head.Mid}
			}
		}
		srcs[a] = append(srcs[a], m)
		all = append(all, m)
	}
	slices.SortFunc(all, func(x, y Message) int { return x.Key().Compare(y.Key()) })
	return srcs, all
}

func asSources(ms []memSource) []Source {
	out := make([]Source, len(ms))
	for i := range ms {
		out[i] = ms[i]
	}
	return out
}

func keys(ms []Message) []Key {
	out := make([]Key, len(ms))
	for i := range ms {
		out[i] = ms[i].Key()
	}
	return out
}

func TestTimelineOrderAndPaging(t *testing.T) {
	authors := []identity.ID{identity.New(identity.Seed{1}).ID(), identity.New(identity.Seed{2}).ID(), identity.New(identity.Seed{3}).ID()}
	for seed := range uint64(20) {
		srcs, want := simulate(seed, authors, 300)
		got, err := Page(ctx, asSources(srcs), nil, 1000)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keys(got), keys(want)) {
			t.Fatalf("seed %d: the merged timeline is not sorted by key", seed)
		}
		// The same on every member: the order of sources does not matter.
		rev := slices.Clone(srcs)
		slices.Reverse(rev)
		again, _ := Page(ctx, asSources(rev), nil, 1000)
		if !slices.Equal(keys(again), keys(got)) {
			t.Fatalf("seed %d: another order of sources gives another timeline", seed)
		}
		// Causal: a reply after its cause.
		at := map[Ref]int{}
		for i, m := range got {
			at[Ref{m.Head.By, m.Head.Mid}] = i
		}
		for i, m := range got {
			if c := m.Refs.Cause; c != nil && at[*c] >= i {
				t.Fatalf("seed %d: reply at %d before its cause at %d", seed, i, at[*c])
			}
		}
		// Paging back from the newest, 7 at a time, gives the same.
		var paged []Message
		var before *Key
		for {
			p, err := Page(ctx, asSources(srcs), before, 7)
			if err != nil {
				t.Fatal(err)
			}
			if len(p) == 0 {
				break
			}
			paged = append(slices.Clone(p), paged...)
			k := p[0].Key()
			before = &k
		}
		if !slices.Equal(keys(paged), keys(want)) {
			t.Fatalf("seed %d: paging gives %d messages, want %d in order", seed, len(paged), len(want))
		}
	}
}

// barrierSource is a source whose reads wait until every source of the
// test began one: read one after the other, they would wait forever.
type barrierSource struct {
	memSource
	arrived *sync.WaitGroup
	all     <-chan struct{} // closed once every source's read arrived
}

func (s barrierSource) GetRange(ctx context.Context, start, end int) ([]Message, error) {
	s.arrived.Done()
	select {
	case <-s.all:
	case <-ctx.Done():
		return nil, fmt.Errorf("a source's read waited for the others': %w", ctx.Err())
	}
	return s.memSource[start:end], nil
}

// TestPageReadsSourcesTogether: a page's sources find their place and read
// their first messages side by side (a page of a task of ten people waits
// on one round trip to the store, not ten), and the page is the same.
func TestPageReadsSourcesTogether(t *testing.T) {
	authors := []identity.ID{identity.New(identity.Seed{1}).ID(), identity.New(identity.Seed{2}).ID(), identity.New(identity.Seed{3}).ID()}
	srcs, want := simulate(7, authors, 300)
	var arrived sync.WaitGroup
	arrived.Add(len(srcs))
	all := make(chan struct{})
	go func() { arrived.Wait(); close(all) }()
	sources := make([]Source, len(srcs))
	for i, s := range srcs {
		sources[i] = barrierSource{s, &arrived, all}
	}
	c, cancel := context.WithTimeout(testCtx(t), 10*time.Second)
	defer cancel()
	got, err := Page(c, sources, nil, len(want))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys(got), keys(want)) {
		t.Fatalf("the page read side by side: %d messages, not the merged timeline", len(got))
	}
}

// rangeCounter is a source that counts its range reads.
type rangeCounter struct {
	memSource
	reads *int
}

func (s rangeCounter) GetRange(_ context.Context, start, end int) ([]Message, error) {
	*s.reads++
	return s.memSource[start:end], nil
}

// TestPageReadsOnce: a page of one source's messages is one read of it
// (none past the page once it is full), going back as well.
func TestPageReadsOnce(t *testing.T) {
	srcs, want := simulate(3, []identity.ID{identity.New(identity.Seed{1}).ID()}, 200)
	reads := 0
	src := []Source{rangeCounter{srcs[0], &reads}}
	var before *Key
	for page := 0; page < 4; page++ {
		reads = 0
		got, err := Page(ctx, src, before, 50)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(keys(got), keys(want[150-50*page:200-50*page])) {
			t.Fatalf("page %d: not the messages before the one after", page)
		}
		if reads != 1 {
			t.Fatalf("page %d of 50 messages: %d reads of its source, want 1", page, reads)
		}
		k := got[0].Key()
		before = &k
	}
}

// TestTimelineSkipsReceipts: receipt pages are not timeline messages: a
// page holds limit others, and paging back gives every other one once.
func TestTimelineSkipsReceipts(t *testing.T) {
	authors := []identity.ID{identity.New(identity.Seed{1}).ID(), identity.New(identity.Seed{2}).ID()}
	srcs, all := simulate(7, authors, 200)
	for i := range srcs {
		for j := range srcs[i] {
			if (j+i)%3 == 0 {
				srcs[i][j].Type = TypeReceipt
			}
		}
	}
	want := slices.DeleteFunc(all, func(m Message) bool { // simulate's mid: the index in its author's source
		return srcs[slices.Index(authors, m.Head.By)][m.Head.Mid].Type == TypeReceipt
	})
	var paged []Message
	var before *Key
	for {
		p, err := Page(ctx, asSources(srcs), before, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 {
			break
		}
		if len(p) < 7 && len(paged)+len(p) != len(want) {
			t.Fatalf("a page of %d messages before the start", len(p))
		}
		for _, m := range p {
			if m.Type == TypeReceipt {
				t.Fatalf("the timeline shows a receipt page: %+v", m.Key())
			}
		}
		paged = append(slices.Clone(p), paged...)
		k := p[0].Key()
		before = &k
	}
	if !slices.Equal(keys(paged), keys(want)) {
		t.Fatalf("paging gives %d messages, want %d in order", len(paged), len(want))
	}
}

func TestBookSourceKeepsInvalidPages(t *testing.T) {
	db, err := journal.Open(ctx, store.NewMemory(), identity.Seed{1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	book, _ := db.Author(ctx, "room", nil)
	me := db.ID()
	write := func(m Message) {
		b, err := m.Encode()
		if err != nil {
			t.Fatal(err)
		}
		book.Append(ctx, b)
	}
	write(Message{Head: Head{By: me, Mid: 1}, Type: TypeChat, Data: json.RawMessage(`{"text":"hi"}`), Meta: Meta{Date: MinDate, Clock: 1}})
	book.Append(ctx, []byte("not json"))
	write(Message{Head: Head{By: me, Mid: 3}, Type: "poll", Data: json.RawMessage(`{"q":"?"}`), Meta: Meta{Date: MinDate, Clock: 3}})
	got, err := Page(ctx, []Source{BookSource{Book: book, Author: me}}, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	types := fmt.Sprint(got[0].Type, got[1].Type, got[2].Type)
	if len(got) != 3 || types != "chatinvalidpoll" || string(got[1].Raw) != "not json" || got[1].Reason == "" || got[1].Head.Mid != 2 {
		t.Fatalf("timeline %v (%d messages) %+v", types, len(got), got)
	}
}

// TestDecodeValidates: a page the page could not render (a date out of
// range, an id that is not a string, an unbounded text, a bad cause, a
// clock at or past the wrap) is TypeInvalid with a reason, and the pages
// around it are still shown.
func TestDecodeValidates(t *testing.T) {
	db, err := journal.Open(ctx, store.NewMemory(), identity.Seed{1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	book, _ := db.Author(ctx, "room", nil)
	me := db.ID()
	page := func(mid int, typ, data, meta, refs string) []byte {
		return fmt.Appendf(nil, `{"head":[%q,"",%d],"refs":{%s},"type":%q,"data":%s,"meta":%s}`, me, mid, refs, typ, data, meta)
	}
	ok := `{"date":1700000000000,"clock":%d}`
	bad := map[string][]byte{
		"date far future":     page(0, "chat", `{"text":"x"}`, `{"date":8640000000000001,"clock":%d}`, ""),
		"date negative":       page(0, "chat", `{"text":"x"}`, `{"date":-1,"clock":%d}`, ""),
		"date a string":       page(0, "chat", `{"text":"x"}`, `{"date":"soon","clock":%d}`, ""),
		"member id a number":  page(0, "member", `{"id":42}`, ok, ""),
		"member id an object": page(0, "member", `{"id":{"toString":1}}`, ok, ""),
		"text a number":       page(0, "chat", `{"text":7}`, ok, ""),
		"text too long":       page(0, "chat", fmt.Sprintf(`{"text":%q}`, strings.Repeat("x", MaxText+1)), ok, ""),
		"data an array":       page(0, "poll", `[1,2]`, ok, ""),
		"cause by a number":   page(0, "chat", `{"text":"x"}`, ok, `"cause":[1,2]`),
		"cause mid 0":         page(0, "chat", `{"text":"x"}`, ok, fmt.Sprintf(`"cause":[%q,0]`, me)),
		"subtask id bad":      page(0, "subtask", `{"id":"nope","title":"t"}`, ok, ""),
		"type invalid":        page(0, "invalid", `{}`, ok, ""),
		"reason set":          []byte(strings.Replace(string(page(0, "chat", `{"text":"x"}`, ok, "")), `"type"`, `"reason":"x","type"`, 1)),
		"clock max":           page(0, "chat", `{"text":"x"}`, `{"date":1700000000000,"clock":18446744073709551615}`, ""),
		"clock 2^53":          page(0, "chat", `{"text":"x"}`, `{"date":1700000000000,"clock":9007199254740992}`, ""),
		"clock 0":             page(0, "chat", `{"text":"x"}`, `{"date":1700000000000,"clock":0}`, ""),
	}
	names := slices.Sorted(maps.Keys(bad))
	clock := 0
	var pages [][]byte
	for i, name := range names {
		clock++
		good := page(len(pages)+1, "chat", fmt.Sprintf(`{"text":"before %d"}`, i), fmt.Sprintf(ok, clock), "")
		pages = append(pages, good)
		clock++
		b := bytes.Replace(bad[name], []byte(`",0]`), fmt.Appendf(nil, `",%d]`, len(pages)+1), 1)
		b = bytes.Replace(b, []byte("%d"), fmt.Append(nil, clock), 1)
		pages = append(pages, b)
	}
	if _, err := book.Append(ctx, pages...); err != nil {
		t.Fatal(err)
	}
	got, err := Page(ctx, []Source{BookSource{Book: book, Author: me}}, nil, 100)
	if err != nil || len(got) != len(pages) {
		t.Fatalf("%d messages, %v", len(got), err)
	}
	for i, name := range names {
		if g := got[2*i]; g.Type != TypeChat {
			t.Errorf("the message before %q: %s %s", name, g.Type, g.Reason)
		}
		if g := got[2*i+1]; g.Type != TypeInvalid || g.Reason == "" || g.Head.Mid != uint64(2*i+2) {
			t.Errorf("%s: shown as %s (%s), mid %d", name, g.Type, string(g.Data), g.Head.Mid)
		}
	}
	// A page whose mid is not its index is invalid too.
	wrong := page(9, "chat", `{"text":"x"}`, fmt.Sprintf(ok, 1), "")
	if m, _ := decodeAt(wrong, me, 3); m.Type != TypeInvalid {
		t.Error("a page claiming another mid was taken")
	}
}

func TestMessageJSON(t *testing.T) {
	ana, bob := identity.New(identity.Seed{1}).ID(), identity.New(identity.Seed{2}).ID()
	m := Message{Head: Head{By: ana, To: bob, Mid: 7}, Refs: Refs{Cause: &Ref{By: bob, Mid: 3}}, Type: TypeChat,
		Data: json.RawMessage(`{"text":"re: hi"}`), Meta: Meta{Date: 1700000000000, Clock: 12}}
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"head":["%s","%s",7],"refs":{"cause":["%s",3]},"type":"chat","data":{"text":"re: hi"},"meta":{"date":1700000000000,"clock":12}}`, ana, bob, bob)
	if string(b) != want {
		t.Fatalf("encoding\n%s\nwant\n%s", b, want)
	}
	back, err := Decode(b, ana)
	if err != nil || back.Key() != m.Key() || back.Refs.Cause.Mid != 3 {
		t.Fatalf("decode: %+v, %v", back, err)
	}
	if bad, err := Decode(b, bob); err == nil || bad.Type != TypeInvalid {
		t.Fatal("a message claiming another author was taken as is")
	}
}

func FuzzDecodeMessage(f *testing.F) {
	ana := identity.New(identity.Seed{1}).ID()
	m := Message{Head: Head{By: ana, Mid: 1}, Type: TypeChat, Data: json.RawMessage(`{"text":"x"}`), Meta: Meta{Date: MinDate, Clock: 2}}
	b, _ := m.Encode()
	f.Add(b)
	m = Message{Head: Head{By: ana, Mid: 2}, Refs: Refs{Cause: &Ref{By: ana, Mid: 1}}, Type: TypeMember, Data: fmt.Appendf(nil, `{"id":%q,"via":%q,"invite":"0a1b2c3d"}`, ana, ana), Meta: Meta{Date: MaxDate, Clock: MaxClock}}
	b, _ = m.Encode()
	f.Add(b)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"head":[1,2,3]}`))
	f.Fuzz(func(t *testing.T, page []byte) {
		m, err := Decode(page, ana)
		if err != nil {
			if m.Type != TypeInvalid || string(m.Raw) != string(page) {
				t.Fatal("a page that is not a message was not kept as invalid")
			}
			return
		}
		if m.Head.By != ana || m.Type == "" || m.Type == TypeInvalid || m.Meta.Date < MinDate || m.Meta.Date > MaxDate ||
			m.Meta.Clock < 1 || m.Meta.Clock > MaxClock || m.Reason != "" {
			t.Fatalf("accepted %+v", m)
		}
		if checkData(m.Type, m.Data) != nil {
			t.Fatalf("accepted data %s", m.Data)
		}
		if _, err := m.Encode(); err != nil && len(page) <= MaxMessage {
			t.Fatalf("an accepted message does not encode: %v", err)
		}
		checkAsMarshal(t, &m)
	})
}

// marshalled is a Message as encoding/json writes it by reflection, with
// Head and Ref as they were written before they were written by hand.
type marshalled struct {
	Head   []any           `json:"head"`
	Refs   map[string]any  `json:"refs"`
	Type   string          `json:"type"`
	Data   json.RawMessage `json:"data,omitempty"`
	Meta   Meta            `json:"meta"`
	Reason string          `json:"reason,omitempty"`
}

// checkAsMarshal checks m.AppendJSON writes what json.Marshal wrote.
func checkAsMarshal(t *testing.T, m *Message) {
	t.Helper()
	to := ""
	if !m.Head.To.IsZero() {
		to = m.Head.To.String()
	}
	r := marshalled{Head: []any{m.Head.By.String(), to, m.Head.Mid}, Refs: map[string]any{}, Type: m.Type, Data: m.Data, Meta: m.Meta, Reason: m.Reason}
	if c := m.Refs.Cause; c != nil {
		r.Refs["cause"] = []any{c.By.String(), c.Mid}
	}
	want, werr := json.Marshal(r)
	got, gerr := m.AppendJSON([]byte("x"))
	if (werr != nil) != (gerr != nil) || werr == nil && string(got) != "x"+string(want) {
		t.Fatalf("AppendJSON(%+v) = %s, %v; json.Marshal: %s, %v", m, got, gerr, want, werr)
	}
	if werr == nil {
		if via, err := json.Marshal(m); err != nil || string(via) != string(want) {
			t.Fatalf("json.Marshal(m) = %s, %v; want %s", via, err, want)
		}
	}
}

func TestAppendJSONAsMarshal(t *testing.T) {
	ana := identity.New(identity.Seed{1}).ID()
	bob := identity.New(identity.Seed{2}).ID()
	r := rand.New(rand.NewPCG(3, 4))
	texts := []string{"", "hi", "<b>&</b>", "line\nbreak \u2028", "日本語 🙂", `\"quoted\"`}
	for i := range 2000 {
		m := Message{Head: Head{By: ana, Mid: r.Uint64()}, Type: []string{TypeChat, TypeMember, "x<y", "", "t\u0001"}[i%5],
			Meta: Meta{Date: r.Int64() - r.Int64(), Clock: r.Uint64()}}
		if i%3 == 0 {
			m.Head.To = bob
		}
		if i%4 == 0 {
			m.Refs.Cause = &Ref{By: bob, Mid: r.Uint64N(100)}
		}
		switch i % 6 {
		case 0:
		case 1:
			m.Data = json.RawMessage(`{"text":` + strconv.Quote(texts[r.IntN(len(texts))]) + `}`)
		case 2:
			m.Data = json.RawMessage(" { \"text\" : \"a <b> \u2029\" , \"n\": [1, 2] } ")
		case 3:
			m.Data = json.RawMessage(`{"text":`) // not JSON
		case 4:
			m.Data = json.RawMessage("\"\u2028 & \u00e9\"")
		case 5:
			m.Reason = "bad <page> \xff"
		}
		checkAsMarshal(t, &m)
	}
}

func TestKeyText(t *testing.T) {
	a := identity.New(identity.Seed{1}).ID()
	b := identity.New(identity.Seed{2}).ID()
	keys := []Key{{1, a, 9}, {1, b, 1}, {2, a, 1}, {10, b, 3}, {10, b, 12}, {100, a, 1}}
	slices.SortFunc(keys, Key.Compare)
	for i, k := range keys {
		got, err := ParseKey(k.String())
		if err != nil || got != k {
			t.Fatalf("ParseKey(%s) = %v, %v", k, got, err)
		}
		if i > 0 && keys[i-1].String() >= k.String() {
			t.Fatalf("key text out of order: %s ≥ %s", keys[i-1], k)
		}
	}
	for _, bad := range []string{"", "1.2", "x.00.1", "1." + a.String() + ".1"} {
		if _, err := ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	// The text written by hand is fmt's, as earlier versions wrote it (a
	// page's UI state and the page keep keys and ids).
	for _, k := range append(keys, Key{0, a, 0}, Key{math.MaxUint64, b, math.MaxUint64}, Key{12345678901234567890, a, 1<<63 + 5}) {
		if want := fmt.Sprintf("%020d.%x.%020d", k.Clock, k.By[:], k.Mid); k.String() != want {
			t.Errorf("Key.String() = %s, want %s", k, want)
		}
		r := Ref{By: k.By, Mid: k.Mid}
		if want := fmt.Sprintf("%s/%d", r.By, r.Mid); r.String() != want {
			t.Errorf("Ref.String() = %s, want %s", r, want)
		}
	}
	r := Ref{By: a, Mid: 7}
	if got, err := ParseRef(r.String()); err != nil || got != r {
		t.Fatalf("ParseRef(%s) = %v, %v", r, got, err)
	}
	if _, err := ParseRef("nope/1"); err == nil {
		t.Error("ParseRef accepted a bad id")
	}
}
