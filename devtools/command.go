package devtools

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/report"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// apiCommand forwards export, import or reset to a connected peer and
// answers with the peer's answer. An import is verified first.
func (s *Server) apiCommand(w http.ResponseWriter, r *http.Request) {
	id, err := pathID(r, "id", ErrUnknownPeer)
	if err != nil {
		fail(w, err)
		return
	}
	op := mux.Vars(r)["op"]
	var data []byte
	if op == report.OpImport {
		if data, err = s.readImport(w, r); err != nil {
			fail(w, err)
			return
		}
	}
	s.mu.Lock()
	p := s.peers[id]
	var c *conn
	if p != nil {
		c = p.conn
	}
	s.nextCmd++
	cmdID := s.nextCmd
	s.mu.Unlock()
	switch {
	case p == nil:
		fail(w, fmt.Errorf("%w %s", ErrUnknownPeer, id.Short()))
		return
	case c == nil:
		fail(w, fmt.Errorf("%w: %s", ErrOffline, id.Short()))
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.CommandTimeout)
	defer cancel()
	res, err := c.command(ctx, cmdID, op, data)
	if err == nil && res.Error != "" {
		err = fmt.Errorf("%w: %s", ErrCommand, res.Error)
	}
	s.mu.Lock()
	ev := &Event{Kind: "command", Type: op, Text: "ok"}
	if err != nil {
		ev.Text = err.Error()
	}
	s.event(p, nil, ev)
	s.mu.Unlock()
	if err != nil {
		fail(w, err)
		return
	}
	if op == report.OpExport {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Disposition", fmt.Sprintf(`attachment; filename="export-%s.json"`, id.Short()))
		h.Set("X-Content-Type-Options", "nosniff")
		w.Write(res.Data)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "op": op})
}

// readImport reads an import body and verifies it with the journal: it
// must decode as an export and import whole into a scratch profile.
func (s *Server) readImport(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, report.MaxResultSize-64<<10))
	if err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrBadQuery, err)
	}
	var ex journal.Export
	if err := json.Unmarshal(body, &ex); err != nil {
		return nil, fmt.Errorf("%w: not a JSON export: %v", ErrBadQuery, err)
	}
	seed, err := identity.NewSeed()
	if err != nil {
		return nil, err
	}
	db, err := journal.Open(r.Context(), store.NewMemory(), seed, nil)
	if err != nil {
		return nil, err
	}
	if _, err := db.Import(r.Context(), &ex); err != nil {
		return nil, fmt.Errorf("%w: the export does not verify: %v", ErrBadQuery, err)
	}
	return body, nil
}
