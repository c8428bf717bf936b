package devtools_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/task-messenger/task-messenger/devtools"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/report"
)

// rawPeer is a scripted reporter that writes frames itself.
type rawPeer struct {
	t  testing.TB
	ws *websocket.Conn
}

// dialRaw connects and reads the challenge; if key is set, it answers
// with a hello signed for this server and reads the welcome.
func dialRaw(t testing.TB, e *env, key *identity.Key, alias string) *rawPeer {
	t.Helper()
	p, nonce := dialChallenge(t, e)
	if key != nil {
		p.send(report.TypeHello, signedHello(key, alias, nonce, e.host()))
		if f := p.read(); f.Type != report.TypeWelcome {
			t.Fatalf("got %s, want welcome", f.Type)
		}
	}
	return p
}

// dialChallenge connects and reads the server's challenge.
func dialChallenge(t testing.TB, e *env) (*rawPeer, []byte) {
	t.Helper()
	ws, _, err := websocket.Dial(ctx, e.WS, nil)
	if err != nil {
		t.Fatal(err)
	}
	ws.SetReadLimit(report.MaxResultSize + 1024)
	t.Cleanup(func() { ws.CloseNow() })
	p := &rawPeer{t: t, ws: ws}
	f := p.read()
	ch, ok := f.Body.(*report.Challenge)
	if !ok {
		t.Fatalf("got %s, want challenge", f.Type)
	}
	return p, ch.Nonce
}

// signedHello is key's hello for the challenge nonce of host.
func signedHello(key *identity.Key, alias string, nonce []byte, host string) *report.Hello {
	return &report.Hello{ID: key.ID(), Alias: alias, Sig: key.Sign(report.HelloMessage(nonce, host))}
}

func (p *rawPeer) send(typ report.Type, body any) {
	p.t.Helper()
	b, err := report.Encode(&report.Frame{Type: typ, At: 1, Body: body})
	if err != nil {
		p.t.Fatal(err)
	}
	p.sendRaw(websocket.MessageText, b)
}

func (p *rawPeer) sendRaw(typ websocket.MessageType, b []byte) {
	p.t.Helper()
	if err := p.ws.Write(ctx, typ, b); err != nil {
		p.t.Fatal(err)
	}
}

func (p *rawPeer) read() *report.Frame {
	p.t.Helper()
	_, b, err := p.ws.Read(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	f, err := report.Decode(b)
	if err != nil {
		p.t.Fatal(err)
	}
	return f
}

// closed waits for the server to close the connection and returns the
// status and reason.
func (p *rawPeer) closed() (websocket.StatusCode, string) {
	p.t.Helper()
	for {
		_, _, err := p.ws.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			p.t.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce.Code, ce.Reason
	}
}

// authorFrame is the book frame an author's reporter sends for pages
// [start, end) of b against its head.
func authorFrame(t testing.TB, b *journal.Book, start, end uint64) *report.Book {
	t.Helper()
	h := b.Head()
	head, _ := journal.Marshal(h)
	pages, err := b.GetRange(ctx, start, end)
	if err != nil {
		t.Fatal(err)
	}
	proof, err := b.RangeProof(ctx, start, end, h.Length)
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := journal.Marshal(proof)
	return &report.Book{Key: b.Key(), Event: "append", Writable: true, Head: head, Start: start, Pages: pages, Proof: pb}
}

// TestTamperedPage: a page changed after its author proved it is
// reported invalid, with the book, the copy and the page saying so.
func TestTamperedPage(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db := openDB(t, 1)
	b, _ := db.Author(ctx, "notes", nil)
	b.Append(ctx, []byte("one"), []byte("two"), []byte("three"))
	p := dialRaw(t, e, db.Identity(), "mallory")
	p.send(report.TypeBook, authorFrame(t, b, 0, 1))
	waitFor(t, "genesis verified", e.bookIs(t, b.Key(), 4, devtools.StatusVerified))

	f := authorFrame(t, b, 1, 4)
	f.Pages[1] = []byte("TWO")
	p.send(report.TypeBook, f)
	waitFor(t, "book invalid", func() bool {
		d := e.book(t, b.Key())
		return d != nil && d.Status == devtools.StatusInvalid
	})
	d := e.book(t, b.Key())
	if len(d.Problems) != 1 || !strings.Contains(d.Problems[0].Error, "bad proof") || d.Problems[0].Peer != db.ID() {
		t.Fatalf("problems: %+v", d.Problems)
	}
	if len(d.Copies) != 1 || d.Copies[0].Status != devtools.StatusInvalid || d.Copies[0].Problem == "" {
		t.Fatalf("copies: %+v", d.Copies)
	}
	var pages struct{ Pages []devtools.PageView }
	e.get(t, "/api/books/"+b.Key().String()+"/pages", &pages)
	if len(pages.Pages) != 4 || pages.Pages[2].Status != devtools.StatusInvalid || pages.Pages[0].Status != devtools.StatusVerified {
		t.Fatalf("pages: %+v", pages.Pages)
	}
	// The server still works: the connection stayed up.
	p.send(report.TypeError, &report.Error{Text: "still here"})
	waitFor(t, "the error on the timeline", func() bool {
		var tl struct{ Events []*devtools.Event }
		e.get(t, "/api/timeline?peer="+db.ID().String(), &tl)
		return len(tl.Events) > 0 && tl.Events[len(tl.Events)-1].Text == "still here"
	})
}

// TestBadSignature: a head whose signature fails is reported invalid.
func TestBadSignature(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db := openDB(t, 1)
	b, _ := db.Author(ctx, "notes", nil)
	p := dialRaw(t, e, db.Identity(), "")
	h := b.Head()
	h.Sig = append([]byte(nil), h.Sig...)
	h.Sig[0] ^= 1
	f := authorFrame(t, b, 0, 1)
	f.Head, _ = journal.Marshal(h)
	p.send(report.TypeBook, f)
	waitFor(t, "book invalid", func() bool {
		d := e.book(t, b.Key())
		return d != nil && d.Status == devtools.StatusInvalid && len(d.Problems) == 1 && strings.Contains(d.Problems[0].Error, "bad signature")
	})
}

// TestForkedHead: the author signs two histories of one book (two stores,
// one seed); the server keeps the journal's fork evidence.
func TestForkedHead(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db1, db2 := openDB(t, 1), openDB(t, 1)
	b1, _ := db1.Author(ctx, "notes", nil)
	b2, _ := db2.Author(ctx, "notes", nil)
	b1.Append(ctx, []byte("a"), []byte("b"))
	b2.Append(ctx, []byte("x"), []byte("y"), []byte("z"), []byte("w"))
	r1 := startReporter(t, e, db1, "ana", nil)
	waitFor(t, "first history verified", e.bookIs(t, b1.Key(), 3, devtools.StatusVerified))
	r1.stop()
	startReporter(t, e, db2, "ana", nil)
	waitFor(t, "book forked", func() bool {
		d := e.book(t, b1.Key())
		return d != nil && d.Status == devtools.StatusForked
	})
	d := e.book(t, b1.Key())
	if d.Fork == nil || !d.Fork.Evidence || d.Fork.Old.Length != 3 || d.Fork.New.Length != 5 {
		t.Fatalf("fork: %+v", d.Fork)
	}
	if d.Length != 3 {
		t.Fatalf("verified length %d, want the first history's 3", d.Length)
	}
}

// TestForkSameLength: a replica holding another head of the same length
// as the author's is a fork too.
func TestForkSameLength(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	db1, db2, bob := openDB(t, 1), openDB(t, 1), openDB(t, 2)
	b1, _ := db1.Author(ctx, "notes", nil)
	b2, _ := db2.Author(ctx, "notes", nil)
	b1.Append(ctx, []byte("a"))
	b2.Append(ctx, []byte("b"))
	startReporter(t, e, db1, "ana", nil)
	waitFor(t, "book verified", e.bookIs(t, b1.Key(), 2, devtools.StatusVerified))
	// Bob reports a replica whose head is b2's.
	p := dialRaw(t, e, bob.Identity(), "bob")
	head, _ := journal.Marshal(b2.Head())
	p.send(report.TypeBook, &report.Book{Key: b2.Key(), Event: "head", Head: head})
	waitFor(t, "book forked", func() bool {
		d := e.book(t, b1.Key())
		return d != nil && d.Status == devtools.StatusForked && d.Fork.Evidence
	})
}

// TestReplicaPagesChecked: a replica's pages (which come without proofs)
// are checked against the author's verified tree, before or after the
// author reports them.
func TestReplicaPagesChecked(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	ana, bob := openDB(t, 1), openDB(t, 2)
	b, _ := ana.Author(ctx, "notes", nil)
	b.Append(ctx, []byte("a"), []byte("b"), []byte("c"))
	head, _ := journal.Marshal(b.Head())
	pages, _ := b.GetRange(ctx, 0, 4)

	// Bob reports first: nothing to check against but the genesis.
	pb := dialRaw(t, e, bob.Identity(), "bob")
	pb.send(report.TypeBook, &report.Book{Key: b.Key(), Event: "put", Head: head, Start: 2, Pages: pages[2:]})
	waitFor(t, "bob's copy listed", func() bool {
		d := e.book(t, b.Key())
		return d != nil && len(d.Copies) == 1 && d.Copies[0].Status == devtools.StatusVerified
	})
	// A replica's first head is accepted on its signature (as the journal
	// does); its pages wait for the author.
	var pv struct{ Pages []devtools.PageView }
	e.get(t, "/api/books/"+b.Key().String()+"/pages", &pv)
	if len(pv.Pages) != 2 || pv.Pages[0].Status != devtools.StatusUnverified {
		t.Fatalf("pages before the author: %+v", pv.Pages)
	}
	startReporter(t, e, ana, "ana", nil)
	waitFor(t, "pages verified", func() bool {
		e.get(t, "/api/books/"+b.Key().String()+"/pages", &pv)
		for _, p := range pv.Pages {
			if p.Status != devtools.StatusVerified {
				return false
			}
		}
		return len(pv.Pages) == 4
	})
	// Now a page that differs is caught at once.
	bad := append([][]byte(nil), pages[1:]...)
	bad[0] = []byte("A")
	pb.send(report.TypeBook, &report.Book{Key: b.Key(), Event: "put", Head: head, Start: 1, Pages: bad})
	waitFor(t, "bob's copy invalid", func() bool {
		d := e.book(t, b.Key())
		for _, c := range d.Copies {
			if c.Peer == bob.ID() {
				return c.Status == devtools.StatusInvalid
			}
		}
		return false
	})
}

// TestBadFrames: frames that do not decode, break a bound or the
// protocol close the connection with 1008 (1009 when too large).
func TestBadFrames(t *testing.T) {
	e := newEnv(t, devtools.Config{})
	key := openDB(t, 1).Identity()
	id := key.ID()
	tests := []struct {
		name  string
		hello bool
		typ   websocket.MessageType
		frame string
		code  websocket.StatusCode
	}{
		{"bad json", true, websocket.MessageText, `{"v":2,"type":"sync","body":{`, websocket.StatusPolicyViolation},
		{"not json", false, websocket.MessageText, `hello`, websocket.StatusPolicyViolation},
		{"unknown field", true, websocket.MessageText, `{"v":2,"type":"error","body":{"text":"x","extra":1}}`, websocket.StatusPolicyViolation},
		{"unknown type", true, websocket.MessageText, `{"v":2,"type":"gossip","body":{}}`, websocket.StatusPolicyViolation},
		{"version", false, websocket.MessageText, `{"v":1,"type":"hello","body":{"id":"` + id.String() + `"}}`, websocket.StatusPolicyViolation},
		{"no hello", false, websocket.MessageText, `{"v":2,"type":"error","body":{"text":"x"}}`, websocket.StatusPolicyViolation},
		{"binary", true, websocket.MessageBinary, `{}`, websocket.StatusPolicyViolation},
		{"bad id", false, websocket.MessageText, `{"v":2,"type":"hello","body":{"id":"nope"}}`, websocket.StatusPolicyViolation},
		{"command from a peer", true, websocket.MessageText, `{"v":2,"type":"command","body":{"id":1,"op":"reset"}}`, websocket.StatusPolicyViolation},
		{"oversize", true, websocket.MessageText, `{"v":2,"type":"error","body":{"text":"` + strings.Repeat("x", report.MaxFrameSize) + `"}}`, websocket.StatusMessageTooBig},
		{"too many pages", true, websocket.MessageText, `{"v":2,"type":"book","body":{"key":"` + id.String() + `","event":"put","head":"AA==","pages":[` + strings.Repeat(`"",`, report.MaxPages) + `""]}}`, websocket.StatusPolicyViolation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var k *identity.Key
			if tc.hello {
				k = key
			}
			p := dialRaw(t, e, k, "")
			p.sendRaw(tc.typ, []byte(tc.frame))
			if code, reason := p.closed(); code != tc.code || reason == "" {
				t.Fatalf("closed with %d %q, want %d", code, reason, tc.code)
			}
		})
	}
	var pd devtools.PeerDetail
	e.get(t, "/api/peers/"+id.String(), &pd)
	rejected := 0
	for _, ev := range pd.Events {
		if ev.Type == "rejected" {
			rejected++
		}
	}
	if rejected == 0 {
		t.Fatal("no rejected frame on the peer's timeline")
	}
}
