package app

import (
	"context"

	"github.com/task-messenger/task-messenger/wasm/room"
)

// Names, edits and deletes, and the limits said before sending (issue #16).

// Limits are the bounds of what the user writes, in bytes of UTF-8: the
// page says them before sending, never cuts silently.
type Limits struct {
	Text  int `json:"text"`  // a message's text (room.MaxText)
	Title int `json:"title"` // a task's title (room.MaxTitle)
	Name  int `json:"name"`  // a display name, once cleaned (room.MaxName)
	File  int `json:"file"`  // one file (room.MaxFile)
	Files int `json:"files"` // files per message, a count (room.MaxFiles)
}

// Limits returns the bounds of what the user writes.
func (a *App) Limits() Limits {
	return Limits{Text: room.MaxText, Title: room.MaxTitle, Name: room.MaxName, File: room.MaxFile, Files: room.MaxFiles}
}

// Name returns the profile's display name, "" if none yet.
func (a *App) Name() (string, error) {
	m, err := a.messenger()
	if err != nil {
		return "", err
	}
	return m.Name(), nil
}

// SetName sets the profile's display name and tells every task's members.
func (a *App) SetName(ctx context.Context, name string) error {
	return a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		return m.SetName(ctx, name)
	})
}

// Edit replaces the text of one of the person's chat messages and returns
// it in its new version.
func (a *App) Edit(ctx context.Context, id room.TaskID, ref room.Ref, text string) (v MessageView, err error) {
	return a.change(ctx, id, ref, func(ctx context.Context, m *room.Messenger) error {
		_, err := m.Edit(ctx, id, ref, text)
		return err
	})
}

// Delete deletes one of the person's chat messages and returns it, deleted.
func (a *App) Delete(ctx context.Context, id room.TaskID, ref room.Ref) (v MessageView, err error) {
	return a.change(ctx, id, ref, func(ctx context.Context, m *room.Messenger) error {
		_, err := m.Delete(ctx, id, ref)
		return err
	})
}

// change runs an edit or a delete, then looks the message up.
func (a *App) change(ctx context.Context, id room.TaskID, ref room.Ref, fn func(context.Context, *room.Messenger) error) (v MessageView, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		if err := fn(ctx, m); err != nil {
			return err
		}
		v, err = lookup(ctx, m, id, ref)
		return err
	})
	return v, err
}

// Lookup returns one message of a task, in its newest version (a reply's
// quote of a message not loaded).
func (a *App) Lookup(ctx context.Context, id room.TaskID, ref room.Ref) (v MessageView, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		v, err = lookup(ctx, m, id, ref)
		return err
	})
	return v, err
}

func lookup(ctx context.Context, m *room.Messenger, id room.TaskID, ref room.Ref) (MessageView, error) {
	msg, err := m.Lookup(ctx, id, ref)
	if err != nil {
		return MessageView{}, err
	}
	return newestView(ctx, m, id, &msg), nil
}

// newestView is View of a message of task id in its newest version.
func newestView(ctx context.Context, m *room.Messenger, id room.TaskID, msg *room.Message) MessageView {
	newest, ver := m.Newest(ctx, id, *msg)
	v := View(&newest, m)
	v.Edited, v.Deleted = ver.Edited, ver.Deleted
	return v
}

// doEdit is edit(taskId, id, text) → the message in its new version.
func (a *App) doEdit(ctx context.Context, as args) (any, error) {
	const call = "edit(taskId, id, text)"
	id, ref, err := a.taskRef(as, call)
	if err != nil {
		return nil, err
	}
	text, ok := as.str(2)
	if !ok {
		return nil, badArgs("%s: text must be a string", call)
	}
	return a.Edit(ctx, id, ref, text)
}

// doDelete is delete(taskId, id) → the message, deleted.
func (a *App) doDelete(ctx context.Context, as args) (any, error) {
	id, ref, err := a.taskRef(as, "delete(taskId, id)")
	if err != nil {
		return nil, err
	}
	return a.Delete(ctx, id, ref)
}

// doLookup is lookup(taskId, id) → the message in its newest version.
func (a *App) doLookup(ctx context.Context, as args) (any, error) {
	id, ref, err := a.taskRef(as, "lookup(taskId, id)")
	if err != nil {
		return nil, err
	}
	return a.Lookup(ctx, id, ref)
}

// doSetName is setName(name).
func (a *App) doSetName(ctx context.Context, as args) error {
	name, ok := as.str(0)
	if !ok {
		return badArgs("setName(name): name must be a string")
	}
	return a.SetName(ctx, name)
}

// taskRef reads the arguments (taskId, message or its id).
func (a *App) taskRef(as args, call string) (room.TaskID, room.Ref, error) {
	id, err := as.task(0, call)
	if err != nil {
		return id, room.Ref{}, err
	}
	ref, err := messageRef(as.at(1), call+": id")
	if err != nil {
		return id, room.Ref{}, err
	}
	if ref == nil {
		return id, room.Ref{}, badArgs("%s: a message or its id is required", call)
	}
	return id, *ref, nil
}
