package report

import (
	"fmt"
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// checker is a frame body that checks its bounds.
type checker interface{ check() error }

func badf(t Type, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrBadFrame, t, fmt.Sprintf(format, args...))
}

func checkText(t Type, what, s string) error {
	if len(s) > MaxText || !utf8.ValidString(s) {
		return badf(t, "%s: not UTF-8 text of at most %d bytes", what, MaxText)
	}
	return nil
}

func checkID(t Type, what string, id identity.ID, required bool) error {
	if id.IsZero() {
		if required {
			return badf(t, "no %s", what)
		}
		return nil
	}
	if err := id.Check(); err != nil {
		return badf(t, "%s: %v", what, err)
	}
	return nil
}

func checkSpans(t Type, spans []Span) error {
	if len(spans) > journal.MaxProofHashes*8 {
		return badf(t, "%d ranges", len(spans))
	}
	for _, s := range spans {
		if s[0] >= s[1] || s[1] > journal.MaxLength {
			return badf(t, "range [%d, %d)", s[0], s[1])
		}
	}
	return nil
}

func (c *Challenge) check() error {
	if len(c.Nonce) != NonceSize {
		return badf(TypeChallenge, "nonce of %d bytes, want %d", len(c.Nonce), NonceSize)
	}
	return nil
}

func (h *Hello) check() error {
	if err := checkID(TypeHello, "id", h.ID, true); err != nil {
		return err
	}
	if len(h.Sig) != identity.SignatureSize {
		return badf(TypeHello, "signature of %d bytes, want %d", len(h.Sig), identity.SignatureSize)
	}
	if len(h.Alias) > 64 {
		return badf(TypeHello, "alias of %d bytes, at most 64", len(h.Alias))
	}
	if err := checkText(TypeHello, "alias", h.Alias); err != nil {
		return err
	}
	return checkText(TypeHello, "agent", h.Agent)
}

func (w *Welcome) check() error {
	for _, k := range w.Books {
		if err := checkID(TypeWelcome, "key", k.Key, true); err != nil {
			return err
		}
		if k.Head != 0 && k.Length > k.Head || k.Head > journal.MaxLength {
			return badf(TypeWelcome, "book %s: length %d, head %d", k.Key.Short(), k.Length, k.Head)
		}
	}
	return nil
}

func (bs *Books) check() error {
	if len(bs.Books) > MaxBooks {
		return badf(TypeBooks, "%d books, at most %d", len(bs.Books), MaxBooks)
	}
	for i := range bs.Books {
		b := &bs.Books[i]
		if err := checkID(TypeBooks, "key", b.Key, true); err != nil {
			return err
		}
		if err := checkID(TypeBooks, "author", b.Author, false); err != nil {
			return err
		}
		if len(b.Name) > journal.MaxNameSize || !utf8.ValidString(b.Name) {
			return badf(TypeBooks, "name: not UTF-8 text of at most %d bytes", journal.MaxNameSize)
		}
		if len(b.Head) > MaxProof || len(b.Genesis) > MaxProof {
			return badf(TypeBooks, "head or genesis over %d bytes", MaxProof)
		}
		if err := checkSpans(TypeBooks, b.Have); err != nil {
			return err
		}
	}
	return nil
}

// bookEvents are the values of Book.Event.
var bookEvents = map[string]bool{
	string(journal.EventCreate): true, string(journal.EventAppend): true, string(journal.EventHead): true,
	string(journal.EventPut): true, string(journal.EventFork): true, string(journal.EventFollow): true,
	"backfill": true,
}

func (b *Book) check() error {
	if err := checkID(TypeBook, "key", b.Key, true); err != nil {
		return err
	}
	if !bookEvents[b.Event] {
		return badf(TypeBook, "event %q", clip(b.Event))
	}
	if err := checkID(TypeBook, "peer", b.Peer, false); err != nil {
		return err
	}
	if len(b.Head) > MaxProof || len(b.Upgrade) > MaxProof || len(b.Proof) > MaxProof || len(b.Fork) > MaxProof {
		return badf(TypeBook, "head, upgrade, proof or fork over %d bytes", MaxProof)
	}
	if len(b.Pages) > MaxPages {
		return badf(TypeBook, "%d pages, at most %d", len(b.Pages), MaxPages)
	}
	size := 0
	for _, p := range b.Pages {
		size += len(p)
		if len(p) > journal.MaxPageSize {
			return badf(TypeBook, "page of %d bytes, at most %d", len(p), journal.MaxPageSize)
		}
	}
	plain, err := b.checkPlain()
	if err != nil {
		return err
	}
	if size += plain; size > MaxPageBytes {
		return badf(TypeBook, "%d bytes of pages and plaintexts, at most %d", size, MaxPageBytes)
	}
	if len(b.Pages) > 0 && len(b.Head) == 0 {
		return badf(TypeBook, "pages without a head")
	}
	if b.Start > journal.MaxLength || b.Start+uint64(len(b.Pages)) > journal.MaxLength {
		return badf(TypeBook, "start %d", b.Start)
	}
	if b.Skipped != nil {
		return checkSpans(TypeBook, []Span{*b.Skipped})
	}
	return nil
}

// checkPlain checks the plaintexts of the pages and returns their size:
// none, or one per page, each at most as long as its page (a sealed page
// is longer than what it seals), none for the genesis (never sealed).
func (b *Book) checkPlain() (int, error) {
	if len(b.Plain) == 0 {
		return 0, nil
	}
	if len(b.Plain) != len(b.Pages) {
		return 0, badf(TypeBook, "%d plaintexts for %d pages", len(b.Plain), len(b.Pages))
	}
	size := 0
	for i, p := range b.Plain {
		switch {
		case p == nil:
			continue
		case b.Start == 0 && i == 0:
			return 0, badf(TypeBook, "a plaintext of page 0 (the genesis is never sealed)")
		case len(p) > len(b.Pages[i]):
			return 0, badf(TypeBook, "plaintext of page %d: %d bytes, over its page's %d", b.Start+uint64(i), len(p), len(b.Pages[i]))
		}
		size += len(p)
	}
	return size, nil
}

// syncTypes are the replication message names.
var syncTypes = map[string]bool{"hello": true, "have": true, "want": true, "data": true, "bye": true}

func (s *Sync) check() error {
	if err := checkID(TypeSync, "peer", s.Peer, true); err != nil {
		return err
	}
	if err := checkID(TypeSync, "book", s.Book, false); err != nil {
		return err
	}
	if !syncTypes[s.Type] {
		return badf(TypeSync, "type %q", clip(s.Type))
	}
	if s.Start > s.End || s.End > journal.MaxLength || s.Bytes < 0 || s.Pages < 0 || s.Hashes < 0 {
		return badf(TypeSync, "range [%d, %d), %d bytes, %d pages, %d hashes", s.Start, s.End, s.Bytes, s.Pages, s.Hashes)
	}
	return nil
}

func (p *Port) check() error {
	if err := checkID(TypePort, "peer", p.Peer, true); err != nil {
		return err
	}
	switch p.Transport {
	case "", "webrtc", "relay":
		return nil
	}
	return badf(TypePort, "transport %q", clip(p.Transport))
}

func (a *App) check() error {
	if err := checkID(TypeApp, "peer", a.Peer, true); err != nil {
		return err
	}
	if a.Type == "" || len(a.Type) > 64 {
		return badf(TypeApp, "type of %d bytes", len(a.Type))
	}
	if a.Bytes < 0 {
		return badf(TypeApp, "%d bytes", a.Bytes)
	}
	return checkText(TypeApp, "type", a.Type)
}

func (e *Error) check() error { return checkText(TypeError, "text", e.Text) }

func (d *Dropped) check() error {
	if d.Count > d.Total {
		return badf(TypeDropped, "count %d over total %d", d.Count, d.Total)
	}
	return nil
}

func (c *Command) check() error {
	switch c.Op {
	case OpExport, OpReset:
		if len(c.Data) != 0 {
			return badf(TypeCommand, "%s with data", c.Op)
		}
	case OpImport:
		if len(c.Data) == 0 {
			return badf(TypeCommand, "import without data")
		}
	default:
		return badf(TypeCommand, "op %q", clip(c.Op))
	}
	return nil
}

func (r *Result) check() error {
	if r.Error != "" && len(r.Data) != 0 {
		return badf(TypeResult, "both error and data")
	}
	return checkText(TypeResult, "error", r.Error)
}

// clip shortens untrusted text quoted in an error.
func clip(s string) string {
	if len(s) > 32 {
		s = s[:32] + "…"
	}
	return s
}
