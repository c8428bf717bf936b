package room

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Display names (issue #16). A person has a name it chose; its members
// learn it from its task or join message (data.name, optional: older books
// carry none) and from its renames, a message of its own written to every
// task:
//
//	{type: "name", data: {name}}
//
// The newest by the author's date wins (a person's names are its own word,
// whichever task said it). Names are cleaned (CleanName) and bounded by
// MaxName; the profile keeps every name it learned in its tasks book
// (record "name"), so the names survive a reload without a scan.
const (
	TypeName = "name" // the author's person is called data.name from now on
	// EventName: the person Peer took a new name (learned in Task; zero
	// for this profile's own).
	EventName EventType = "name"
	// MaxName bounds a name's bytes, once cleaned.
	MaxName = 64
	// opName records a person's name: {"op":"name","peer":P,"name":…,"date":ms}.
	opName = "name"
)

// ErrBadName means a name that is empty or too long once cleaned.
var ErrBadName = errors.New("room: bad name")

// nameState is the newest name known of a person.
type nameState struct {
	name string
	date int64 // the author's date of the message that said it
}

// CleanName returns a name fit to show: without control characters or
// bidirectional controls (U+200E, U+200F, U+061C, U+202A–U+202E,
// U+2066–U+2069: they would reorder the text around it), invalid UTF-8
// replaced, runs of spaces made one, trimmed.
func CleanName(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r) || isBidiControl(r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// isBidiControl reports the characters that change the direction of the
// text around them.
func isBidiControl(r rune) bool {
	return r == 0x200E || r == 0x200F || r == 0x061C || r >= 0x202A && r <= 0x202E || r >= 0x2066 && r <= 0x2069
}

// checkName cleans a name and checks its bounds.
func checkName(name string) (string, error) {
	name = CleanName(name)
	switch {
	case name == "":
		return "", fmt.Errorf("%w: a name needs a letter", ErrBadName)
	case len(name) > MaxName:
		return "", fmt.Errorf("%w: %d bytes, at most %d", ErrBadName, len(name), MaxName)
	}
	return name, nil
}

// clipName cleans a peer's name and cuts it to MaxName bytes (at a
// character's boundary): a join is never refused for its name.
func clipName(name string) string {
	name = CleanName(name)
	for len(name) > MaxName {
		_, n := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-n]
	}
	return strings.TrimSpace(name)
}

// Name returns this profile's name, "" if it has none yet.
func (m *Messenger) Name() string { return m.NameOf(m.person) }

// NameOf returns the newest name known of a person (or of a device: its
// person's), "" if none.
func (m *Messenger) NameOf(id identity.ID) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.names[m.personLocked(id)].name
}

// SetName names this profile's person: kept in the profile, and told to
// the members of every task (a "name" message in each).
func (m *Messenger) SetName(ctx context.Context, name string) error {
	name, err := checkName(name)
	if err != nil {
		return err
	}
	if err := m.checkRestoring(); err != nil {
		return err
	}
	date := m.cfg.Now().UnixMilli()
	if err := m.keepRecord(ctx, record{Op: opName, Peer: m.person, Name: name, Date: date}); err != nil {
		return err
	}
	m.emit(Event{Type: EventName, Peer: m.person})
	var errs []error
	for _, id := range m.taskOrder() {
		t := m.task(id)
		if t == nil || t.log == nil {
			continue
		}
		if _, err := m.write(ctx, t, TypeName, map[string]any{"name": name}, nil); err != nil && !errors.Is(err, ErrRemoved) {
			errs = append(errs, fmt.Errorf("task %s: %w", id, err))
		}
	}
	return errors.Join(errs...)
}

// withName adds this profile's name, if it has one, to the data of its
// task or join message.
func (m *Messenger) withName(data map[string]any) map[string]any {
	if name := m.Name(); name != "" {
		data["name"] = name
	}
	return data
}

// learnName takes the name a member's task, join or name message says
// its author's person has, if newer than the one known.
func (m *Messenger) learnName(ctx context.Context, t *task, msg Message) {
	if msg.Type != TypeName && msg.Type != TypeJoin && msg.Type != TypeTask {
		return
	}
	var d struct {
		Name *string `json:"name"`
	}
	if json.Unmarshal(msg.Data, &d) != nil || d.Name == nil {
		return
	}
	name := clipName(*d.Name)
	if name == "" {
		return
	}
	person := m.PersonOf(msg.Head.By)
	m.mu.Lock()
	old, known := m.names[person]
	newer := !known || msg.Meta.Date > old.date || msg.Meta.Date == old.date && name > old.name
	m.mu.Unlock()
	if !newer || old.name == name && known {
		return
	}
	if err := m.keepRecord(ctx, record{Op: opName, Peer: person, Name: name, Date: msg.Meta.Date}); err != nil {
		m.fail(err)
		return
	}
	m.emit(Event{Type: EventName, Task: t.id, Peer: person})
}

// applyName takes a name record. Called with m.mu held.
func (m *Messenger) applyName(r record) {
	name := clipName(r.Name)
	if name == "" {
		return
	}
	if m.names == nil {
		m.names = make(map[identity.ID]nameState)
	}
	if old, ok := m.names[r.Peer]; !ok || r.Date >= old.date {
		m.names[r.Peer] = nameState{name: name, date: r.Date}
	}
}

// nameMembers fills in the names of members' persons.
func (m *Messenger) nameMembers(ms []MemberInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range ms {
		p := ms[i].Person
		if p.IsZero() {
			p = ms[i].ID
		}
		ms[i].Name = m.names[p].name
	}
}
