package room

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"

	"github.com/task-messenger/task-messenger/wasm/journal"
)

// The page's UI state (the task selected, the tree's collapsed tasks, the
// scroll position and the draft of each task) is kept in the private book
// "ui": sealed under the profile's private secret, addressed to no reader,
// so never replicated nor pinned to a mirror, but exported and imported
// with the profile's other books. The state is one JSON object, opaque to
// the room but for its bounds. Each page is one JSON record:
//
//	{"v":1, "full":{…}}    the whole state
//	{"v":1, "patch":{…}}   a merge into the state before it (MergeUIState)
//
// Page i is a full state when (i-1) % uiSnapshotEvery == 0, so an open
// reads at most uiSnapshotEvery pages: from the last such page on.
const uiBook = "ui"

// Bounds of the UI state.
const (
	// MaxUIState is the most bytes of the UI state's JSON: a page of the
	// "ui" book, with its envelope and seal, stays under
	// journal.MaxPageSize.
	MaxUIState = 192 << 10
	// MaxUIEntries is the most entries of one object inside the state (the
	// drafts, scroll positions, collapsed tasks): beyond, the oldest by
	// their "at" (Unix ms; an entry that is a number is its own "at"; none
	// is oldest) are dropped.
	MaxUIEntries = 1000
	// uiSnapshotEvery: every so many pages, the whole state is written.
	uiSnapshotEvery = 32
)

// ErrBadUIState: a UI state that is not a JSON object, too large, or holds
// a string longer than a message.
var ErrBadUIState = errors.New("room: bad UI state")

// uiPage is a page of the "ui" book.
type uiPage struct {
	V     int             `json:"v"`
	Full  json.RawMessage `json:"full,omitempty"`
	Patch json.RawMessage `json:"patch,omitempty"`
}

// uiStore keeps the UI state in memory and in its book.
type uiStore struct {
	book *journal.Book // immutable after openUI
	wmu  sync.Mutex    // serialises writes to book; held before mu

	mu    sync.Mutex
	state uiObject // guarded by mu
	stale bool     // guarded by mu: a write failed, the next page is a full one
}

// uiObject is a JSON object by key; a value that is an object is merged
// key by key.
type uiObject map[string]json.RawMessage

// openUI opens the "ui" book and replays it from its last full page.
func (m *Messenger) openUI(ctx context.Context) error {
	b, err := m.db.Author(ctx, uiBook, []byte(`{"app":"task-messenger","ui":1}`))
	if err != nil {
		return fmt.Errorf("room: open ui: %w", err)
	}
	m.ui.book, m.ui.state = b, uiObject{}
	n := b.Len()
	if n <= 1 {
		return nil
	}
	from := 1 + (n-2)/uiSnapshotEvery*uiSnapshotEvery
	pages, err := b.GetRange(ctx, from, n)
	if err != nil {
		return fmt.Errorf("room: read ui: %w", err)
	}
	ps := m.privateSeal(b.Key())
	for i, p := range pages {
		var pg uiPage
		p, err := ps.open(from+uint64(i), p)
		if err == nil {
			err = json.Unmarshal(p, &pg)
		}
		if err != nil || pg.V != 1 {
			m.log.Warn("room: skipping a bad ui record", "index", from+uint64(i))
			continue
		}
		m.ui.state = m.ui.state.apply(pg)
	}
	return nil
}

// apply returns the state after page pg.
func (s uiObject) apply(pg uiPage) uiObject {
	var o uiObject
	switch {
	case pg.Full != nil:
		if json.Unmarshal(pg.Full, &o) == nil {
			return o.orEmpty()
		}
	case pg.Patch != nil:
		if json.Unmarshal(pg.Patch, &o) == nil {
			return s.merge(o)
		}
	}
	return s
}

func (s uiObject) orEmpty() uiObject {
	if s == nil {
		return uiObject{}
	}
	return s
}

// UIState returns the UI state, "{}" if none was set.
func (m *Messenger) UIState() json.RawMessage {
	m.ui.mu.Lock()
	defer m.ui.mu.Unlock()
	b, _ := json.Marshal(m.ui.state.orEmpty())
	return b
}

// SetUIState replaces the UI state by state, a JSON object, and writes it.
func (m *Messenger) SetUIState(ctx context.Context, state json.RawMessage) error {
	return m.writeUI(ctx, state, false)
}

// MergeUIState merges patch, a JSON object, into the UI state and writes
// it: a key of patch replaces the state's, null deletes it, and an object
// is merged into the state's object key by key, the same way (one level
// down). Each tab of a profile merges only what it changed, so two tabs do
// not undo each other's drafts.
func (m *Messenger) MergeUIState(ctx context.Context, patch json.RawMessage) error {
	return m.writeUI(ctx, patch, true)
}

func (m *Messenger) writeUI(ctx context.Context, raw json.RawMessage, merge bool) error {
	in, err := parseUIObject(raw)
	if err != nil {
		return err
	}
	u := &m.ui
	u.wmu.Lock()
	defer u.wmu.Unlock()
	u.mu.Lock()
	next := in
	if merge {
		next = u.state.merge(in)
	}
	next.prune()
	full, err := json.Marshal(next)
	if err == nil && len(full) > MaxUIState {
		err = fmt.Errorf("%w: %d bytes, at most %d", ErrBadUIState, len(full), MaxUIState)
	}
	if err != nil {
		u.mu.Unlock()
		return err
	}
	pg := uiPage{V: 1, Patch: in.encode()}
	if !merge || u.stale || (u.book.Len()-1)%uiSnapshotEvery == 0 {
		pg.Patch, pg.Full = nil, full
	}
	u.state, u.stale = next, true
	u.mu.Unlock()
	b, err := json.Marshal(pg)
	if err == nil {
		_, err = u.book.Append(ctx, b)
	}
	if err != nil {
		return fmt.Errorf("room: write ui state: %w", err)
	}
	u.mu.Lock()
	u.stale = false
	u.mu.Unlock()
	return nil
}

func (s uiObject) encode() json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// parseUIObject reads a UI state or patch: a JSON object of at most
// MaxUIState bytes whose strings are at most MaxText bytes.
func parseUIObject(raw json.RawMessage) (uiObject, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > MaxUIState {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadUIState, len(raw), MaxUIState)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadUIState, err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("%w: it must be an object", ErrBadUIState)
	}
	if err := checkUIStrings(v); err != nil {
		return nil, err
	}
	var o uiObject
	if err := json.Unmarshal(raw, &o); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadUIState, err)
	}
	return o, nil
}

// checkUIStrings refuses a key or string longer than a message (a draft
// is one).
func checkUIStrings(v any) error {
	check := func(s string) error {
		if len(s) > MaxText {
			return fmt.Errorf("%w: a text of %d bytes, at most %d", ErrBadUIState, len(s), MaxText)
		}
		return nil
	}
	switch v := v.(type) {
	case string:
		return check(v)
	case []any:
		for _, x := range v {
			if err := checkUIStrings(x); err != nil {
				return err
			}
		}
	case map[string]any:
		for k, x := range v {
			if err := check(k); err != nil {
				return err
			}
			if err := checkUIStrings(x); err != nil {
				return err
			}
		}
	}
	return nil
}

// merge returns s with patch merged in (MergeUIState); s is not changed.
func (s uiObject) merge(patch uiObject) uiObject {
	out := make(uiObject, len(s)+len(patch))
	for k, v := range s {
		out[k] = v
	}
	for k, v := range patch {
		switch {
		case isNull(v):
			delete(out, k)
		case isObject(v):
			old := uiObject{}
			if isObject(out[k]) {
				json.Unmarshal(out[k], &old)
			}
			var add uiObject
			json.Unmarshal(v, &add)
			for kk, vv := range add {
				if isNull(vv) {
					delete(old, kk)
				} else {
					old[kk] = vv
				}
			}
			out[k] = old.encode()
		default:
			out[k] = v
		}
	}
	return out
}

// prune drops the oldest entries of any object value with more than
// MaxUIEntries.
func (s uiObject) prune() {
	for k, v := range s {
		if !isObject(v) {
			continue
		}
		var o uiObject
		if json.Unmarshal(v, &o) != nil || len(o) <= MaxUIEntries {
			continue
		}
		type aged struct {
			key string
			at  float64
		}
		keys := make([]aged, 0, len(o))
		for kk, vv := range o {
			keys = append(keys, aged{kk, ageOf(vv)})
		}
		// Oldest first (sort.Slice: one sort in the module for every element type, docs/benchmarks.md "Module size").
		sort.Slice(keys, func(i, j int) bool {
			return cmp.Or(cmp.Compare(keys[i].at, keys[j].at), cmp.Compare(keys[i].key, keys[j].key)) < 0
		})
		for _, a := range keys[:len(keys)-MaxUIEntries] {
			delete(o, a.key)
		}
		s[k] = o.encode()
	}
}

// ageOf is an entry's time: its "at" if an object, itself if a number,
// else 0.
func ageOf(v json.RawMessage) float64 {
	var at float64
	if isObject(v) {
		var e struct {
			At float64 `json:"at"`
		}
		json.Unmarshal(v, &e)
		at = e.At
	} else {
		json.Unmarshal(v, &at)
	}
	return at
}

func isNull(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) == 0 || string(v) == "null"
}

func isObject(v json.RawMessage) bool {
	v = bytes.TrimSpace(v)
	return len(v) > 0 && v[0] == '{'
}
