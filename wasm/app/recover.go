package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/task-messenger/task-messenger/wasm/device"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/peerio"
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

// recover makes this empty profile a new device of the identity of seed
// (docs/devices.md): the identity certifies the profile's own key as a
// device that holds the identity key, and the messenger starts again
// recalling the person's tasks from the members that dial the identity
// (room.Messenger.Recall, served by the identity's own relay connection
// while it recalls: startRecall). No book of the person's other devices is
// written from here, so nothing forks, even if one of them comes back.
// The caller holds life.
func (a *App) recover(ctx context.Context, seed identity.Seed) error {
	a.mu.Lock()
	old := a.profile
	a.mu.Unlock()
	idKey := identity.New(seed)
	if idKey.ID() == old.ID || idKey.ID() == old.Person() {
		return nil
	}
	if empty, err := vault.Empty(ctx, old.DB); err != nil {
		return err
	} else if !empty || old.Cert != nil {
		return fmt.Errorf("recover: %w", vault.ErrNotEmpty)
	}
	cert, err := device.Sign(idKey, old.ID, "restored from the recovery code", a.now().UnixMilli(), true)
	if err != nil {
		return err
	}
	a.stopOffer(errLinkReplaced)
	a.stop()
	sctx := context.WithoutCancel(ctx) // a restart is not the caller's to cancel
	return errors.Join(vault.Link(sctx, old, vault.Device{Cert: cert, Identity: &seed}), a.start(sctx))
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

// recallAsIdentity goes online as the person's identity while the
// messenger recalls the person's tasks (a device restored from the
// recovery code: room.Messenger.Recall): the members dial the identity,
// the first device's key, and each port that reaches it is asked. It
// stops when the recall ends or ctx does; the channel closes then.
func (a *App) recallAsIdentity(ctx context.Context, p *vault.Profile, m *room.Messenger) <-chan struct{} {
	done := make(chan struct{})
	if p.Identity == nil || !m.Recalling().Recalling {
		close(done)
		return done
	}
	io := peerio.New(p.Name+"-identity", p.Identity.Seed(), a.ioConfig())
	go func() {
		defer close(done)
		defer io.Close()
		for wait := minRetry; ; wait = min(2*wait, maxRetry) {
			octx, cancel := context.WithTimeout(ctx, onlineTimeout)
			err := io.On(octx, m.Recall)
			cancel()
			if err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-m.RecallDone():
				return
			case <-time.After(wait):
			}
		}
		select {
		case <-ctx.Done():
		case <-m.RecallDone():
		}
	}()
	return done
}
