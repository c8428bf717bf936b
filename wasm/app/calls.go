package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/backup"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// MaxImport is the largest export or backup Import reads, in bytes of
// JSON (devtools' largest command, report.MaxResultSize).
const MaxImport = 64 << 20

// withMessenger runs fn with the running messenger and a ctx ended by
// Close too.
func (a *App) withMessenger(ctx context.Context, fn func(context.Context, *room.Messenger) error) error {
	ctx, done, err := a.enter(ctx)
	if err != nil {
		return err
	}
	defer done()
	m, err := a.messenger()
	if err != nil {
		return err
	}
	return a.closedErr(fn(ctx, m))
}

// CreateTask creates a task (a subtask of parent if not nil).
func (a *App) CreateTask(ctx context.Context, title string, parent *room.TaskID) (t room.TaskInfo, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) (err error) {
		t, err = m.CreateTask(ctx, title, parent)
		return err
	})
	return t, err
}

// Rename renames a task.
func (a *App) Rename(ctx context.Context, id room.TaskID, title string) error {
	return a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		return m.Rename(ctx, id, title)
	})
}

// Invite returns an invite code to a task.
func (a *App) Invite(ctx context.Context, id room.TaskID, opts room.InviteOptions) (code string, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) (err error) {
		code, err = m.Invite(ctx, id, opts)
		return err
	})
	return code, err
}

// RevokeInvite makes an invite code issued by this profile admit no one.
func (a *App) RevokeInvite(ctx context.Context, code string) error {
	return a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		return m.RevokeInvite(ctx, code)
	})
}

// RemoveMember removes a member from a task this profile created: the
// task's secret rotates, and the member gets nothing written after.
func (a *App) RemoveMember(ctx context.Context, id room.TaskID, member identity.ID) error {
	return a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		return m.RemoveMember(ctx, id, member)
	})
}

// AllowRemoving lets a member of a task this profile created remove
// members.
func (a *App) AllowRemoving(ctx context.Context, id room.TaskID, member identity.ID) error {
	return a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		return m.AllowRemoving(ctx, id, member)
	})
}

// Join joins a task by an invite code, waiting while its host is offline,
// until ctx ends or the App closes.
func (a *App) Join(ctx context.Context, code string) (t room.TaskInfo, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) (err error) {
		t, err = m.Join(ctx, code)
		return err
	})
	return t, err
}

// Send writes a chat message to a task, in reply to replyTo if not nil.
func (a *App) Send(ctx context.Context, id room.TaskID, text string, replyTo *room.Ref) (v MessageView, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		msg, err := m.Send(ctx, id, text, replyTo)
		if err == nil {
			v = View(&msg, m)
		}
		return err
	})
	return v, err
}

// SendOnce is Send with an idempotency key (room.SendOnce): with retry,
// a message of this profile's that carries nonce is returned rather than
// written again.
func (a *App) SendOnce(ctx context.Context, id room.TaskID, text string, replyTo *room.Ref, nonce string, retry bool) (v MessageView, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		msg, err := m.SendOnce(ctx, id, text, replyTo, nonce, retry)
		if err == nil {
			v = View(&msg, m)
		}
		return err
	})
	return v, err
}

// SendMany writes up to room.MaxBatch chat messages in one batch and
// returns how many were written.
func (a *App) SendMany(ctx context.Context, id room.TaskID, texts []string) (n int, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		msgs, err := m.SendMany(ctx, id, texts)
		n = len(msgs)
		return err
	})
	return n, err
}

// Timeline returns up to limit messages of a task before the key before
// (nil: the newest), oldest first.
func (a *App) Timeline(ctx context.Context, id room.TaskID, before *room.Key, limit int) (vs []MessageView, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		msgs, err := m.Timeline(ctx, id, before, limit)
		if err != nil {
			return err
		}
		vs = make([]MessageView, len(msgs))
		for i := range msgs {
			vs[i] = newestView(ctx, m, id, &msgs[i])
		}
		return nil
	})
	return vs, err
}

// Tasks is the task tree: roots in the order made or joined, each with
// its children (a subtask whose parent this profile does not have is a
// root).
func (a *App) Tasks() ([]*TaskNode, error) {
	m, err := a.messenger()
	if err != nil {
		return nil, err
	}
	return tree(m.Tasks()), nil
}

// Members lists a task's members.
func (a *App) Members(id room.TaskID) ([]room.MemberInfo, error) {
	m, err := a.messenger()
	if err != nil {
		return nil, err
	}
	return m.Members(id)
}

// Mirrors returns the health of the profile's mirrors (room.MirrorStatus).
func (a *App) Mirrors() ([]room.MirrorInfo, error) {
	m, err := a.messenger()
	if err != nil {
		return nil, err
	}
	return m.MirrorStatus(), nil
}

// Export returns every book of the profile and, with a passphrase, the
// profile's seed sealed under it (backup.New), so that an import restores
// the identity. Without one, Seal is nil and the JSON is the journal's
// export.
func (a *App) Export(ctx context.Context, passphrase string) (b *backup.Backup, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, _ *room.Messenger) error {
		a.mu.Lock()
		db := a.profile.DB
		a.mu.Unlock()
		b, err = backup.Of(ctx, db, passphrase)
		return err
	})
	return b, err
}

// Import verifies and imports an export or a backup (its JSON, at most
// MaxImport bytes), then restarts the messenger so imported tasks show.
// With a passphrase, the backup's seal is opened and the profile becomes
// the backup's (vault.Restore: the same profile, or an empty one; another
// identity is taken with Config.Take and the old one released); without,
// only the books are imported. Nothing is written if any of it fails.
func (a *App) Import(ctx context.Context, data []byte, passphrase string) ([]journal.ImportResult, error) {
	ctx, done, err := a.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	if _, err := a.messenger(); err != nil {
		return nil, err
	}
	if len(data) > MaxImport {
		return nil, fmt.Errorf("import(json): %w: %d bytes, at most %d", backup.ErrNotBackup, len(data), MaxImport)
	}
	b, err := backup.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("import(json): %w", err)
	}
	if err := a.lockCtx(ctx); err != nil {
		return nil, a.closedErr(err)
	}
	defer a.unlock()
	var res []journal.ImportResult
	if passphrase == "" {
		res, err = a.reimport(ctx, &b.Export)
	} else {
		res, err = a.restore(ctx, b, passphrase)
	}
	return res, a.closedErr(err)
}

// reimport imports ex with the messenger stopped, then starts it again so
// imported tasks show. The caller holds life.
func (a *App) reimport(ctx context.Context, ex *journal.Export) ([]journal.ImportResult, error) {
	a.mu.Lock()
	db := a.profile.DB
	a.mu.Unlock()
	a.stop()
	res, ierr := db.Import(ctx, ex)
	if ierr != nil {
		res = nil
	}
	return res, errors.Join(ierr, a.start(context.WithoutCancel(ctx)))
}

// restore opens b's seal and restores the identity and books with the
// messenger and the reporter stopped, then starts them again on the
// profile restored. The caller holds life.
func (a *App) restore(ctx context.Context, b *backup.Backup, pass string) ([]journal.ImportResult, error) {
	seed, err := b.Unseal(pass)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	a.mu.Lock()
	old := a.profile
	a.mu.Unlock()
	id := identity.New(seed).ID()
	if id != old.ID {
		if empty, err := vault.Empty(ctx, old.DB); err != nil {
			return nil, err
		} else if !empty {
			return nil, fmt.Errorf("import: %w", vault.ErrNotEmpty)
		}
		if a.cfg.Take != nil {
			if err := a.cfg.Take(id); err != nil {
				return nil, fmt.Errorf("import: %w", err)
			}
		}
	}
	a.stop()
	a.stopReporter()
	// The restart is not the caller's to cancel: a restore cancelled
	// half-way would leave the App stopped.
	sctx := context.WithoutCancel(ctx)
	p, res, rerr := vault.Restore(ctx, old, seed, &b.Export)
	if rerr != nil {
		if id != old.ID && a.cfg.Release != nil {
			a.cfg.Release(id)
		}
		a.startReporter()
		return nil, errors.Join(fmt.Errorf("import: %w", rerr), a.start(sctx))
	}
	if p != old {
		if a.cfg.Release != nil {
			a.cfg.Release(old.ID)
		}
		a.mu.Lock()
		a.profile = p
		a.mu.Unlock()
	}
	a.startReporter()
	return res, a.start(sctx)
}

// Reset closes the App and deletes the profile's storage (Config.Delete):
// its seed too, so the next open is a new identity.
//
// Once the storage is gone, subscribers get a 'peer' event of the own (old)
// id with state StateReset: the tab that runs this App opens the profile
// afresh (package tabs), as a new identity.
func (a *App) Reset(ctx context.Context) error {
	id := a.ID()
	if err := a.Close(); err != nil {
		return err
	}
	if a.cfg.Delete != nil {
		if err := a.cfg.Delete(ctx, a.cfg.Profile.Name); err != nil {
			return err
		}
	}
	a.emit(Event{Type: room.EventPeer, Peer: id, State: StateReset})
	return nil
}
