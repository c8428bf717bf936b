package relay

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// The benchmark runs the relay in the benchmark's process and its clients
// in a child process (this test binary again, with benchChildEnv set), so
// that the heap measured is the server's alone, each process needs one
// file descriptor per connection, and the CPU time of each side is its
// process's.
const (
	benchChildEnv   = "RELAY_BENCH_CHILD"   // the relay's URL
	benchProfileEnv = "RELAY_BENCH_PROFILE" // a directory: CPU profiles of the loads, relay.cpu and clients.cpu
	benchConns      = 10_000
	benchLoadTime   = 1500 * time.Millisecond // how long each load runs
	benchPayload    = 64
	benchWindow     = 8 // messages each pair passes at once in the streaming load
)

// A benchPhase is what the child reports of one load.
type benchPhase struct {
	Msgs     int     // messages routed send → recv
	Secs     float64 // the load's wall time
	CPU      float64 // the child's CPU seconds (user + system) in it
	P50, P99 float64 // latency, ms
}

// BenchmarkRelay connects benchConns authenticated clients to one relay on
// 127.0.0.1 and reports the server's memory and goroutines per
// connection. Then it runs three loads of benchLoadTime each: pairs of
// clients passing one message back and forth as fast as they can (msgs/s,
// routed send → recv, and sat-p99-ms, their latency: with 5,000 messages
// in flight it is mostly queueing); every pair sending one way at a fixed
// pace, together half that rate (p50-ms, p99-ms); and the first load
// again with benchWindow messages passing in each pair at once
// (stream-msgs/s: what batches make of clients that stream, as a port's
// frames do). Clients and relay share the machine's CPUs: relay-us/msg
// and clients-us/msg are the CPU time each process spent per message
// routed at saturation, relay-cpu-% the relay's share of the two. b.N is
// not used: the loads run for a fixed time, and ns/op is the time per
// routed message at saturation.
//
// With RELAY_BENCH_PROFILE=dir set, the relay and the clients each write a
// CPU profile of the loads there (relay.cpu, clients.cpu).
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
	phase := func() benchPhase {
		var p benchPhase
		if err := json.Unmarshal([]byte(line()), &p); err != nil {
			b.Fatal(err)
		}
		return p
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

	stop, err := benchProfile("relay.cpu")
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := cpuTime()
	fmt.Fprintln(stdin, "go")
	sat := phase()
	cpu1 := cpuTime()
	paced := phase()
	cpu2 := cpuTime()
	stream := phase()
	cpu3 := cpuTime()
	stop()
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		b.Fatalf("child: %v", err)
	}
	rate := float64(sat.Msgs) / sat.Secs
	relayUs := (cpu1 - cpu0).Seconds() / float64(sat.Msgs) * 1e6
	clientUs := sat.CPU / float64(sat.Msgs) * 1e6
	b.ReportMetric(heap, "KiB/conn")
	b.ReportMetric(stack, "stack-KiB/conn")
	b.ReportMetric(perConnG, "goroutines/conn")
	b.ReportMetric(rate, "msgs/s")
	b.ReportMetric(sat.P99, "sat-p99-ms")
	b.ReportMetric(paced.P50, "p50-ms")
	b.ReportMetric(paced.P99, "p99-ms")
	b.ReportMetric(relayUs, "relay-us/msg")
	b.ReportMetric(clientUs, "clients-us/msg")
	b.ReportMetric(100*relayUs/(relayUs+clientUs), "relay-cpu-%")
	b.ReportMetric(float64(stream.Msgs)/stream.Secs, "stream-msgs/s")
	b.ReportMetric((cpu3-cpu2).Seconds()/float64(stream.Msgs)*1e6, "stream-relay-us/msg")
	b.ReportMetric(stream.CPU/float64(stream.Msgs)*1e6, "stream-clients-us/msg")
	b.ReportMetric(1e9/rate, "ns/op")
	st := s.Stats()
	b.Logf("%d connections in %v; saturated: %d msgs in %.2fs, CPU relay %.2fs clients %.2fs; paced at %.0f msgs/s: CPU relay %.2fs clients %.2fs in %.2fs; "+
		"streaming: %d msgs in %.2fs, CPU relay %.2fs clients %.2fs, p99 %.1f ms; frames in %d out %d; drops %d",
		benchConns, connect.Round(time.Millisecond), sat.Msgs, sat.Secs, (cpu1 - cpu0).Seconds(), sat.CPU,
		float64(paced.Msgs)/paced.Secs, (cpu2 - cpu1).Seconds(), paced.CPU, paced.Secs,
		stream.Msgs, stream.Secs, (cpu3 - cpu2).Seconds(), stream.CPU, stream.P99, st.FramesIn, st.FramesOut, st.Drops)
}

// benchProfile starts a CPU profile into name in the directory
// benchProfileEnv names, if it is set, and returns what stops it.
func benchProfile(name string) (stop func(), err error) {
	dir := os.Getenv(benchProfileEnv)
	if dir == "" {
		return func() {}, nil
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}, nil
}

// benchChild is the client side of BenchmarkRelay: it connects the clients,
// says "ready", waits for "go", runs the loads, prints a benchPhase for
// each and exits.
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
	l, err := dialBenchLoad(url, benchConns)
	if err != nil {
		return err
	}
	defer l.close()
	fmt.Fprintln(out, "ready")
	if s, err := bufio.NewReader(in).ReadString('\n'); err != nil || s != "go\n" {
		return fmt.Errorf("parent said %q: %v", s, err)
	}
	stop, err := benchProfile("clients.cpu")
	if err != nil {
		return err
	}
	defer stop()
	sat, err := l.saturate(benchLoadTime, 1)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(sat)
	fmt.Fprintln(out, string(b))
	paced, err := l.paced(benchLoadTime, float64(sat.Msgs)/sat.Secs/2)
	if err != nil {
		return err
	}
	b, _ = json.Marshal(paced)
	fmt.Fprintln(out, string(b))
	stream, err := l.saturate(benchLoadTime, benchWindow)
	if err != nil {
		return err
	}
	b, _ = json.Marshal(stream)
	_, err = fmt.Fprintln(out, string(b))
	return err
}
