package app

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/vault"
)

// TestUsageAndForget: usage() counts each task; forget(task) removes it
// and its bytes, the other task stays.
func TestUsageAndForget(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	a := startApp(t, "ana", url)
	var roof, garden room.TaskInfo
	json.Unmarshal(do(t, a.App, "createTask", `[{"title":"Roof"}]`), &roof)
	json.Unmarshal(do(t, a.App, "createTask", `[{"title":"Garden"}]`), &garden)
	text, _ := json.Marshal(strings.Repeat("tiles ", 2000))
	for range 3 {
		do(t, a.App, "send", `["`+roof.ID.String()+`", `+string(text)+`]`)
	}
	var before, after Usage
	json.Unmarshal(do(t, a.App, "usage", `[]`), &before)
	if before.Tasks[roof.ID] < 3*12000 || before.Tasks[garden.ID] == 0 || before.Total <= before.Tasks[roof.ID] {
		t.Fatalf("usage() = %+v", before)
	}
	var freed Freed
	json.Unmarshal(do(t, a.App, "forget", `["`+roof.ID.String()+`"]`), &freed)
	json.Unmarshal(do(t, a.App, "usage", `[]`), &after)
	t.Logf("usage %d → %d bytes; freed %d", before.Total, after.Total, freed.Freed)
	if _, ok := after.Tasks[roof.ID]; ok || freed.Freed < before.Tasks[roof.ID] || after.Tasks[garden.ID] != before.Tasks[garden.ID] {
		t.Fatalf("after forget: usage %+v, freed %d", after, freed.Freed)
	}
	if after.Total >= before.Total-before.Tasks[roof.ID]+4096 {
		t.Fatalf("usage %d → %d: the task's %d bytes were not freed", before.Total, after.Total, before.Tasks[roof.ID])
	}
	var tasks []*TaskNode
	json.Unmarshal(do(t, a.App, "tasks", `[]`), &tasks)
	if len(tasks) != 1 || tasks[0].ID != garden.ID {
		t.Fatalf("tasks() after forget = %+v", tasks)
	}
	for _, bad := range []string{`[]`, `[1]`, `["nope"]`} {
		if _, err := a.Do(testCtx(t), "forget", json.RawMessage(bad)); err == nil {
			t.Errorf("forget(%s): no error", bad)
		}
	}
	if _, err := a.Do(testCtx(t), "leave", json.RawMessage(`["`+roof.ID.String()+`"]`)); !errors.Is(err, room.ErrUnknownTask) {
		t.Errorf("leave of a forgotten task: %v, want ErrUnknownTask", err)
	}
}

// filling is a store that is full while full is set; its error wraps
// store.ErrQuota, as idb's does.
type filling struct {
	store.Store
	full *atomic.Bool
}

func (s filling) Write(ctx context.Context, b *store.Batch) error {
	if s.full.Load() {
		return errors.Join(errors.New("idb ana: write: QuotaExceededError"), store.ErrQuota)
	}
	return s.Store.Write(ctx, b)
}

// TestQuotaError: a full store makes send fail with ErrQuota, whose text
// tells the user what to do and whose JS name is QuotaExceededError; once
// space is freed, sending works again.
func TestQuotaError(t *testing.T) {
	url := relaytest.Start(t, relay.DefaultLimits())
	var full atomic.Bool
	opener := func(context.Context, string) (store.Store, error) {
		return filling{store.NewMemory(), &full}, nil
	}
	ctx := testCtx(t)
	p, err := vault.Open(ctx, "ana", opener, nil)
	if err != nil {
		t.Fatal(err)
	}
	a, err := Start(ctx, Config{Profile: p, Relay: url, Logger: quiet})
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	defer a.Close()
	var task room.TaskInfo
	json.Unmarshal(do(t, a, "createTask", `[{"title":"Roof"}]`), &task)
	full.Store(true)
	_, err = a.Do(ctx, "send", json.RawMessage(`["`+task.ID.String()+`", "one"]`))
	var named interface{ JSName() string }
	switch {
	case !errors.Is(err, ErrQuota) || !errors.Is(err, store.ErrQuota):
		t.Fatalf("send on a full store: %v, want ErrQuota", err)
	case !strings.HasPrefix(err.Error(), "storage is full: free space by forgetting tasks"):
		t.Fatalf("error text %q", err)
	case !errors.As(err, &named) || named.JSName() != "QuotaExceededError":
		t.Fatalf("error %v has no JS name QuotaExceededError", err)
	}
	t.Log(err)
	if _, err := a.Do(ctx, "createTask", json.RawMessage(`[{"title":"Garden"}]`)); !errors.Is(err, ErrQuota) {
		t.Fatalf("createTask on a full store: %v, want ErrQuota", err)
	}
	full.Store(false)
	do(t, a, "send", `["`+task.ID.String()+`", "one"]`)
}
