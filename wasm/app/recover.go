package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// RecoveryCode is the identity seed as a recovery code
// (identity.RecoveryCode): the whole identity, to be written down and
// kept secret. It is the profile's seed on a person's first device, and
// the identity seed on a device that holds it; a linked device has none
// (ErrNoIdentity).
func (a *App) RecoveryCode(ctx context.Context) (code string, err error) {
	err = a.withMessenger(ctx, func(context.Context, *room.Messenger) error {
		a.mu.Lock()
		p := a.profile
		a.mu.Unlock()
		switch {
		case p.Cert == nil:
			code = identity.RecoveryCode(p.DB.Identity().Seed())
		case p.Identity != nil:
			code = identity.RecoveryCode(p.Identity.Seed())
		default:
			return ErrNoIdentity
		}
		return nil
	})
	return code, err
}

// Recover makes this profile the identity of a recovery code, from the
// code alone: the profile must be empty (vault.Empty) or already that
// identity. The messenger starts again restoring (room.Config.Restore):
// it asks each peer that connects for the books it holds of this
// profile's, and writes nothing until they answered (RestoreStatus,
// 'restore' events) or FinishRestore. Recover of the profile's own
// identity changes nothing and returns where its restore stands.
func (a *App) Recover(ctx context.Context, code string) (room.RestoreStatus, error) {
	seed, err := identity.ParseRecoveryCode(code)
	if err != nil {
		return room.RestoreStatus{}, fmt.Errorf("recover: %w", err)
	}
	ctx, done, err := a.enter(ctx)
	if err != nil {
		return room.RestoreStatus{}, err
	}
	defer done()
	if _, err := a.messenger(); err != nil {
		return room.RestoreStatus{}, err
	}
	if err := a.lockCtx(ctx); err != nil {
		return room.RestoreStatus{}, a.closedErr(err)
	}
	err = a.recover(ctx, seed)
	a.unlock()
	if err != nil {
		return room.RestoreStatus{}, a.closedErr(err)
	}
	return a.RestoreStatus()
}

// recover restores the identity of seed with no books, then starts the
// messenger restoring. The caller holds life.
func (a *App) recover(ctx context.Context, seed identity.Seed) error {
	a.mu.Lock()
	old := a.profile
	a.mu.Unlock()
	id := identity.New(seed).ID()
	if id == old.ID {
		return nil
	}
	if empty, err := vault.Empty(ctx, old.DB); err != nil {
		return err
	} else if !empty {
		return fmt.Errorf("recover: %w", vault.ErrNotEmpty)
	}
	if a.cfg.Take != nil {
		if err := a.cfg.Take(id); err != nil {
			return fmt.Errorf("recover: %w", err)
		}
	}
	a.stop()
	a.stopReporter()
	sctx := context.WithoutCancel(ctx) // a restart is not the caller's to cancel
	ex := &journal.Export{Format: journal.ExportFormat, Version: 1, Profile: id}
	p, _, err := vault.Restore(ctx, old, seed, ex)
	if err != nil {
		if a.cfg.Release != nil {
			a.cfg.Release(id)
		}
		a.startReporter()
		return errors.Join(fmt.Errorf("recover: %w", err), a.start(sctx))
	}
	if a.cfg.Release != nil {
		a.cfg.Release(old.ID)
	}
	a.mu.Lock()
	a.profile = p
	a.restoreNext = true
	a.mu.Unlock()
	a.startReporter()
	return a.start(sctx)
}

// RestoreStatus is where the profile's restore from a recovery code
// stands (Restored false: it never was).
func (a *App) RestoreStatus() (room.RestoreStatus, error) {
	m, err := a.messenger()
	if err != nil {
		return room.RestoreStatus{}, err
	}
	return m.Restoring(), nil
}

// FinishRestore stops waiting for the peers that have not answered a
// restore: the user's choice (see room.Messenger.FinishRestore).
func (a *App) FinishRestore(ctx context.Context) (st room.RestoreStatus, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		if err := m.FinishRestore(ctx); err != nil {
			return err
		}
		st = m.Restoring()
		return nil
	})
	return st, err
}
