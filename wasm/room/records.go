package room

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// The profile's own record of its tasks is the private book "tasks" (its
// name addresses no reader, so it is never replicated). Each page is one
// JSON record; replaying them at open rebuilds the tasks, their titles and
// members, and the keys of the members' books:
//
//	{"op":"task",   "task":T, "title":…, "parent":P, "host":H, "date":ms}
//	{"op":"title",  "task":T, "title":…, "clock":c, "by":X}
//	{"op":"member", "task":T, "peer":X, "by":Y}    Y: the member that announced X, or this profile
//	                                               (X joined through its invite); none: X is the
//	                                               member this profile joined through
//	{"op":"pair",   "task":T, "peer":X, "key":K, "from":1}
//	                                               K: X's book to this profile; from: its pages
//	                                               the worker has taken (taken.go), none yet
//	{"op":"invite", "task":T, "invite":S, "expires":ms}   S: SHA-256 of an invite's secret, hex;
//	                                               expires: 0 for never
//	{"op":"revoke", "task":T, "invite":S}
//	{"op":"refuse", "task":T, "peer":X, "mid":n, "why":…}  X's message n is shown as invalid (a
//	                                               clock too far ahead)
//	{"op":"secret", "task":T, "secret":S}         S (base64, 32 bytes): the task's secret, shared
//	                                               by its members (secret.go); also in a task record
//	{"op":"succeed", "task":T, "peer":X, "key":K, "gen":g, "mid":f, "shift":d}
//	                                               this profile's book to X forked: it goes on in K,
//	                                               the successor g, whose page p is the log's message
//	                                               f+p, renumbered f+p+d for X (successor.go)
//	{"op":"follow", "task":T, "peer":X, "key":K, "gen":g, "mid":f, "from":1}
//	                                               X's book to this profile forked: X goes on in K,
//	                                               whose page p is X's message f+p
//	{"op":"restoring", "date":ms}                  the profile restores from its seed alone
//	                                               (restore.go): it writes nothing shared yet
//	{"op":"restored", "date":ms, "why":…}          the restore finished
//	{"op":"device", "cert":C}                      a device's verified certificate (devices.go)
//	{"op":"unlink", "revocation":R}                a verified revocation of a device (devices.go)
//	{"op":"recalling", "date":ms}                  a device restored from the recovery code
//	                                               recalls its person's tasks (recall.go)
//	{"op":"recalled", "date":ms}                   the recall finished
//	{"op":"forget", "task":T}                      this profile deleted its copy of T (leave.go)
//	{"op":"left", "task":T, "peer":X}              X left T: its leave message (leave.go)
//	{"op":"remove", "task":T, "peer":X, "by":Y, "mid":n}  Y removed X (remove.go); n: X's
//	                                               messages this profile held then
//	{"op":"allow", "task":T, "peer":X}            the creator allowed X to remove members
//	{"op":"claim", "task":T, "peer":X, "by":Y}    Y's "remove" of X, read before this profile
//	                                               knew Y may remove: acted on once it does
//	{"op":"departed", "task":T, "peer":X, "key":K, "from":1}
//	                                               X left T before this profile joined: K is
//	                                               X's book to the member joined through, read
//	                                               as X's book to this profile (departed.go)
const tasksBook = "tasks"

// Record ops.
const (
	opTask    = "task"
	opTitle   = "title"
	opMember  = "member"
	opPair    = "pair"
	opInvite  = "invite"
	opRevoke  = "revoke"
	opRefuse  = "refuse"
	opSecret  = "secret"
	opRemove  = "remove" // peer removed by by (remove.go)
	opAllow   = "allow"  // peer may remove members (remove.go)
	opClaim   = "claim"  // by's removal of peer, read before by was allowed (remove.go)
	opSucceed = "succeed"
	opFollow  = "follow"
)

// Bounds on what a user or a peer may write.
const (
	MaxTitle   = 200      // bytes of a task title
	MaxText    = 16 << 10 // bytes of a chat message
	MaxMembers = 256      // members of one task
	// MaxIntroduced is the most members one member, and the members it
	// introduced, may bring into a task as this profile sees it
	// (announcements beyond are shown, not acted on), and the most this
	// profile admits by its invites: a hostile member cannot fill a task
	// alone, however it chains identities of its own.
	MaxIntroduced = 64
	maxRecord     = 4 << 10   // bytes of a tasks record
	maxWire       = 256 << 10 // bytes of a room protocol message
)

type record struct {
	Op     string      `json:"op"`
	Task   TaskID      `json:"task"`
	Title  string      `json:"title,omitempty"`
	Parent *TaskID     `json:"parent,omitempty"`
	Host   identity.ID `json:"host,omitzero"`
	Date   int64       `json:"date,omitempty"`
	Peer   identity.ID `json:"peer,omitzero"`
	Key    identity.ID `json:"key,omitzero"`
	Clock  uint64      `json:"clock,omitempty"`
	By     identity.ID `json:"by,omitzero"`
	Invite string      `json:"invite,omitempty"`
	Exp    int64       `json:"expires,omitempty"`
	Mid    uint64      `json:"mid,omitempty"`
	Why    string      `json:"why,omitempty"`
	Gen    int         `json:"gen,omitempty"`
	Shift  uint64      `json:"shift,omitempty"`
	Secret []byte      `json:"secret,omitempty"`
	Epoch  uint32      `json:"epoch,omitempty"` // the secret's epoch (secret.go)
	// Creator: who made the task (opTask; remove.go).
	Creator identity.ID `json:"creator,omitzero"`
	// Cert and Revocation of a device (opDevice, opUnlink; devices.go).
	Cert       json.RawMessage `json:"cert,omitempty"`
	Revocation json.RawMessage `json:"revocation,omitempty"`
	// Name of a person (opName; names.go).
	Name string `json:"name,omitempty"`
	// Edit: the mid of the edit or delete of message Mid by Peer;
	// Deleted: it is a delete (opEdit; edits.go).
	Edit    uint64 `json:"edit,omitempty"`
	Deleted bool   `json:"deleted,omitempty"`
	// From: the pages of book Key the worker has taken (opPair,
	// opFollow; taken.go): 1, none yet. Absent in records written before
	// there were cursors.
	From uint64 `json:"from,omitempty"`
}

// checkTitle trims a title and checks its bounds.
func checkTitle(title string) (string, error) {
	title = strings.TrimSpace(title)
	switch {
	case title == "":
		return "", fmt.Errorf("room: a task needs a title")
	case len(title) > MaxTitle:
		return "", fmt.Errorf("room: title of %d bytes, at most %d", len(title), MaxTitle)
	case !utf8.ValidString(title):
		return "", fmt.Errorf("room: title is not UTF-8")
	}
	return title, nil
}

// logName is the name of the profile's own log of a task: every message it
// wrote in the task, from the first. Not addressed to a reader, so private;
// each book to a member is a copy of it (page i is the same message).
func logName(self identity.ID, t TaskID) string { return self.String() + "-" + t.String() }

// pairName is "${author}-${reader}-${task}", the seed's one-way chat log.
func pairName(author, reader identity.ID, t TaskID) string {
	return author.String() + "-" + reader.String() + "-" + t.String()
}

// genesisMeta is the meta of a task book's first page: which task, for
// whom. Nothing a member says in the task (its title, parent, members): a
// genesis is not sealed, and a mirror holds it (sealing.go).
type genesisMeta struct {
	Task TaskID      `json:"task"`
	To   identity.ID `json:"to,omitzero"`
	// Follows: this book is a successor (successor.go).
	Follows *follows `json:"follows,omitempty"`
}

func (g genesisMeta) encode() []byte {
	b, _ := json.Marshal(g)
	if len(b) > journal.MaxGenesisMeta && g.Follows != nil {
		f := *g.Follows
		f.Fork = nil // cited by the book it continues only
		g.Follows = &f
		b, _ = json.Marshal(g)
	}
	return b
}

func (m *Messenger) writeRecord(ctx context.Context, r record) error {
	b, err := encodeRecord(r)
	if err != nil {
		return err
	}
	_, err = m.tasksLog.Append(ctx, b)
	return err
}

// keepRecord writes a record to the tasks book, then applies it.
func (m *Messenger) keepRecord(ctx context.Context, r record) error {
	if err := m.writeRecord(ctx, r); err != nil {
		return err
	}
	m.mu.Lock()
	m.apply(r)
	m.mu.Unlock()
	return nil
}

// encodeRecord returns a record as a tasks book page.
func encodeRecord(r record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err == nil && len(b) > maxRecord {
		err = fmt.Errorf("room: a tasks record of %d bytes, at most %d", len(b), maxRecord)
	}
	return b, err
}

// replay rebuilds the tasks from the tasks book.
func (m *Messenger) replay(ctx context.Context) error {
	n := m.tasksLog.Len()
	for start := uint64(1); start < n; start += 1024 {
		end := min(start+1024, n)
		pages, err := m.tasksLog.GetRange(ctx, start, end)
		if err != nil {
			return fmt.Errorf("room: read tasks: %w", err)
		}
		ps := m.privateSeal(m.tasksLog.Key())
		for i, p := range pages {
			r, err := m.openRecord(ps, start+uint64(i), p)
			if err != nil {
				m.log.Warn("room: skipping a bad tasks record", "index", start+uint64(i))
				continue
			}
			m.apply(r)
		}
	}
	return nil
}

// apply applies a record to the in-memory state. Called with m.mu held or
// before the messenger runs.
func (m *Messenger) apply(r record) {
	switch r.Op {
	case opRestoring, opRestored:
		m.applyRestore(r)
		return
	case opDevice, opUnlink:
		m.applyDevice(r)
		return
	case opRecalling, opRecalled:
		m.applyRecall(r)
		return
	case opName:
		m.applyName(r)
		return
	}
	t := m.tasks[r.Task]
	if r.Op == opTask {
		if t == nil {
			t = newTask(r.Task, r.Title, r.Parent, r.Host, r.Date)
			t.creator = r.Creator
			m.tasks[r.Task] = t
			m.order = append(m.order, r.Task)
		}
		t.takeSecretLocked(r.Epoch, r.Secret)
		return
	}
	if t == nil {
		return
	}
	switch r.Op {
	case opTitle:
		k := Key{Clock: r.Clock, By: r.By}
		if t.titleKey.Compare(k) < 0 {
			t.title, t.titleKey = r.Title, k
		}
	case opMember:
		if _, known := t.members[r.Peer]; !known {
			if !r.By.IsZero() {
				t.introduced[t.rootLocked(m.self, r.By)]++
			}
			t.member(r.Peer).by = r.By
		}
	case opPair:
		t.member(r.Peer).inKey = r.Key
		m.takenLocked(r.Key, r.From)
	case opInvite, opRevoke:
		var h inviteHash
		if b, err := hex.DecodeString(r.Invite); err == nil && len(b) == len(h) {
			copy(h[:], b)
			if r.Op == opInvite {
				t.invites[h] = &inviteState{expires: r.Exp}
			} else if inv := t.invites[h]; inv != nil {
				inv.revoked = true
			}
		}
	case opSecret:
		t.takeSecretLocked(r.Epoch, r.Secret)
	case opRemove:
		m.applyRemoveLocked(t, r)
	case opAllow:
		t.removers[r.Peer] = true
	case opClaim:
		if !slices.Contains(t.claims[r.By], r.Peer) {
			if t.claims == nil {
				t.claims = make(map[identity.ID][]identity.ID)
			}
			t.claims[r.By] = append(t.claims[r.By], r.Peer)
		}
	case opEdit:
		t.applyEditLocked(r)
	case opForget, opLeft:
		m.applyLeaveLocked(t, r)
	case opDeparted:
		m.applyDepartedLocked(t, r)
	case opSucceed:
		mb := t.member(r.Peer)
		mb.outGen, mb.outFrom, mb.outShift = r.Gen, r.Mid, r.Shift
	case opFollow:
		mb := t.member(r.Peer)
		if r.Gen == len(mb.next)+1 {
			mb.next = append(mb.next, &successor{key: r.Key, gen: r.Gen, shift: r.Mid})
		}
		m.takenLocked(r.Key, r.From)
	case opRefuse:
		// Copied on write: timeline sources read the map without m.mu.
		marks := make(map[uint64]string, len(t.refused[r.Peer])+1)
		maps.Copy(marks, t.refused[r.Peer])
		marks[r.Mid] = r.Why
		t.refused[r.Peer] = marks
	}
}
