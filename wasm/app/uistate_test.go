package app

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/room"
)

// TestUIStateCalls: uiState and setUIState through Do, bad arguments
// refused with the JS API's words.
func TestUIStateCalls(t *testing.T) {
	ana := startApp(t, "ana", deadRelay(t))
	if got := string(do(t, ana.App, "uiState", `[]`)); got != "{}" {
		t.Fatalf("uiState() of a new profile: %s", got)
	}
	do(t, ana.App, "setUIState", `[{"selected":"a","drafts":{"a":{"text":"hi"}}}]`)
	do(t, ana.App, "setUIState", `[{"drafts":{"b":{"text":"yo"}}},{"merge":true}]`)
	if got := string(do(t, ana.App, "uiState", `[]`)); got != `{"drafts":{"a":{"text":"hi"},"b":{"text":"yo"}},"selected":"a"}` {
		t.Fatalf("uiState() after a merge: %s", got)
	}
	for _, bad := range []string{`[]`, `["x"]`, `[[1]]`, `[null]`} {
		if _, err := ana.Do(testCtx(t), "setUIState", json.RawMessage(bad)); !errors.Is(err, ErrBadArgs) || !strings.Contains(err.Error(), "state must be an object") {
			t.Errorf("setUIState(%s): %v", bad, err)
		}
	}
	big := `[{"x":"` + strings.Repeat("y", room.MaxUIState) + `"}]`
	if _, err := ana.Do(testCtx(t), "setUIState", json.RawMessage(big)); !errors.Is(err, room.ErrBadUIState) || !strings.Contains(err.Error(), "at most") {
		t.Errorf("setUIState(too large): %v", err)
	}
}

// TestUIStateRestoredByBackup: a backup with the identity, restored into
// a fresh profile that saved a UI state of its own, brings back the
// backed-up UI state.
func TestUIStateRestoredByBackup(t *testing.T) {
	ana := startApp(t, "ana", deadRelay(t))
	do(t, ana.App, "createTask", `[{"title":"plan"}]`)
	do(t, ana.App, "setUIState", `[{"selected":"plan","drafts":{"plan":{"text":"unsent words"}}},{"merge":true}]`)
	want := string(do(t, ana.App, "uiState", `[]`))
	exported := do(t, ana.App, "export", `[{"passphrase":"pass phrase"}]`)
	ana.Close()

	fresh := startApp(t, "fresh", deadRelay(t))
	do(t, fresh.App, "setUIState", `[{"collapsed":{"x":1}},{"merge":true}]`)
	do(t, fresh.App, "import", `[`+string(exported)+`,{"passphrase":"pass phrase"}]`)
	if got := string(do(t, fresh.App, "uiState", `[]`)); got != want {
		t.Fatalf("restored UI state %s, want %s", got, want)
	}
}
