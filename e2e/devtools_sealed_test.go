package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/report"
	"github.com/task-messenger/task-messenger/wasm/seal"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// TestDevtoolsSealedPage: a profile's sealed book reported (natively)
// with the plaintexts its reporter opens; the devtools page marks the
// sealed pages, shows the opened one as the message it holds, "opened by"
// the profile, with its plaintext beside the ciphertext, and says of the
// page no tab can open that it cannot be opened.
func TestDevtoolsSealedPage(t *testing.T) {
	dt := startDevtools(t)
	db, err := journal.Open(t.Context(), store.NewMemory(), identity.Seed{0x5e}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := db.Author(t.Context(), "sealed notes", nil)
	if err != nil {
		t.Fatal(err)
	}
	key, err := seal.BookKey(bytes.Repeat([]byte{1}, seal.KeySize), 0, b.Key())
	if err != nil {
		t.Fatal(err)
	}
	other, err := seal.BookKey(bytes.Repeat([]byte{2}, seal.KeySize), 0, b.Key())
	if err != nil {
		t.Fatal(err)
	}
	msg := fmt.Appendf(nil, `{"head":[%q,"",1],"refs":{},"type":"chat","data":{"text":"sealed hello"},"meta":{"date":1700000000000,"clock":1}}`, db.ID())
	for _, k := range []*seal.Key{key, other} {
		page, err := k.Seal(b.Len(), msg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Append(t.Context(), page); err != nil {
			t.Fatal(err)
		}
	}
	open := func(book identity.ID, i uint64, page []byte) []byte {
		plain, err := key.Open(i, page)
		if book != b.Key() || err != nil {
			return nil
		}
		return plain
	}
	r := report.New(report.Config{URL: dt.URL, DB: db, Alias: "ana", Open: open})
	done := make(chan struct{})
	go func() { defer close(done); r.Run(t.Context()) }()
	t.Cleanup(func() { <-done })

	page := newBrowser(t).open(t, dt.URL+"/")
	page.poll(`[...document.querySelectorAll('#books tr')].some((tr) => tr.textContent.includes('sealed notes'))`)
	page.run(`[...document.querySelectorAll('#books tr')].find((tr) => tr.textContent.includes('sealed notes')).click(); return true`, nil)
	page.poll(`document.querySelectorAll('#pages tr').length === 3 && document.querySelectorAll('#pages .badge.sealed').length === 2`)
	var rows []string
	page.run(`return [...document.querySelectorAll('#pages tr')].map((tr) => tr.textContent)`, &rows)
	if !strings.Contains(rows[1], "sealed · opened") || !strings.Contains(rows[1], "sealed hello") {
		t.Errorf("page 1's row: %q", rows[1])
	}
	if !strings.Contains(rows[2], "sealed · unopened") || !strings.Contains(rows[2], "no reporting tab can open it") {
		t.Errorf("page 2's row: %q", rows[2])
	}
	page.run(`document.querySelectorAll('#pages tr')[1].click(); return true`, nil)
	page.poll(`document.getElementById('page-parsed').textContent.includes('opened by ana') && !document.getElementById('page-plain').hidden`)
	var plain string
	page.run(`return document.getElementById('page-plain').textContent`, &plain)
	if plain != string(msg) {
		t.Errorf("plaintext shown: %q", plain)
	}
	t.Logf("screenshot: %s", page.screenshot("devtools-sealed.png"))
	page.run(`document.querySelectorAll('#pages tr')[2].click(); return true`, nil)
	page.poll(`document.getElementById('page-parsed').textContent.includes('no reporting tab can open it') && document.getElementById('page-plain').hidden`)
}
