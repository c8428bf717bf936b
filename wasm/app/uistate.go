package app

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/task-messenger/task-messenger/wasm/room"
)

// UIState returns the page's UI state (room.Messenger.UIState), "{}" if
// none was set.
func (a *App) UIState() (json.RawMessage, error) {
	m, err := a.messenger()
	if err != nil {
		return nil, err
	}
	return m.UIState(), nil
}

// SetUIState writes the page's UI state: state replaces it, or with merge
// is merged into it (room.Messenger.MergeUIState).
func (a *App) SetUIState(ctx context.Context, state json.RawMessage, merge bool) error {
	return a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		if merge {
			return m.MergeUIState(ctx, state)
		}
		return m.SetUIState(ctx, state)
	})
}

// doSetUIState is setUIState(state, { merge }).
func (a *App) doSetUIState(ctx context.Context, as args) error {
	if kind(as.at(0)) != "object" {
		return badArgs("setUIState(state): state must be an object")
	}
	merge := strings.TrimSpace(string(as.options(1)["merge"])) == "true"
	if err := a.SetUIState(ctx, as.at(0), merge); err != nil {
		return fmt.Errorf("setUIState: %w", err)
	}
	return nil
}
