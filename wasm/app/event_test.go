package app

import (
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/dbcall"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// viewByReflection is a MessageView without its MarshalJSON: as
// json.Marshal writes it by reflection.
type viewByReflection MessageView

// eventByReflection is an Event as json.Marshal wrote it by reflection
// before MarshalJSON wrote it by hand: zero ids left out, the message's
// view by reflection too.
type eventByReflection struct {
	Type     room.EventType      `json:"type"`
	Task     *room.TaskID        `json:"task,omitempty"`
	Message  *viewByReflection   `json:"message,omitempty"`
	Peer     *identity.ID        `json:"peer,omitempty"`
	State    string              `json:"state,omitempty"`
	Error    string              `json:"error,omitempty"`
	Evidence *room.Equivocation  `json:"evidence,omitempty"`
	Book     *dbcall.BookEvent   `json:"book,omitempty"`
	Restore  *room.RestoreStatus `json:"restore,omitempty"`
	Device   *identity.ID        `json:"device,omitempty"`
	Label    string              `json:"label,omitempty"`
	Relay    string              `json:"relay,omitempty"`
	Count    int                 `json:"count,omitempty"`
}

// TestEventJSONAsMarshal: events and message views written by hand are
// what json.Marshal wrote by reflection, byte for byte.
func TestEventJSONAsMarshal(t *testing.T) {
	ana := identity.New(identity.Seed{1}).ID()
	bob := identity.New(identity.Seed{2}).ID()
	r := rand.New(rand.NewPCG(5, 6))
	pick := func(ss ...string) string { return ss[r.IntN(len(ss))] }
	for i := range 3000 {
		ev := Event{Type: room.EventType(pick("message", "peer", "fork", "x<y>&\"")), State: pick("", "online", "a\u2028b"),
			Error: pick("", "storage is full <3", "bad \xff"), Label: pick("", "laptop"), Relay: pick("", "ws://127.0.0.1:8080/ws?a=1&b=2"),
			Count: []int{0, 0, 1, 10000, -1}[r.IntN(5)]}
		if r.IntN(2) == 0 {
			ev.Task = room.TaskID{byte(i), 7}
		}
		if r.IntN(2) == 0 {
			ev.Peer = bob
		}
		if r.IntN(4) == 0 {
			ev.Device = ana
		}
		switch r.IntN(8) {
		case 0:
			ev.Evidence = &room.Equivocation{Task: room.TaskID{1}, Author: ana, Mid: 3}
		case 1:
			ev.Book = &dbcall.BookEvent{Type: "append", Key: ana, Index: 4}
		case 2:
			ev.Restore = &room.RestoreStatus{ID: bob}
		}
		if r.IntN(3) > 0 {
			m := &room.Message{Head: room.Head{By: ana, Mid: r.Uint64N(1000)}, Type: pick(room.TypeChat, room.TypeInvalid, "t\x01"),
				Data: json.RawMessage(pick("", `{"text":"hi <b>"}`, " [1, \"\u2029\"] ")), Meta: room.Meta{Date: r.Int64N(1 << 45), Clock: r.Uint64()}}
			if len(m.Data) == 0 {
				m.Data = nil
			}
			if r.IntN(2) == 0 {
				m.Refs.Cause = &room.Ref{By: bob, Mid: 9}
			}
			if m.Type == room.TypeInvalid {
				m.Reason = "not JSON"
			}
			v := View(m, nil)
			v.Raw = pick("", "raw <page>")
			v.Device, v.Name = pick("", "phone"), pick("", "Ana & co")
			v.Edited = []int64{0, 0, 1700000000000}[r.IntN(3)]
			v.Deleted, v.Pending, v.Withdrawn = r.IntN(2) == 0, r.IntN(2) == 0, r.IntN(3) == 0
			ev.Message = &v
		}
		o := eventByReflection{Type: ev.Type, Message: (*viewByReflection)(ev.Message), State: ev.State, Error: ev.Error,
			Evidence: ev.Evidence, Book: ev.Book, Restore: ev.Restore, Label: ev.Label, Relay: ev.Relay, Count: ev.Count}
		if ev.Task != (room.TaskID{}) {
			o.Task = &ev.Task
		}
		if !ev.Peer.IsZero() {
			o.Peer = &ev.Peer
		}
		if !ev.Device.IsZero() {
			o.Device = &ev.Device
		}
		want, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ev.MarshalJSON()
		if err != nil || string(got) != string(want) {
			t.Fatalf("Event.MarshalJSON = %s, %v\nwant %s", got, err, want)
		}
		if ev.Message != nil {
			want, _ := json.Marshal((*viewByReflection)(ev.Message))
			if got, err := json.Marshal(ev.Message); err != nil || string(got) != string(want) {
				t.Fatalf("json.Marshal(view) = %s, %v\nwant %s", got, err, want)
			}
		}
	}
	// A view of no message has the view's fields alone, in an event too.
	want, _ := json.Marshal(viewByReflection{ID: "x", Person: ana})
	if got, err := (MessageView{ID: "x", Person: ana}).MarshalJSON(); err != nil || string(got) != string(want) {
		t.Fatalf("MarshalJSON of a view without its message = %s, %v; want %s", got, err, want)
	}
	ev := Event{Type: room.EventMessage, Message: &MessageView{ID: "x", Person: ana}}
	if got, err := ev.MarshalJSON(); err != nil || string(got) != `{"type":"message","message":`+string(want)+`}` {
		t.Fatalf("an event of a view without its message: %s, %v", got, err)
	}
	// Lists of views as Do returns timeline's: as json.Marshal writes them.
	for _, vs := range [][]MessageView{nil, {}, {{ID: "x", Person: ana}, View(&room.Message{Head: room.Head{By: bob, Mid: 1}, Type: room.TypeChat, Data: json.RawMessage(`{"text":"a <b>"}`)}, nil)}} {
		want, _ := json.Marshal(vs)
		if got, err := marshalViews(vs); err != nil || string(got) != string(want) {
			t.Fatalf("marshalViews(%v) = %s, %v; want %s", vs, got, err, want)
		}
	}
}
