package room

import (
	"bytes"
	"testing"
	"time"
)

// BenchmarkFile10MB: Bob sends a 10 MiB file over a real relay on
// 127.0.0.1 (memory stores); Ana, holding the message, fetches it
// (sparse, verified). It reports the send (chunks sealed and stored, the
// message written), the fetch, and the throughput of the two.
func BenchmarkFile10MB(b *testing.B) {
	bob, ana, task := pair(b)
	data := randomBytes(MaxFile, 1)
	var send, fetch time.Duration
	for range b.N {
		t0 := time.Now()
		msg, err := bob.SendFiles(testCtx(b), task, "big", nil, []FileData{{Name: "big.bin", Data: data}})
		if err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		eventually(b, "the message at Ana", func() bool { _, err := ana.Lookup(testCtx(b), task, msg.Ref()); return err == nil })
		t2 := time.Now()
		_, got, err := ana.File(testCtx(b), task, msg.Ref(), 0)
		if err != nil || !bytes.Equal(got, data) {
			b.Fatalf("fetched %d bytes: %v", len(got), err)
		}
		send, fetch = send+t1.Sub(t0), fetch+time.Since(t2)
	}
	n := float64(b.N)
	b.ReportMetric(send.Seconds()*1000/n, "send-ms")
	b.ReportMetric(fetch.Seconds()*1000/n, "fetch-ms")
	b.ReportMetric(float64(MaxFile)/(1<<20)/((send+fetch).Seconds()/n), "MiB/s")
}
