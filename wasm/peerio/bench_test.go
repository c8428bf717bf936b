package peerio_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/peerio"
	"github.com/task-messenger/task-messenger/wasm/port"
)

// benchPair connects two peers through a relay on 127.0.0.1, over WebRTC
// (loopback only) or the relay.
func benchPair(b *testing.B, webrtc bool) (port.Port, port.Port) {
	// Limits out of the way: this measures the transport, not the throttle.
	url := relaytest.Start(b, relay.Limits{FramesPerSec: 1e6, BytesPerSec: 1e10})
	var rtc *peerio.RTCConfig
	if webrtc {
		rtc = &peerio.RTCConfig{LoopbackOnly: true, Timeout: 10 * time.Second}
	}
	ctx := context.Background()
	mk := func(n byte) (*peerio.IO, chan port.Port) {
		io := peerio.New("bench", identity.Seed{n}, peerio.Config{Relay: url, Logger: quiet, WebRTC: rtc})
		ch := make(chan port.Port, 4)
		if err := io.On(ctx, func(p port.Port) { ch <- p }); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { io.Close() })
		return io, ch
	}
	a, _ := mk(1)
	bb, ports := mk(2)
	pa, err := a.At(ctx, bb.ID())
	if err != nil {
		b.Fatal(err)
	}
	pb := <-ports
	if webrtc {
		<-pa.(*peerio.Port).DirectOpen()
		<-pb.(*peerio.Port).DirectOpen()
	}
	return pa, pb
}

// BenchmarkPortRoundTrip sends 100 bytes and waits for the echo.
func BenchmarkPortRoundTrip(b *testing.B) {
	for _, tr := range []string{"webrtc", "relay"} {
		b.Run(tr, func(b *testing.B) {
			pa, pb := benchPair(b, tr == "webrtc")
			ctx := context.Background()
			go func() {
				for {
					m, err := pb.Recv(ctx)
					if err != nil || pb.Send(ctx, m) != nil {
						return
					}
				}
			}()
			msg := make([]byte, 100)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				if err := pa.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
				if _, err := pa.Recv(ctx); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			q := func(f float64) float64 { return float64(lat[int(f*float64(len(lat)-1))].Microseconds()) / 1000 }
			b.ReportMetric(q(0.5), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
		})
	}
}

// BenchmarkPortThroughput streams 16 KiB messages one way.
func BenchmarkPortThroughput(b *testing.B) {
	for _, tr := range []string{"webrtc", "relay"} {
		b.Run(tr, func(b *testing.B) {
			pa, pb := benchPair(b, tr == "webrtc")
			ctx := context.Background()
			msg := make([]byte, 16<<10)
			done := make(chan struct{})
			n := b.N
			go func() {
				defer close(done)
				for range n {
					if _, err := pb.Recv(ctx); err != nil {
						return
					}
				}
			}()
			b.SetBytes(int64(len(msg)))
			b.ResetTimer()
			for range n {
				if err := pa.Send(ctx, msg); err != nil {
					b.Fatal(err)
				}
			}
			<-done
		})
	}
}

// BenchmarkFailover kills the relay node two peers are on (each knows the
// cluster's two nodes, with the default Retry, as the page) and measures
// the time from the node's death until both are online on the other node
// (reconnect-ms) and until their port has reopened and carried a message
// both ways (port-ms): means, and the slowest of the runs (-max-ms).
func BenchmarkFailover(b *testing.B) {
	var reconnect, reopen, maxReconnect, maxReopen time.Duration
	for b.Loop() {
		r, p := failoverOnce(b)
		reconnect += r
		reopen += p
		maxReconnect, maxReopen = max(maxReconnect, r), max(maxReopen, p)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	n := time.Duration(b.N)
	b.ReportMetric(ms(reconnect/n), "reconnect-ms")
	b.ReportMetric(ms(reopen/n), "port-ms")
	b.ReportMetric(ms(maxReconnect), "reconnect-max-ms")
	b.ReportMetric(ms(maxReopen), "port-max-ms")
}

// failoverOnce runs one failover of BenchmarkFailover.
func failoverOnce(b *testing.B) (reconnect, reopen time.Duration) {
	b.StopTimer()
	r1, r2 := startNode(b), startNode(b)
	defer r2.kill()
	ctx := context.Background()
	mk := func(n byte) (*peerio.IO, chan port.Port) {
		io := peerio.New("bench", identity.Seed{n}, peerio.Config{Relay: r1.URL, Relays: []string{r2.URL}, Logger: quiet})
		ch := make(chan port.Port, 4)
		if err := io.On(ctx, func(p port.Port) { ch <- p }); err != nil {
			b.Fatal(err)
		}
		return io, ch
	}
	ana, anaPorts := mk(1)
	defer ana.Close()
	bob, bobPorts := mk(2)
	defer bob.Close()
	if _, err := ana.At(ctx, bob.ID()); err != nil {
		b.Fatal(err)
	}
	<-anaPorts
	if _, err := bob.At(ctx, (<-bobPorts).Remote()); err != nil { // as the room does
		b.Fatal(err)
	}
	b.StartTimer()
	start := time.Now()
	r1.kill()
	for ana.RelayURL() != r2.URL || bob.RelayURL() != r2.URL {
		time.Sleep(time.Millisecond)
	}
	reconnect = time.Since(start)
	pa, pb := <-anaPorts, <-bobPorts
	for _, pp := range [][2]port.Port{{pa, pb}, {pb, pa}} {
		if err := pp[0].Send(ctx, []byte("again")); err != nil {
			b.Fatal(err)
		}
		if _, err := pp[1].Recv(ctx); err != nil {
			b.Fatal(err)
		}
	}
	reopen = time.Since(start)
	return reconnect, reopen
}
