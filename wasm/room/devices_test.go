package room

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// newDevice links a new device of person's to it: person's identity
// signs its key, and the device opens with the bundle.
func newDevice(t *testing.T, url string, person *node, name string, n byte) *node {
	t.Helper()
	var seed identity.Seed
	for i := range seed {
		seed[i] = n
	}
	d := &node{t: t, name: name, url: url, seed: seed, st: store.NewMemory()}
	cert, err := person.SignDevice(identity.New(seed).ID(), name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := person.Link(testCtx(t), cert)
	if err != nil {
		t.Fatal(err)
	}
	// The bundle travels as JSON.
	enc, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	d.link = new(LinkBundle)
	if err := json.Unmarshal(enc, d.link); err != nil {
		t.Fatal(err)
	}
	d.device = &Self{Cert: cert}
	d.start()
	t.Cleanup(d.stop)
	return d
}

func TestLinkedDevices(t *testing.T) {
	url := startRelay(t)
	bob, ana := newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(t), "Two devices", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, task.ID)
	bob.send(task.ID, "before the phone", nil)
	ana.send(task.ID, "ana before", nil)
	converged(t, task.ID, 5, bob, ana) // create, member, join, 2 chats

	// The phone gets the whole history, with the announcement, and
	// everyone sees it as Bob's.
	phone := newDevice(t, url, bob, "phone", 7)
	if phone.Person() != bob.ID() || phone.CanLink() {
		t.Fatalf("phone: person %s, can link %v", phone.Person().Short(), phone.CanLink())
	}
	converged(t, task.ID, 6, bob, ana, phone)
	eventually(t, "ana knows the phone is Bob's", func() bool {
		mi, ok := ana.member(task.ID, phone.ID())
		return ok && mi.Person == bob.ID() && mi.Label == "phone"
	}, state(task.ID, ana))

	// Both of Bob's devices write at once: Ana shows every message once,
	// in the order all three agree on.
	var wg sync.WaitGroup
	for _, n := range []*node{bob, phone, ana} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				if _, err := n.Send(testCtx(t), task.ID, fmt.Sprintf("%s %d", n.name, i), nil); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	lines := converged(t, task.ID, 21, bob, ana, phone)
	seen := map[string]bool{}
	for _, l := range lines {
		if seen[l] {
			t.Fatalf("a message twice: %s", l)
		}
		seen[l] = true
	}

	// Bob revokes the phone: its later messages are refused everywhere,
	// and the task's secret moves on without it.
	if err := bob.RevokeDevice(testCtx(t), phone.ID()); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ana removes the phone", func() bool {
		mi, ok := ana.member(task.ID, phone.ID())
		return ok && mi.Removed
	}, state(task.ID, ana))
	eventually(t, "the phone knows it was revoked", func() bool {
		_, err := phone.Send(testCtx(t), task.ID, "after", nil)
		return errors.Is(err, ErrDeviceRevoked)
	}, state(task.ID, phone))
	phone.rawWrite(task.ID, phone.forged(Message{Type: TypeChat, Data: json.RawMessage(`{"text":"forged after"}`), Meta: Meta{Date: MinDate, Clock: 1000}}))
	bob.send(task.ID, "after the revocation", nil)
	eventually(t, "ana has bob's last", func() bool { return ana.hasChat(task.ID, bob.ID(), "after the revocation") }, state(task.ID, ana))
	if ana.hasChat(task.ID, phone.ID(), "forged after") || bob.hasChat(task.ID, phone.ID(), "forged after") {
		t.Fatal("a revoked device's message is shown")
	}
	ana.mu.Lock()
	at := ana.tasks[task.ID]
	epoch := at.epoch
	ana.mu.Unlock()
	phone.mu.Lock()
	_, phoneHas := phone.tasks[task.ID].secrets[epoch]
	phone.mu.Unlock()
	if epoch == 0 || phoneHas {
		t.Fatalf("after the revocation ana seals with epoch %d; the phone has it: %v", epoch, phoneHas)
	}
	if got := bob.Devices(); len(got) != 2 || !got[1].Revoked {
		t.Fatalf("bob's devices: %+v", got)
	}
}
