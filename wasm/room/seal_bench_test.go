//go:build !js

package room

import (
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/cputime"
)

// BenchmarkSendSealing (issue #13): Bob sends 1 KiB messages to a task Ana
// joined (she is offline: the benchmark measures the writes), one at a
// time (Send) and 100 at a time (SendMany), each written to his log and
// his book to Ana. Sealed is the room as it runs (every page sealed);
// plain stores the same pages unsealed (the DB's sealer replaced).
func BenchmarkSendSealing(b *testing.B) {
	for _, batch := range []int{1, 100} {
		for _, sealed := range []bool{false, true} {
			name := map[int]string{1: "Send", 100: "SendMany100"}[batch] + map[bool]string{false: "/plain", true: "/sealed"}[sealed]
			b.Run(name, func(b *testing.B) { benchSend(b, batch, sealed) })
		}
	}
}

func benchSend(b *testing.B, batch int, sealed bool) {
	url := startRelay(b)
	bob, ana := newNode(b, url, "bob", 2), newNode(b, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(b), "Sealing", nil)
	if err != nil {
		b.Fatal(err)
	}
	ana.join(bob, task.ID)
	eventually(b, "the pair", func() bool { return bob.paired(task.ID, 1) && ana.paired(task.ID, 1) })
	ana.stop()
	if !sealed {
		bob.db.SetSealer(func(_ identity.ID, _ string, _ uint64, p []byte) ([]byte, error) { return p, nil })
	}
	texts := make([]string, batch)
	for i := range texts {
		texts[i] = strings.Repeat("x", 1024)
	}
	ctx := testCtx(b)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Start(b, batch, "msg")
	for b.Loop() {
		var err error
		if batch == 1 {
			_, err = bob.Send(ctx, task.ID, texts[0], nil)
		} else {
			_, err = bob.SendMany(ctx, task.ID, texts)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
	cpu()
	b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "msgs/s")
}
