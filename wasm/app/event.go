package app

import (
	"encoding/json"

	"github.com/task-messenger/task-messenger/wasm/dbcall"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/jsonout"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// An Event is what the page's app.on(type, fn) hooks receive, as JSON:
//
//	message      → {type, task, message}   (message.pending: verified, still
//	               being stored; it comes again without pending once stored,
//	               or with withdrawn too if it was not stored in time),
//	               or {type, task, count}: count messages received at once
//	               (a catch-up), not one by one: read the timeline
//	task         → {type, task}
//	member       → {type, task, peer, state}   (state 'added', 'paired', 'removed')
//	removed      → {type, task, peer}   (this profile was removed from task by peer, its creator)
//	peer         → {type, peer, state, relay}   (the own id: the App's State;
//	               relay: the relay node's URL while online)
//	error        → {type, error}
//	equivocation → {type, task, peer, evidence}
//	fork         → {type, task, peer, state, error}   (state '', 'healed', 'followed')
//	receipt      → {type, task, peer, state}   (the member's receipt moved, or with
//	               state 'mirror' a mirror's receipt of the copy for peer: app.members())
//	restore      → {type, peer, state, restore, error}   (room.EventRestore;
//	               restore: a room.RestoreStatus)
//	mirror       → {type, peer, state, task, error}   (room.EventMirror: peer is
//	               the mirror; state 'online', 'offline', 'gone', 'refused')
//	book         → {type, book}          (a change to a book: dbcall.BookEvent)
//	device       → {type, peer, device, state}   (room.EventDevice: peer is the
//	               person, device the device 'added' or 'revoked')
//	link         → {type, state, device, label, error}   (EventLink: the pairing
//	               code this device shows; state 'waiting', 'linked', 'failed')
//	unread       → {type, task}   (room.EventUnread: the task's unread count
//	               changed; app.tasks() gives it)
//
// Zero fields are left out of the JSON.
type Event struct {
	Type     room.EventType      `json:"type"`
	Task     room.TaskID         `json:"task"`
	Message  *MessageView        `json:"message,omitempty"`
	Peer     identity.ID         `json:"peer"`
	State    string              `json:"state,omitempty"`
	Error    string              `json:"error,omitempty"`
	Evidence *room.Equivocation  `json:"evidence,omitempty"`
	Book     *dbcall.BookEvent   `json:"book,omitempty"` // EventBook
	Restore  *room.RestoreStatus `json:"restore,omitempty"`
	Device   identity.ID         `json:"device,omitzero"` // EventDevice, EventLink
	Label    string              `json:"label,omitempty"` // EventLink
	Relay    string              `json:"relay,omitempty"` // own EventPeer while online
	Count    int                 `json:"count,omitempty"` // EventMessage of many messages
}

// MarshalJSON writes ev with its zero fields left out, "type" first (the
// tabs and the JS API read it alone: package jsonhead), then task,
// message, peer, state, error, evidence, book, restore, device, label,
// relay and count: byte for byte as json.Marshal wrote such a struct by
// reflection (TestEventJSONAsMarshal keeps that struct). An event goes to
// the page for every message, and the reflection was most of its cost;
// the rare parts (evidence, book, restore) are still marshalled by it.
func (ev Event) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 128)
	if ev.Message != nil {
		b = make([]byte, 0, 128+ev.Message.size())
	}
	b = append(b, `{"type":`...)
	b = jsonout.String(b, string(ev.Type))
	if ev.Task != (room.TaskID{}) {
		b = append(b, `,"task":"`...)
		b = append(append(b, ev.Task.String()...), '"') // z-base-32: nothing to escape
	}
	var err error
	if ev.Message != nil {
		b = append(b, `,"message":`...)
		if b, err = ev.Message.appendJSON(b); err != nil {
			return nil, err
		}
	}
	if !ev.Peer.IsZero() {
		b = appendID(append(b, `,"peer":`...), ev.Peer)
	}
	b = appendString(b, "state", ev.State)
	b = appendString(b, "error", ev.Error)
	for _, o := range []struct {
		name string
		v    any
		set  bool
	}{{"evidence", ev.Evidence, ev.Evidence != nil}, {"book", ev.Book, ev.Book != nil}, {"restore", ev.Restore, ev.Restore != nil}} {
		if !o.set {
			continue
		}
		v, err := json.Marshal(o.v)
		if err != nil {
			return nil, err
		}
		b = append(appendKey(b, o.name), v...)
	}
	if !ev.Device.IsZero() {
		b = appendID(append(b, `,"device":`...), ev.Device)
	}
	b = appendString(b, "label", ev.Label)
	b = appendString(b, "relay", ev.Relay)
	if ev.Count != 0 {
		b = jsonout.Int(append(b, `,"count":`...), int64(ev.Count))
	}
	return append(b, '}'), nil
}

// appendString appends ,"name":s unless s is "" (omitempty).
func appendString(b []byte, name, s string) []byte {
	if s == "" {
		return b
	}
	return jsonout.String(appendKey(b, name), s)
}

// appendKey appends ,"name": (a name of ours: nothing to escape).
func appendKey(b []byte, name string) []byte {
	return append(append(append(b, ',', '"'), name...), '"', ':')
}

// appendID appends id as a JSON string (z-base-32: nothing to escape).
func appendID(b []byte, id identity.ID) []byte {
	return append(append(append(b, '"'), id.String()...), '"')
}

// eventOf is a messenger event as the page sees it.
func eventOf(ev room.Event, m *room.Messenger) Event {
	e := Event{Type: ev.Type, Task: ev.Task, Peer: ev.Peer, State: ev.State, Evidence: ev.Evidence, Restore: ev.Restore, Device: ev.Device, Count: ev.Count}
	if ev.Message != nil {
		v := View(ev.Message, m)
		v.Pending = ev.Pending
		v.Withdrawn = ev.Withdrawn
		e.Message = &v
	}
	if ev.Err != nil {
		e.Error = ev.Err.Error()
	}
	return e
}

// MessageView is a message as the page sees it: the standard format plus
// its id (for replies) and key (for paging).
type MessageView struct {
	*room.Message
	ID  string `json:"id"`
	Key string `json:"key"`
	Raw string `json:"raw,omitempty"` // an invalid page, as text
	// Person is whose device wrote it (head.by for a first device);
	// Device the device's label.
	Person identity.ID `json:"person"`
	Device string      `json:"device,omitempty"`
	// Name is the author's person's display name, "" if not known;
	// Edited the date of the newest edit (Unix ms), Deleted that it was
	// deleted: Data is then the newest version (msgs.go).
	Name    string `json:"name,omitempty"`
	Edited  int64  `json:"edited,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// Pending: a member's message verified and still being stored
	// (room.Event.Pending); the same message follows without it once
	// stored.
	Pending bool `json:"pending,omitempty"`
	// Withdrawn (with Pending): the message shown pending was not stored
	// in time and is no longer shown (room.Event.Withdrawn); if it is
	// stored later, it comes again then.
	Withdrawn bool `json:"withdrawn,omitempty"`
}

// MarshalJSON writes v as json.Marshal writes its fields by reflection
// (the message's, then the view's), without the reflection (see Event's).
func (v MessageView) MarshalJSON() ([]byte, error) { return v.appendJSON(make([]byte, 0, v.size())) }

// size is about the bytes of v's JSON (a buffer's capacity).
func (v *MessageView) size() int {
	if v.Message == nil {
		return 256
	}
	return 512 + len(v.Message.Data) + len(v.Raw)
}

func (v *MessageView) appendJSON(b []byte) ([]byte, error) {
	if v.Message != nil {
		var err error
		if b, err = v.Message.AppendJSON(b); err != nil {
			return nil, err
		}
		b[len(b)-1] = ',' // the message's fields, then the view's
	} else {
		b = append(b, '{')
	}
	b = append(b, `"id":`...)
	b = jsonout.String(b, v.ID)
	b = append(b, `,"key":`...)
	b = jsonout.String(b, v.Key)
	b = appendString(b, "raw", v.Raw)
	b = appendID(append(b, `,"person":`...), v.Person)
	b = appendString(b, "device", v.Device)
	b = appendString(b, "name", v.Name)
	if v.Edited != 0 {
		b = jsonout.Int(append(b, `,"edited":`...), v.Edited)
	}
	for _, f := range []struct {
		name string
		set  bool
	}{{"deleted", v.Deleted}, {"pending", v.Pending}, {"withdrawn", v.Withdrawn}} {
		if f.set {
			b = append(appendKey(b, f.name), "true"...)
		}
	}
	return append(b, '}'), nil
}

// View is m as the page sees it; ms says whose device wrote it (nil: the
// author is its own person).
func View(m *room.Message, ms *room.Messenger) MessageView {
	v := MessageView{Message: m, ID: m.Ref().String(), Key: m.Key().String(), Person: m.Head.By}
	if ms != nil {
		v.Person, v.Device = ms.DeviceOf(m.Head.By)
		v.Name = ms.NameOf(m.Head.By)
	}
	if m.Type == room.TypeInvalid {
		v.Raw = string(m.Raw)
	}
	return v
}

// TaskNode is a task in the tree Tasks returns.
type TaskNode struct {
	room.TaskInfo
	Children []*TaskNode `json:"children"`
}

// tree is infos as a tree: roots in the order given, each with its
// children (a subtask whose parent is not among infos is a root).
func tree(infos []room.TaskInfo) []*TaskNode {
	nodes := make(map[room.TaskID]*TaskNode, len(infos))
	for _, t := range infos {
		nodes[t.ID] = &TaskNode{TaskInfo: t, Children: []*TaskNode{}}
	}
	roots := []*TaskNode{}
	for _, t := range infos {
		n := nodes[t.ID]
		if t.Parent != nil && nodes[*t.Parent] != nil && *t.Parent != t.ID {
			p := nodes[*t.Parent]
			p.Children = append(p.Children, n)
		} else {
			roots = append(roots, n)
		}
	}
	return roots
}
