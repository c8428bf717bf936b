package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/dbcall"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// EventBook is the event of a change to one of the profile's books, for
// the db objects of the profile's other tabs (tm.vault, tm.DB: package
// dbcall): {type: 'book', book}.
const EventBook room.EventType = dbcall.EventType

// doDB carries out a call of a follower tab's db object (package dbcall's
// methods, "db.books", "db.add"…) on the profile's books. Export and
// import are the App's own (an import restarts the messenger, so that
// imported tasks show); a reset is refused (dbcall says why).
func (a *App) doDB(ctx context.Context, method string, raw json.RawMessage) (json.RawMessage, error) {
	switch method {
	case "db.export":
		return a.Do(ctx, "export", raw)
	case "db.import":
		as, err := parseArgs(raw)
		if err != nil {
			return nil, fmt.Errorf("import: %w", err)
		}
		v, err := a.doImport(ctx, as[:min(len(as), 1)]) // no passphrase: db.import(json) adds books
		if err != nil {
			return nil, err
		}
		return json.Marshal(v)
	}
	ctx, done, err := a.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	a.mu.Lock()
	db := a.profile.DB
	a.mu.Unlock()
	out, err := dbcall.Do(ctx, db, method, raw)
	return out, a.closedErr(err)
}

// FollowBooks makes the App emit book events (EventBook) from now on. Only
// the db objects of the profile's other tabs use them, and package tabs
// calls it once it sees another tab: until then none is made (each carried
// the change's pages, copied, checked and encoded as JSON for nobody, on
// every message written or received).
func (a *App) FollowBooks() { a.bookEvents.Store(true) }

// emitBook hands a change of the profile's books to the subscribers (the
// profile's other tabs), once there are some and FollowBooks was called:
// before, the messenger's own events are kept, not these.
func (a *App) emitBook(e journal.Event) {
	if !a.bookEvents.Load() {
		return
	}
	a.subMu.Lock()
	subscribed := a.subscribed
	a.subMu.Unlock()
	if subscribed {
		be := dbcall.BookEventOf(e)
		a.emit(Event{Type: EventBook, Book: &be})
	}
}
