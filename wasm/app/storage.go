package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// quotaError is a store's ErrQuota as the JS API shows it.
type quotaError struct{ err error }

func (e *quotaError) Error() string {
	return fmt.Sprintf("%v (%v)", ErrQuota, e.err)
}

func (e *quotaError) Unwrap() []error { return []error{ErrQuota, e.err} }

// JSName is the name of the JS error (jsutil.NewError).
func (e *quotaError) JSName() string { return "QuotaExceededError" }

// quota returns err, made a *quotaError if the store is full.
func quota(err error) error {
	var qe *quotaError
	if errors.Is(err, store.ErrQuota) && !errors.As(err, &qe) {
		return &quotaError{err}
	}
	return err
}

// Usage is what usage() resolves to: the bytes of the profile's records
// in the store, in all and per task. The page adds the browser's word
// (navigator.storage: persisted, quota, usage of the whole site).
type Usage struct {
	Total int64                 `json:"total"`
	Tasks map[room.TaskID]int64 `json:"tasks"`
}

// Usage measures how many bytes each task and the whole profile hold.
func (a *App) Usage(ctx context.Context) (u Usage, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		ru, err := m.Usage(ctx)
		u = Usage{Total: ru.Total, Tasks: ru.Tasks}
		return err
	})
	return u, err
}

// Freed is what leave and forget resolve to: the bytes deleted.
type Freed struct {
	Freed int64 `json:"freed"`
}

// Forget deletes this profile's copy of a task (room.Messenger.Forget).
func (a *App) Forget(ctx context.Context, id room.TaskID) (f Freed, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) (err error) {
		f.Freed, err = m.Forget(ctx, id)
		return err
	})
	return f, err
}

// Leave tells the task's members this profile leaves, then deletes its
// copy (room.Messenger.Leave).
func (a *App) Leave(ctx context.Context, id room.TaskID) (f Freed, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) (err error) {
		f.Freed, err = m.Leave(ctx, id)
		return err
	})
	return f, err
}

// doStorage runs usage(), leave(taskId) and forget(taskId).
func (a *App) doStorage(ctx context.Context, method string, as args) (any, error) {
	if method == "usage" {
		return a.Usage(ctx)
	}
	id, err := as.task(0, method+"(taskId)")
	if err != nil {
		return nil, err
	}
	if method == "leave" {
		return a.Leave(ctx, id)
	}
	return a.Forget(ctx, id)
}
