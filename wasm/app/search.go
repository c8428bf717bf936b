package app

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/search"
)

// The search index (package search) is the running messenger's: startIndex
// makes an empty one at each start (so an import, which restarts the
// messenger, rebuilds it), fills it from every task's timeline in the
// background, newest pages first, and adds each message written or
// received from then on (the messenger's 'message' events). It is kept in
// memory only: it holds the plaintext of every message, which the books
// keep sealed, and rebuilding it costs a read of the timelines
// (docs/search.md).

// startIndex makes the messenger's search index and keeps it up to date
// until ctx ends; stop (called after ctx ended) waits for the rebuild to
// end and unsubscribes.
func (a *App) startIndex(ctx context.Context, m *room.Messenger) (stop func()) {
	ix := search.New()
	a.index.Store(ix)
	unsub := m.Subscribe(func(ev room.Event) {
		if ev.Type == room.EventMessage && ev.Message != nil {
			indexMessage(ix, ev.Task, ev.Message)
		}
	})
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := indexTimelines(ctx, m, ix); err != nil && ctx.Err() == nil {
			a.cfg.Logger.Warn("search index: rebuild stopped", "err", err)
		}
	}()
	return func() { unsub(); <-done }
}

// indexTimelines adds every task's messages to ix, a page of
// room.MaxPage at a time, newest first.
func indexTimelines(ctx context.Context, m *room.Messenger, ix *search.Index) error {
	for _, t := range m.Tasks() {
		var before *room.Key
		for {
			if err := ctx.Err(); err != nil {
				return err // a store may not look at ctx
			}
			msgs, err := m.Timeline(ctx, t.ID, before, room.MaxPage)
			if err != nil {
				return fmt.Errorf("task %s: %w", t.ID, err)
			}
			for i := range msgs {
				indexMessage(ix, t.ID, &msgs[i])
			}
			if len(msgs) < room.MaxPage {
				break
			}
			k := msgs[0].Key()
			before = &k
		}
	}
	return nil
}

// indexMessage adds a chat message to ix; other messages are not
// searched.
func indexMessage(ix *search.Index, task room.TaskID, msg *room.Message) {
	if msg.Type != room.TypeChat {
		return
	}
	var d struct {
		Text string `json:"text"`
	}
	if json.Unmarshal(msg.Data, &d) != nil || d.Text == "" {
		return
	}
	ix.Add(search.Doc{Task: task.String(), ID: msg.Ref().String(), Key: msg.Key().String(),
		By: msg.Head.By.String(), Text: d.Text, Date: msg.Meta.Date})
}

// Search finds the messages of every task (or of task, if not zero) that
// have a word starting with each word of query, newest first
// (package search). An empty query finds nothing; messages still being
// indexed after a start are found once they are.
func (a *App) Search(ctx context.Context, query string, task room.TaskID, limit int) ([]search.Result, error) {
	_, done, err := a.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if _, err := a.messenger(); err != nil {
		return nil, err
	}
	var o search.Options
	if task != (room.TaskID{}) {
		o.Task = task.String()
	}
	o.Limit = limit
	rs, err := a.index.Load().Search(query, o)
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
