package relay

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// The benchmark runs the relay in the benchmark's process and its clients
// in a child process (this test binary again, with benchChildEnv set), so
// that the heap measured is the server's alone and each process needs one
// file descriptor per connection.
const (
	benchChildEnv = "RELAY_BENCH_CHILD" // the relay's URL
	benchConns    = 10_000
	benchLoad     = 1500 * time.Millisecond // how long each load runs
	benchPayload  = 64
)

// benchResult is what the child reports.
type benchResult struct {
	Rate     float64 // messages routed send → recv per second, clients as fast as they can
	SatP99   float64 // their 99th percentile latency, ms
	P50, P99 float64 // latency at half that rate, ms
}

// BenchmarkRelay connects benchConns authenticated clients to one relay on
// 127.0.0.1 and reports the server's memory per connection. Then it runs
// two loads of benchLoad each: pairs of clients passing one message back
// and forth as fast as they can (msgs/s, routed send → recv, and
// sat-p99-ms, their latency: with 5,000 messages in flight it is mostly
// queueing), then every pair sending one way at a fixed pace, together
// half that rate (p50-ms, p99-ms). Clients and relay share the machine's
// CPUs. b.N is not used: the loads run for a fixed time, and ns/op is the
// time per routed message at saturation.
func BenchmarkRelay(b *testing.B) {
	if err := raiseFiles(benchConns + 1024); err != nil {
		b.Fatal(err)
	}
	// Every client comes from 127.0.0.1: it gets the whole queue budget.
	s := NewServer(nil, Limits{MaxConns: benchConns + 64, MaxConnsPerIP: benchConns + 64, MaxQueuedBytesPerIP: DefaultLimits().MaxQueuedBytes})
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	defer s.Close()

	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	goroutines := runtime.NumGoroutine()

	ctx, cancel := context.WithTimeout(b.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), benchChildEnv+"="+"ws"+strings.TrimPrefix(ts.URL, "http")+"/")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer cmd.Wait()
	defer stdin.Close()
	lines := bufio.NewScanner(stdout)
	line := func() string {
		if !lines.Scan() {
			b.Fatalf("child ended: %v", lines.Err())
		}
		return lines.Text()
	}

	start := time.Now()
	if l := line(); l != "ready" {
		b.Fatalf("child said %q", l)
	}
	connect := time.Since(start)
	if st := s.Stats(); st.Peers != benchConns {
		b.Fatalf("%d peers, want %d", st.Peers, benchConns)
	}
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&after)
	perConn := func(a, b uint64) float64 { return float64(int64(a)-int64(b)) / benchConns / 1024 }
	heap, stack := perConn(after.HeapInuse, before.HeapInuse), perConn(after.StackInuse, before.StackInuse)
	perConnG := float64(runtime.NumGoroutine()-goroutines) / benchConns

	fmt.Fprintln(stdin, "go")
	var res benchResult
	if err := json.Unmarshal([]byte(line()), &res); err != nil {
		b.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatalf("child: %v", err)
	}
	b.ReportMetric(heap, "KiB/conn")
	b.ReportMetric(stack, "stack-KiB/conn")
	b.ReportMetric(perConnG, "goroutines/conn")
	b.ReportMetric(res.Rate, "msgs/s")
	b.ReportMetric(res.SatP99, "sat-p99-ms")
	b.ReportMetric(res.P50, "p50-ms")
	b.ReportMetric(res.P99, "p99-ms")
	b.ReportMetric(1e9/res.Rate, "ns/op")
	st := s.Stats()
	b.Logf("%d connections in %v; p50/p99 at %.0f msgs/s; frames in %d out %d; drops %d; rejects %v",
		benchConns, connect.Round(time.Millisecond), res.Rate/2, st.FramesIn, st.FramesOut, st.Drops, st.Rejects)
}

// benchChild is the client side of BenchmarkRelay: it connects the clients,
// says "ready", waits for "go", runs the loads, prints a benchResult and
// exits.
func benchChild() int {
	if err := benchChildRun(os.Getenv(benchChildEnv), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "relay bench child:", err)
		return 1
	}
	return 0
}

func benchChildRun(url string, in io.Reader, out io.Writer) error {
	if err := raiseFiles(benchConns + 1024); err != nil {
		return err
	}
	clients := make([]*Client, benchConns)
	defer func() {
		var wg sync.WaitGroup
		for _, c := range clients {
			if c != nil {
				wg.Go(func() { c.Close() })
			}
		}
		wg.Wait()
	}()
	var g errgroup.Group
	g.SetLimit(64)
	for i := range clients {
		g.Go(func() error {
			var seed identity.Seed
			copy(seed[:], "relay bench")
			binary.BigEndian.PutUint32(seed[28:], uint32(i))
			c, err := Dial(context.Background(), url, identity.New(seed))
			clients[i] = c
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	fmt.Fprintln(out, "ready")
	if l, err := bufio.NewReader(in).ReadString('\n'); err != nil || l != "go\n" {
		return fmt.Errorf("parent said %q: %v", l, err)
	}

	rate, satP99, err := benchSaturate(clients)
	if err != nil {
		return err
	}
	p50, p99, err := benchPaced(clients, rate/2)
	if err != nil {
		return err
	}
	res, _ := json.Marshal(benchResult{Rate: rate, SatP99: satP99, P50: p50, P99: p99})
	fmt.Fprintln(out, string(res))
	return nil
}

// benchSaturate has pairs (2k, 2k+1) pass one message back and forth, as
// fast as they can, for benchLoad, and returns the messages routed per
// second and their 99th percentile latency (ms).
func benchSaturate(clients []*Client) (rate, p99 float64, err error) {
	ctx := context.Background()
	start := time.Now()
	deadline := start.Add(benchLoad)
	lat := make([][]time.Duration, len(clients)/2)
	var g errgroup.Group
	for k := range lat {
		g.Go(func() error {
			a, b := clients[2*k], clients[2*k+1]
			payload := make([]byte, benchPayload)
			for time.Now().Before(deadline) {
				t := time.Now()
				if err := a.Send(ctx, b.ID(), KindSignal, payload); err != nil {
					return err
				}
				if _, err := benchRecv(b); err != nil {
					return err
				}
				lat[k] = append(lat[k], time.Since(t))
				a, b = b, a
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, 0, err
	}
	all := slices.Concat(lat...)
	return float64(len(all)) / time.Since(start).Seconds(), percentile(all, 0.99), nil
}

// benchPaced has client 2k send to 2k+1 at a fixed pace, all of them
// together rate messages per second, for benchLoad, and returns the 50th
// and 99th percentile latency (ms) of the messages.
func benchPaced(clients []*Client, rate float64) (p50, p99 float64, err error) {
	ctx := context.Background()
	pairs := len(clients) / 2
	period := time.Duration(float64(pairs) / rate * float64(time.Second))
	start := time.Now()
	deadline := start.Add(benchLoad)
	lat := make([][]time.Duration, pairs)
	var g errgroup.Group
	for k := range pairs {
		a, b := clients[2*k], clients[2*k+1]
		first := start.Add(period * time.Duration(k) / time.Duration(pairs))
		n := 0 // messages a sends
		for t := first; t.Before(deadline); t = t.Add(period) {
			n++
		}
		g.Go(func() error {
			payload := make([]byte, benchPayload)
			for i := range n {
				time.Sleep(time.Until(first.Add(period * time.Duration(i))))
				binary.BigEndian.PutUint64(payload, uint64(time.Since(start)))
				if err := a.Send(ctx, b.ID(), KindSignal, payload); err != nil {
					return err
				}
			}
			return nil
		})
		g.Go(func() error {
			for range n {
				ev, err := benchRecv(b)
				if err != nil {
					return err
				}
				sent := time.Duration(binary.BigEndian.Uint64(ev.Payload))
				lat[k] = append(lat[k], time.Since(start)-sent)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return 0, 0, err
	}
	all := slices.Concat(lat...)
	return percentile(all, 0.50), percentile(all, 0.99), nil
}

func benchRecv(c *Client) (Event, error) {
	select {
	case ev, ok := <-c.Events():
		if !ok {
			return ev, c.Err()
		}
		if ev.Type != FrameRecv || len(ev.Payload) != benchPayload {
			return ev, fmt.Errorf("got %+v", short(ev))
		}
		return ev, nil
	case <-time.After(30 * time.Second):
		return Event{}, fmt.Errorf("%s: nothing received", c.ID().Short())
	}
}

// percentile returns the p-th percentile of d in milliseconds.
func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[int(p*float64(len(d)-1))]) / float64(time.Millisecond)
}
