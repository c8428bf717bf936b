package room

import (
	"context"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/seal"
)

// NewTask is a task for CreateTasks: its title, and the index of its
// parent among the tasks of the same call (-1: a top-level task).
type NewTask struct {
	Title  string
	Parent int
}

// CreateTasks makes many tasks hosted by this profile at once (an import
// of a task list, or a test's profile of 10,000 tasks): their records are
// written to the tasks book in batches and the tasks are lazy (lazy.go),
// so it costs a record per task, not a book. Unlike CreateTask, no first
// message says who created a task, and no parent announces its subtasks:
// their timelines start empty.
func (m *Messenger) CreateTasks(ctx context.Context, tasks []NewTask) ([]TaskID, error) {
	if err := m.checkRestoring(); err != nil {
		return nil, err
	}
	ids := make([]TaskID, len(tasks))
	var pages [][]byte
	var recs []record
	flush := func() error {
		if len(pages) == 0 {
			return nil
		}
		if _, err := m.tasksLog.Append(ctx, pages...); err != nil {
			return err
		}
		m.mu.Lock()
		for _, r := range recs {
			m.apply(r)
			m.tasks[r.Task].lazy = true
		}
		m.mu.Unlock()
		pages, recs = pages[:0], recs[:0]
		return nil
	}
	date := m.cfg.Now().UnixMilli()
	for i, nt := range tasks {
		title, err := checkTitle(nt.Title)
		if err != nil {
			return nil, fmt.Errorf("room: task %d: %w", i, err)
		}
		if ids[i], err = NewTaskID(); err != nil {
			return nil, err
		}
		secret, err := seal.NewSecret()
		if err != nil {
			return nil, err
		}
		r := record{Op: opTask, Task: ids[i], Title: title, Host: m.self, Creator: m.self, Date: date, Secret: secret}
		if nt.Parent >= 0 {
			if nt.Parent >= i {
				return nil, fmt.Errorf("room: task %d: its parent %d comes after it", i, nt.Parent)
			}
			r.Parent = &ids[nt.Parent]
		}
		b, err := encodeRecord(r)
		if err != nil {
			return nil, err
		}
		pages, recs = append(pages, b), append(recs, r)
		if len(pages) == 1000 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	m.emit(Event{Type: EventTask})
	return ids, nil
}
