package app

import (
	"context"
	"fmt"
	"sync"

	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/search"
)

// The search index (package search) is the running messenger's: startIndex
// makes an empty one at each start (so an import, which restarts the
// messenger, rebuilds it) and adds each message written or received from
// then on (the messenger's 'message' events: edits replace a message's
// text, deletes drop it). A task's older messages are read into it on the
// first search that covers the task (its timeline, newest pages first), so
// opening a profile of many tasks reads none of them for search. It is
// kept in memory only: it holds the plaintext of every message, which the
// books keep sealed (docs/search.md).

// textIndex is the index and the tasks whose timelines it has read.
type textIndex struct {
	*search.Index
	mu   sync.Mutex // held while a task's timeline is read in
	rmu  sync.Mutex // guards read (the messenger's events change it, never waiting for mu)
	read map[room.TaskID]bool
}

// startIndex makes the messenger's search index and keeps it up to date
// until stop.
func (a *App) startIndex(m *room.Messenger) (stop func()) {
	ix := &textIndex{Index: search.New(), read: make(map[room.TaskID]bool)}
	a.index.Store(ix)
	return m.Subscribe(func(ev room.Event) {
		switch {
		case ev.Type != room.EventMessage || ev.Pending:
		case ev.Message != nil:
			indexMessage(ix.Index, ev.Task, ev.Message)
		case ev.Count > 0:
			ix.reread(ev.Task) // many at once: read with the timeline on the next search
		}
	})
}

// reread makes the next search that covers task read its timeline in
// again (messages already in the index stay, once each).
func (ix *textIndex) reread(task room.TaskID) {
	ix.rmu.Lock()
	defer ix.rmu.Unlock()
	delete(ix.read, task)
}

// claim marks task read, reporting whether it was not: the caller reads
// it in (a reread meanwhile makes the next search read it again).
func (ix *textIndex) claim(task room.TaskID) bool {
	ix.rmu.Lock()
	defer ix.rmu.Unlock()
	if ix.read[task] {
		return false
	}
	ix.read[task] = true
	return true
}

// readIn reads into ix the timelines of the tasks (every task if id is
// zero) it has not read yet.
func (ix *textIndex) readIn(ctx context.Context, m *room.Messenger, id room.TaskID) error {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	ids := []room.TaskID{id}
	if id == (room.TaskID{}) {
		ids = ids[:0]
		for _, t := range m.Tasks() {
			ids = append(ids, t.ID)
		}
	}
	for _, id := range ids {
		if !ix.claim(id) {
			continue
		}
		if err := indexTimeline(ctx, m, ix.Index, id); err != nil {
			ix.reread(id)
			return err
		}
	}
	return nil
}

// indexTimeline adds a task's chat messages to ix in their newest
// versions, a page of room.MaxPage at a time, newest first.
func indexTimeline(ctx context.Context, m *room.Messenger, ix *search.Index, id room.TaskID) error {
	var before *room.Key
	for {
		if err := ctx.Err(); err != nil {
			return err // a store may not look at ctx
		}
		msgs, err := m.Timeline(ctx, id, before, room.MaxPage)
		if err != nil {
			return fmt.Errorf("task %s: %w", id, err)
		}
		for i := range msgs {
			if msgs[i].Type != room.TypeChat {
				continue // edits and deletes are in each message's newest version
			}
			if newest, ver := m.Newest(ctx, id, msgs[i]); !ver.Deleted {
				indexMessage(ix, id, &newest)
			}
		}
		if len(msgs) < room.MaxPage {
			return nil
		}
		k := msgs[0].Key()
		before = &k
	}
}

// indexMessage adds a chat message to ix, replaces the text of the message
// an edit changes and drops a deleted one; other messages are not searched.
func indexMessage(ix *search.Index, task room.TaskID, msg *room.Message) {
	switch msg.Type {
	case room.TypeChat:
		text, ok := room.TextOf(msg.Data)
		if !ok || text == "" {
			return
		}
		ix.Add(search.Doc{Task: task.String(), ID: msg.Ref().String(), Key: msg.Key().String(),
			By: msg.Head.By.String(), Text: text, Date: msg.Meta.Date})
	case room.TypeEdit:
		if text, ok := room.TextOf(msg.Data); msg.Refs.Cause != nil && ok {
			ix.Retext(task.String(), msg.Refs.Cause.String(), text)
		}
	case room.TypeDelete:
		if msg.Refs.Cause != nil {
			ix.Remove(task.String(), msg.Refs.Cause.String())
		}
	}
}

// Search finds the messages of every task (or of task, if not zero) that
// have a word starting with each word of query, newest first
// (package search). An empty query finds nothing. The first search that
// covers a task reads its timeline into the index.
func (a *App) Search(ctx context.Context, query string, task room.TaskID, limit int) ([]search.Result, error) {
	_, done, err := a.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	m, err := a.messenger()
	if err != nil {
		return nil, err
	}
	var o search.Options
	if task != (room.TaskID{}) {
		o.Task = task.String()
	}
	o.Limit = limit
	ix := a.index.Load()
	if err := ix.readIn(ctx, m, task); err != nil {
		return nil, err
	}
	rs, err := ix.Search(query, o)
	if err != nil {
		return nil, badArgs("search: %v", err)
	}
	if rs == nil {
		rs = []search.Result{}
	}
	return rs, nil
}

// doSearch is search(query, { task, limit }) → [{task, id, key, by, text,
// date, snippet}].
func (a *App) doSearch(ctx context.Context, as args) (any, error) {
	q, ok := as.str(0)
	if !ok {
		return nil, badArgs("search(query): query must be a string")
	}
	o := as.options(1)
	ts, err := o.str("task", "")
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	var task room.TaskID
	if ts != "" {
		if task, err = room.ParseTaskID(ts); err != nil {
			return nil, badArgs("search: task: %v", err)
		}
	}
	limit := 0
	if l, ok := o.num("limit"); ok && l > 0 {
		limit = int(min(l, search.MaxLimit))
	}
	return a.Search(ctx, q, task, limit)
}
