package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Edits and deletes (issue #16). Books are append-only, so an edit or a
// delete is a new message that refers to its cause, a chat message:
//
//	{type: "edit",   refs: {cause: [by, mid]}, data: {text}}
//	{type: "delete", refs: {cause: [by, mid]}}
//
// Only the cause's author edits or deletes it (its person: a person's
// devices are one author). A member's edit of someone else's message, of
// a message the reader does not hold, of one that is not a chat message,
// of a deleted one, or an edit ordered before its cause, is refused: shown
// as invalid, with the reason, never applied. The timeline shows a message
// in its newest version (by key), or deleted; edits and deletes are not
// timeline lines themselves. What was applied is kept in the tasks book
// (record "edit"), so a reload needs no scan:
//
//	{"op":"edit", "task":T, "peer":X, "mid":n, "by":Y, "edit":e, "clock":c, "date":ms, "deleted":bool}
//	X's message n was edited (or deleted) by Y's message e, of clock c and date ms
const (
	TypeEdit   = "edit"
	TypeDelete = "delete"
	opEdit     = "edit"
)

// Errors of Edit and Delete.
var (
	// ErrNotYours: an edit or delete of another person's message.
	ErrNotYours = errors.New("room: only its author edits or deletes a message")
	// ErrNoMessage: the message to edit or delete is not in the task.
	ErrNoMessage = errors.New("room: no such message")
	// ErrDeleted: the message was deleted already.
	ErrDeleted = errors.New("room: the message was deleted")
	// ErrNotEditable: the message is not a chat message.
	ErrNotEditable = errors.New("room: only a chat message is edited or deleted")
)

// edited is what happened to a message: its newest edit, or its delete.
// Guarded by Messenger.mu.
type edited struct {
	by      identity.ID // the newest edit's (or the delete's) author device
	mid     uint64      // … and its mid
	clock   uint64
	date    int64
	deleted bool
}

// Version is how the timeline shows a message: Edited is the date of its
// newest edit (Unix ms; 0: never edited), Deleted that it was deleted.
type Version struct {
	Edited  int64 `json:"edited,omitempty"`
	Deleted bool  `json:"deleted,omitempty"`
}

// hiddenType reports message types that are not timeline lines.
func hiddenType(typ string) bool {
	return typ == TypeReceipt || typ == TypeEdit || typ == TypeDelete
}

// Edit replaces the text of one of this person's chat messages, for every
// member: a new "edit" message.
func (m *Messenger) Edit(ctx context.Context, id TaskID, ref Ref, text string) (Message, error) {
	if err := checkText(text); err != nil {
		return Message{}, err
	}
	return m.change(ctx, id, ref, TypeEdit, map[string]any{"text": text})
}

// Delete deletes one of this person's chat messages, for every member:
// a new "delete" message.
func (m *Messenger) Delete(ctx context.Context, id TaskID, ref Ref) (Message, error) {
	return m.change(ctx, id, ref, TypeDelete, map[string]any{})
}

// change writes an edit or a delete of ref, then applies it.
func (m *Messenger) change(ctx context.Context, id TaskID, ref Ref, typ string, data map[string]any) (Message, error) {
	t := m.task(id)
	if t == nil {
		return Message{}, fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	cause, _, err := m.checkChange(ctx, t, m.self, ref, nil, typ == TypeDelete)
	if err != nil {
		return Message{}, err
	}
	m.seen(t, cause.Head.By, cause.Head.Mid, cause.Meta.Clock)
	msg, err := m.write(ctx, t, typ, data, &ref)
	if err != nil {
		return Message{}, err
	}
	return msg, m.keepEdit(ctx, t, msg)
}

// checkChange returns the message author would edit or delete in t, or
// why it may not. key is the key of a member's edit or delete (nil: one
// this profile writes now, after everything); applied reports one the
// profile took already, or that a newer one superseded (a delete, del,
// is superseded by nothing but a delete): nothing to do.
func (m *Messenger) checkChange(ctx context.Context, t *task, author identity.ID, ref Ref, key *Key, del bool) (cause Message, applied bool, err error) {
	cause, err = m.Lookup(ctx, t.id, ref)
	switch {
	case err != nil:
		return cause, false, fmt.Errorf("%w: %s in task %s", ErrNoMessage, ref, t.id)
	case cause.Type != TypeChat:
		return cause, false, fmt.Errorf("%w: %s is a %q message", ErrNotEditable, ref, clip(cause.Type))
	case m.PersonOf(cause.Head.By) != m.PersonOf(author):
		return cause, false, fmt.Errorf("%w: %s is by %s", ErrNotYours, ref, cause.Head.By.Short())
	case key != nil && key.Compare(cause.Key()) <= 0:
		return cause, false, errors.New("room: an edit ordered before its message")
	}
	m.mu.Lock()
	var e edited
	if p := t.edits[ref]; p != nil {
		e = *p
	}
	m.mu.Unlock()
	if key != nil && e.mid != 0 && (e.deleted || !del) && key.Compare(Key{e.clock, e.by, e.mid}) <= 0 {
		return cause, true, nil
	}
	if e.deleted {
		return cause, false, fmt.Errorf("%w: %s", ErrDeleted, ref)
	}
	return cause, false, nil
}

// onEdit checks an edit or delete a member wrote and applies it; it
// returns the message, or refuses it (shown invalid, with the reason).
func (m *Messenger) onEdit(ctx context.Context, t *task, peer identity.ID, msg Message) Message {
	if msg.Type != TypeEdit && msg.Type != TypeDelete {
		return msg
	}
	k := msg.Key()
	_, applied, err := m.checkChange(ctx, t, msg.Head.By, *msg.Refs.Cause, &k, msg.Type == TypeDelete)
	switch {
	case err != nil:
		return m.refuse(t, peer, msg, err.Error())
	case !applied:
		if err := m.keepEdit(ctx, t, msg); err != nil {
			m.fail(err)
		}
	}
	return msg
}

// keepEdit records an edit or delete, then applies it.
func (m *Messenger) keepEdit(ctx context.Context, t *task, msg Message) error {
	c := msg.Refs.Cause
	return m.keepRecord(ctx, record{Op: opEdit, Task: t.id, Peer: c.By, Mid: c.Mid, By: msg.Head.By, Edit: msg.Head.Mid,
		Clock: msg.Meta.Clock, Date: msg.Meta.Date, Deleted: msg.Type == TypeDelete})
}

// applyEditLocked takes an edit record: a delete is final, else the
// newest edit by key wins. Called with m.mu held.
func (t *task) applyEditLocked(r record) {
	if t.edits == nil {
		t.edits = make(map[Ref]*edited)
	}
	ref := Ref{By: r.Peer, Mid: r.Mid}
	old := t.edits[ref]
	e := &edited{by: r.By, mid: r.Edit, clock: r.Clock, date: r.Date, deleted: r.Deleted}
	switch {
	case old == nil, r.Deleted && !old.deleted:
	case old.deleted, (Key{e.clock, e.by, e.mid}).Compare(Key{old.clock, old.by, old.mid}) <= 0:
		return
	}
	t.edits[ref] = e
}

// Newest returns a message of task id in its newest version: the text
// of its newest edit, or no data if deleted.
func (m *Messenger) Newest(ctx context.Context, id TaskID, msg Message) (Message, Version) {
	t := m.task(id)
	if t == nil || msg.Type != TypeChat {
		return msg, Version{}
	}
	m.mu.Lock()
	var e edited
	if p := t.edits[msg.Ref()]; p != nil {
		e = *p
	}
	m.mu.Unlock()
	switch {
	case e.deleted:
		msg.Data = nil
		return msg, Version{Deleted: true}
	case e.mid == 0:
		return msg, Version{}
	}
	ed, err := m.Lookup(ctx, id, Ref{By: e.by, Mid: e.mid})
	if err != nil {
		return msg, Version{}
	}
	var text struct {
		Text string `json:"text"`
	}
	var data map[string]json.RawMessage
	if json.Unmarshal(ed.Data, &text) != nil || json.Unmarshal(msg.Data, &data) != nil || data == nil {
		return msg, Version{}
	}
	data["text"], _ = json.Marshal(text.Text)
	delete(data, "nonce")
	msg.Data, _ = json.Marshal(data)
	return msg, Version{Edited: e.date}
}
