package bookverify_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/task-messenger/task-messenger/tools/bookverify"
	"github.com/task-messenger/task-messenger/wasm/held"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
	"github.com/task-messenger/task-messenger/wasm/store"
)

var update = flag.Bool("update", false, "rewrite the worked examples in docs/format.md")

const formatDoc = "../../docs/format.md"

// example builds the worked example of docs/format.md: the book a fixed
// seed writes, and the bytes the doc quotes, by name.
func example(t *testing.T) map[string][]byte {
	t.Helper()
	db, err := journal.Open(ctx, store.NewMemory(), seed(1), &journal.Options{Now: func() time.Time { return time.UnixMilli(0) }, DeterministicHeads: true})
	if err != nil {
		t.Fatal(err)
	}
	name := db.ID().String() + "-notes"
	book, err := db.Author(ctx, name, []byte(`{"app":"example"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := book.Append(ctx, []byte("first")); err != nil {
		t.Fatal(err)
	}
	head2 := book.Head()
	if _, err := book.Append(ctx, []byte("second"), []byte("third"), []byte("fourth")); err != nil {
		t.Fatal(err)
	}
	head5 := book.Head()
	pages, _ := book.GetRange(ctx, 0, 5)
	g, err := journal.DecodeGenesis(pages[0])
	if err != nil {
		t.Fatal(err)
	}

	out := map[string][]byte{
		"author-seed":    bytes.Repeat([]byte{1}, 32),
		"author-id":      db.ID().Bytes(),
		"book-name":      []byte(name),
		"book-key":       book.Key().Bytes(),
		"genesis-page":   pages[0],
		"genesis-sig":    g.Sig,
		"head-2":         marshal(t, head2),
		"head-5":         marshal(t, head5),
		"head-5-sig":     head5.Sig,
		"consistency-25": nil,
	}
	vg := &bookverify.Genesis{Author: g.Author, Key: g.Key, Name: g.Name, Meta: g.Meta}
	out["genesis-signed"] = vg.SignedBytes()
	vh := &bookverify.Head{Key: head5.Key, Length: head5.Length, Root: head5.Root}
	out["head-5-signed"] = vh.SignedBytes()
	for i, p := range pages {
		out[fmt.Sprintf("page-%d", i)] = p
		h := tlog.RecordHash(p)
		out[fmt.Sprintf("leaf-%d", i)] = h[:]
	}
	out["root-5"] = head5.Root[:]
	out["root-2"] = head2.Root[:]
	tp, err := book.TreeProof(ctx, 2, 5)
	if err != nil {
		t.Fatal(err)
	}
	var cp []byte
	for _, h := range tp {
		cp = append(cp, h[:]...)
	}
	out["consistency-25"] = cp
	rp35, _ := book.RangeProof(ctx, 3, 5, 5)
	out["range-3-5"] = marshal(t, rp35)
	rp12, _ := book.RangeProof(ctx, 1, 2, 5)
	out["range-1-2"] = marshal(t, rp12)

	// Wire: Bob's first hello, the author's announcement (the whole book,
	// short enough to push), and the want and data of page 2 alone.
	hello, _ := replication.Encode(replication.TypeHello, &replication.Hello{Full: true})
	out["msg-hello"] = hello
	offered := &replication.Hello{Full: true}
	offered.AddOffer(replication.Offer{Versions: 3, Caps: replication.CapServe})
	out["msg-hello-offer"], _ = replication.Encode(replication.TypeHello, offered)
	up, _ := book.MakeUpgrade(ctx, 0)
	rp05, _ := book.RangeProof(ctx, 0, 5, 5)
	have, _ := replication.Encode(replication.TypeHave, &replication.Have{Upgrade: *up, Push: &replication.Data{Key: book.Key().Bytes(), Start: 0, Length: 5, Pages: pages, Proof: *rp05}})
	out["msg-have"] = have
	want, _ := replication.Encode(replication.TypeWant, &replication.Want{Key: book.Key().Bytes(), Ranges: []journal.Range{{Start: 2, End: 3}}})
	out["msg-want"] = want
	rp23, _ := book.RangeProof(ctx, 2, 3, 5)
	data, _ := replication.Encode(replication.TypeData, &replication.Data{Key: book.Key().Bytes(), Start: 2, Length: 5, Pages: pages[2:3], Proof: *rp23})
	out["msg-data"] = data
	up25, _ := book.MakeUpgrade(ctx, 2)
	have25, _ := replication.Encode(replication.TypeHave, &replication.Have{Upgrade: *up25})
	out["msg-have-2-5"] = have25

	// A mirror's receipt of the book at length 5 (seed 32 bytes of 0x02).
	mirror := identity.New(seed(2))
	st := held.Statement{Book: book.Key(), Length: 5, Root: head5.Root, Time: 0}
	st.Sign(mirror)
	out["mirror-id"] = mirror.ID().Bytes()
	out["held-5-signed"] = st.SignedBytes(mirror.ID())
	out["held-5-sig"] = st.Sig
	return out
}

// docBlocks reads the ```hex NAME blocks of the doc.
func docBlocks(t *testing.T, doc []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(doc))
	var name string
	var buf strings.Builder
	for sc.Scan() {
		line := sc.Text()
		switch {
		case name == "" && strings.HasPrefix(line, "```hex "):
			name = strings.TrimPrefix(line, "```hex ")
			buf.Reset()
		case name != "" && line == "```":
			b, err := hex.DecodeString(buf.String())
			if err != nil {
				t.Fatalf("docs/format.md block %s: %v", name, err)
			}
			out[name] = b
			name = ""
		case name != "":
			buf.WriteString(strings.Join(strings.Fields(line), ""))
		}
	}
	return out
}

// rewrite puts the example's hex in every ```hex NAME block.
func rewrite(doc []byte, ex map[string][]byte) []byte {
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(doc))
	skipping := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case !skipping && strings.HasPrefix(line, "```hex "):
			out.WriteString(line + "\n")
			h := hex.EncodeToString(ex[strings.TrimPrefix(line, "```hex ")])
			for len(h) > 64 {
				out.WriteString(h[:64] + "\n")
				h = h[64:]
			}
			if h != "" {
				out.WriteString(h + "\n")
			}
			skipping = true
		case skipping && line == "```":
			out.WriteString(line + "\n")
			skipping = false
		case !skipping:
			out.WriteString(line + "\n")
		}
	}
	return out.Bytes()
}

// TestFormatDocExamples: every hex block of docs/format.md is what the
// journal and the replication protocol produce from the doc's fixed seed,
// and the verifier checks the doc's bytes as the doc says.
func TestFormatDocExamples(t *testing.T) {
	ex := example(t)
	doc, err := os.ReadFile(formatDoc)
	if err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile(formatDoc, rewrite(doc, ex), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	blocks := docBlocks(t, doc)
	if len(blocks) == 0 {
		t.Fatal("docs/format.md has no hex blocks")
	}
	for name, got := range blocks {
		want, ok := ex[name]
		if !ok {
			t.Errorf("docs/format.md block %s: no such value in the example", name)
			continue
		}
		if !bytes.Equal(got, want) {
			t.Errorf("docs/format.md block %s is stale (go test ./tools/bookverify -run TestFormatDocExamples -update):\n got %x\nwant %x", name, got, want)
		}
	}
	for _, name := range []string{"genesis-page", "genesis-signed", "head-5", "head-5-signed", "range-3-5", "range-1-2", "msg-have", "msg-data", "consistency-25", "held-5-signed", "held-5-sig"} {
		if _, ok := blocks[name]; !ok {
			t.Errorf("docs/format.md lacks the block %s", name)
		}
	}
	if t.Failed() {
		return
	}

	// The mirror's receipt: its signed bytes as the doc spells them, and
	// its signature by the mirror's key.
	signed := []byte("taskmessenger/held/v1\n")
	signed = append(signed, blocks["mirror-id"]...)
	signed = append(signed, blocks["book-key"]...)
	signed = binary.BigEndian.AppendUint64(signed, 5)
	signed = append(signed, blocks["root-5"]...)
	signed = binary.BigEndian.AppendUint64(signed, 0)
	if !bytes.Equal(signed, blocks["held-5-signed"]) || !ed25519.Verify(blocks["mirror-id"], signed, blocks["held-5-sig"]) {
		t.Fatal("held-5's signed bytes differ from the doc's, or its signature fails")
	}

	// The doc's bytes verify as the doc says.
	h5, err := bookverify.ParseHead(blocks["head-5"])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h5.SignedBytes(), blocks["head-5-signed"]) || !bytes.Equal(h5.Root[:], blocks["root-5"]) {
		t.Fatal("head-5's signed bytes or root differ from the doc's")
	}
	g, err := bookverify.VerifyGenesis(h5, blocks["genesis-page"])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g.SignedBytes(), blocks["genesis-signed"]) {
		t.Fatal("genesis-signed differs from the genesis page with a null signature")
	}
	var pages [][]byte
	for i := range 5 {
		pages = append(pages, blocks[fmt.Sprintf("page-%d", i)])
	}
	for name, r := range map[string][2]int{"range-3-5": {3, 5}, "range-1-2": {1, 2}} {
		p, err := bookverify.ParseRangeProof(blocks[name])
		if err != nil {
			t.Fatal(err)
		}
		if err := bookverify.VerifyRange(h5, uint64(r[0]), pages[r[0]:r[1]], p); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	h2, err := bookverify.ParseHead(blocks["head-2"])
	if err != nil {
		t.Fatal(err)
	}
	var cp tlog.TreeProof
	for c := blocks["consistency-25"]; len(c) >= 32; c = c[32:] {
		cp = append(cp, tlog.Hash(c[:32]))
	}
	if err := bookverify.VerifyConsistency(h2, h5, cp); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"msg-hello", "msg-have", "msg-want", "msg-data", "msg-have-2-5"} {
		if _, err := bookverify.ParseMessage(blocks[name]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}
