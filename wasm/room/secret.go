package room

import (
	"bytes"
	"context"
	"fmt"
	"maps"

	"github.com/task-messenger/task-messenger/wasm/seal"
)

// Task secrets (issue #13). Every task has a secret its members share: the
// key its pages will be sealed under (package seal), so that a mirror or
// anyone else holding a copy of a book cannot read it. The profile that
// creates a task makes it; a member gives it in every joined answer (to a
// newcomer and to a member pairing) and in a restore's held answer, over
// the authenticated, sealed port; each profile keeps it in its private
// tasks book (a task record's or a secret record's "secret"). A task made
// before secrets existed gets one from its host when the host next answers
// a join. The first secret a profile learns for a task is the one it keeps:
// a member that later sends another is logged, not followed. A member
// removed from the task will not get the next one (rotation: issue #13).

// takeSecretLocked keeps secret as t's of epoch if it has none of it, and
// seals from then on with the latest epoch it knows. Called with m.mu
// held (or before the messenger runs).
func (t *task) takeSecretLocked(epoch uint32, secret []byte) {
	if t.secrets[epoch] != nil || len(secret) != seal.KeySize {
		return
	}
	next := make(secrets, len(t.secrets)+1) // copied on write: seals keep snapshots
	maps.Copy(next, t.secrets)
	next[epoch] = bytes.Clone(secret)
	t.secrets = next
	if len(next) == 1 || epoch > t.epoch {
		t.epoch = epoch
	}
}

// secretLocked returns the secret t's pages are sealed with now; nil
// until known. Called with m.mu held.
func (t *task) secretLocked() []byte { return t.secrets[t.epoch] }

// learnSecret records secret (from a member) as t's if t has none yet.
func (m *Messenger) learnSecret(ctx context.Context, t *task, secret []byte) error {
	if len(secret) != seal.KeySize {
		return nil
	}
	m.mu.Lock()
	known := t.secrets[0]
	m.mu.Unlock()
	switch {
	case known == nil:
	case !bytes.Equal(known, secret):
		m.log.Warn("room: a member sent another secret for a task: the first is kept", "task", t.id)
		return nil
	default:
		return nil
	}
	r := record{Op: opSecret, Task: t.id, Secret: secret}
	if err := m.writeRecord(ctx, r); err != nil {
		return fmt.Errorf("room: task %s: keep its secret: %w", t.id, err)
	}
	m.mu.Lock()
	t.takeSecretLocked(0, secret)
	m.mu.Unlock()
	return nil
}

// secretOf returns t's first secret (epoch 0) to give to a member; the host of a task
// that has none yet (made before secrets) makes it now. Nil if this
// profile neither has one nor hosts the task: a member that has it gives it.
func (m *Messenger) secretOf(ctx context.Context, t *task) ([]byte, error) {
	m.mu.Lock()
	secret, host := t.secrets[0], t.host
	m.mu.Unlock()
	if secret != nil || host != m.self {
		return secret, nil
	}
	secret, err := seal.NewSecret()
	if err != nil {
		return nil, err
	}
	if err := m.learnSecret(ctx, t, secret); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return t.secrets[0], nil
}

// Secret returns the task's secret (nil if this profile does not know it
// yet): for the page's sealing and for tests.
func (m *Messenger) Secret(id TaskID) []byte {
	t := m.task(id)
	if t == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return bytes.Clone(t.secretLocked())
}
