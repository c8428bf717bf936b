package relay

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// The load generator of BenchmarkRelay shares the machine's CPUs with the
// relay, so it is made cheap: each client is a websocket spoken by hand
// over TCP (one reader goroutine, one write syscall per frame or per
// batch answered, a zero masking key, batches taken), its send frame encoded once and stamped in place, a recv
// checked against the bytes it must be. Client (client.go) is tested on
// its own.

// A benchConn is one client of the load.
type benchConn struct {
	nc   net.Conn
	br   *bufio.Reader
	id   identity.ID
	i    int    // immutable: its index in the load
	recv []byte // immutable: what a recv from its partner starts with

	wmu  sync.Mutex
	send []byte // guarded by wmu: a websocket frame holding a send to the partner
	wbuf []byte // guarded by wmu: frames being written
	rbuf []byte // the reader's
}

// Bench payloads: a stamp (ns since the load's start), then the phase.
const (
	benchPhaseSat   = 1
	benchPhasePaced = 2
)

// dialBenchConn connects to the relay at url as key's id over a
// hand-spoken websocket, proving the id.
func dialBenchConn(url string, key *identity.Key) (*benchConn, error) {
	host, err := dialHost(url)
	if err != nil {
		return nil, err
	}
	nc, err := net.Dial("tcp", host.String())
	if err != nil {
		return nil, err
	}
	c := &benchConn{nc: nc, br: bufio.NewReaderSize(nc, 2048), id: key.ID()}
	if err := c.handshake(host, key); err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *benchConn) handshake(host Host, key *identity.Key) error {
	fmt.Fprintf(c.nc, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
		host, BatchProtocol)
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fmt.Errorf("upgrade: %s", resp.Status)
	}
	// Without BatchProtocol chosen (a relay from before it), a message is
	// one frame: readLoop takes both.
	b, err := c.read()
	if err != nil {
		return err
	}
	f, err := Decode(b)
	if err != nil || f.Type != FrameChallenge {
		return fmt.Errorf("expected a challenge: %v", err)
	}
	hello := mustEncode(&Frame{Type: FrameHello, ID: c.id, Sig: key.Sign(HelloMessage(host, f.Nonce)), Host: host})
	if err := c.writeFrame(0x2, hello); err != nil {
		return err
	}
	if b, err = c.read(); err != nil {
		return err
	}
	if f, err := Decode(b); err != nil || f.Type != FrameWelcome {
		return fmt.Errorf("expected a welcome: %v", err)
	}
	return nil
}

// pair makes c send to to, and expect recvs from from.
func (c *benchConn) pair(to, from identity.ID) {
	payload := make([]byte, benchPayload)
	c.send = wsFrame(nil, 0x2, mustEncode(&Frame{Type: FrameSend, ID: to, Kind: KindSignal, Payload: payload}))
	recv := mustEncode(&Frame{Type: FrameRecv, ID: from, Kind: KindSignal, Payload: payload})
	c.recv = recv[:len(recv)-benchPayload]
}

// wsFrame appends to b a final client frame of opcode op holding p, masked
// with the zero key (the payload goes as it is).
func wsFrame(b []byte, op byte, p []byte) []byte {
	b = append(b, 0x80|op)
	switch n := len(p); {
	case n < 126:
		b = append(b, 0x80|byte(n))
	case n <= 0xffff:
		b = append(b, 0x80|126, byte(n>>8), byte(n))
	default:
		b = append(b, 0x80|127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	b = append(b, 0, 0, 0, 0)
	return append(b, p...)
}

func (c *benchConn) writeFrame(op byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = wsFrame(c.wbuf[:0], op, p)
	_, err := c.nc.Write(c.wbuf)
	return err
}

// sendStamped sends the partner n messages of phase ph stamped at, in one
// write.
func (c *benchConn) sendStamped(ph byte, at time.Duration, n int) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	p := c.send[len(c.send)-benchPayload:]
	binary.BigEndian.PutUint64(p, uint64(at))
	p[8] = ph
	b := c.send
	if n > 1 {
		c.wbuf = c.wbuf[:0]
		for range n {
			c.wbuf = append(c.wbuf, c.send...)
		}
		b = c.wbuf
	}
	_, err := c.nc.Write(b)
	return err
}

// read returns the next data message (valid until the next read),
// answering pings.
func (c *benchConn) read() ([]byte, error) {
	for {
		var h [2]byte
		if _, err := io.ReadFull(c.br, h[:]); err != nil {
			return nil, err
		}
		fin, op, n := h[0]&0x80 != 0, h[0]&0x0f, uint64(h[1]&0x7f)
		if h[1]&0x80 != 0 || !fin {
			return nil, errors.New("masked or fragmented frame from the relay")
		}
		switch n {
		case 126, 127:
			var ext [8]byte
			l := 2 + 6*int(n-126)
			if _, err := io.ReadFull(c.br, ext[8-l:]); err != nil {
				return nil, err
			}
			n = binary.BigEndian.Uint64(ext[:])
		}
		if n > MaxFrameSize+1<<10 {
			return nil, fmt.Errorf("message of %d bytes", n)
		}
		if uint64(cap(c.rbuf)) < n {
			c.rbuf = make([]byte, n)
		}
		b := c.rbuf[:n]
		if _, err := io.ReadFull(c.br, b); err != nil {
			return nil, err
		}
		switch op {
		case 0x2:
			return b, nil
		case 0x9:
			if err := c.writeFrame(0xa, b); err != nil {
				return nil, err
			}
		case 0xa:
		case 0x8:
			return nil, io.EOF
		default:
			return nil, fmt.Errorf("websocket opcode %d", op)
		}
	}
}

// A benchLoad is the clients of the benchmark, paired (2k, 2k+1), and
// the loads they run.
type benchLoad struct {
	conns []*benchConn
	start time.Time // stamps are durations since
	wg    sync.WaitGroup
	stop  atomic.Bool // set before the connections are closed

	failOnce sync.Once
	failed   chan struct{}
	err      error // set before failed is closed

	cur atomic.Pointer[benchRun] // the current load
}

// A benchRun is one load under way.
type benchRun struct {
	end      time.Time         // saturation: when pairs stop answering
	lat      [][]time.Duration // by client: the latencies its reader saw
	left     atomic.Int64      // messages still to come (saturation: still passing)
	finished chan struct{}     // closed when left reaches 0
}

// dialBenchLoad connects n clients (n even) to url and starts their readers.
func dialBenchLoad(url string, n int) (*benchLoad, error) {
	l := &benchLoad{conns: make([]*benchConn, n), start: time.Now(), failed: make(chan struct{})}
	var g errgroup.Group
	g.SetLimit(64)
	for i := range l.conns {
		g.Go(func() error {
			var seed identity.Seed
			copy(seed[:], "relay bench")
			binary.BigEndian.PutUint32(seed[28:], uint32(i))
			c, err := dialBenchConn(url, identity.New(seed))
			l.conns[i] = c
			return err
		})
	}
	if err := g.Wait(); err != nil {
		l.close()
		return nil, err
	}
	for k := 0; k+1 < n; k += 2 {
		a, b := l.conns[k], l.conns[k+1]
		a.pair(b.id, b.id)
		b.pair(a.id, a.id)
	}
	for i, c := range l.conns {
		c.i = i
		l.wg.Add(1)
		go l.readLoop(c)
	}
	return l, nil
}

func (l *benchLoad) fail(err error) {
	l.failOnce.Do(func() {
		l.err = err
		close(l.failed)
	})
}

func (l *benchLoad) close() {
	l.stop.Store(true)
	for _, c := range l.conns {
		if c != nil {
			c.nc.Close()
		}
	}
	l.wg.Wait()
}

func (l *benchLoad) now() time.Duration { return time.Since(l.start) }

// readLoop reads c's messages: a message of the saturating load is
// answered while the load lasts; every message's latency is noted.
func (l *benchLoad) readLoop(c *benchConn) {
	defer l.wg.Done()
	for {
		b, err := c.read()
		if err != nil {
			if !l.stop.Load() {
				l.fail(fmt.Errorf("client %d: %w", c.i, err))
			}
			return
		}
		step := len(c.recv) + benchPayload
		if len(b)%step != 0 {
			l.fail(fmt.Errorf("client %d: unexpected message %x", c.i, b))
			return
		}
		answer := 0 // messages of the saturating load to send back
		r := l.cur.Load()
		now := l.now()
		for ; len(b) > 0; b = b[step:] {
			if !bytes.Equal(b[:len(c.recv)], c.recv) {
				l.fail(fmt.Errorf("client %d: unexpected frame %x", c.i, b[:step]))
				return
			}
			p := b[len(c.recv):step]
			r.lat[c.i] = append(r.lat[c.i], now-time.Duration(binary.BigEndian.Uint64(p)))
			if p[8] == benchPhaseSat && time.Now().Before(r.end) {
				answer++
			} else if r.left.Add(-1) == 0 {
				close(r.finished)
			}
		}
		if answer > 0 {
			if err := c.sendStamped(benchPhaseSat, l.now(), answer); err != nil {
				l.fail(err)
				return
			}
		}
	}
}

// run starts a load whose end left counts down to, runs start, and waits
// for the end; it returns the load's wall time and CPU time, and the
// latencies seen.
func (l *benchLoad) run(r *benchRun, left int64, start func() error) (benchPhase, error) {
	r.lat = make([][]time.Duration, len(l.conns))
	r.finished = make(chan struct{})
	r.left.Store(left)
	l.cur.Store(r)
	cpu0, t0 := cpuTime(), time.Now()
	if err := start(); err != nil {
		return benchPhase{}, err
	}
	select {
	case <-r.finished:
	case <-l.failed:
		return benchPhase{}, l.err
	case <-time.After(benchLoadTime + 30*time.Second):
		return benchPhase{}, fmt.Errorf("load not done: %d left", r.left.Load())
	}
	p := benchPhase{Secs: time.Since(t0).Seconds(), CPU: (cpuTime() - cpu0).Seconds()}
	all := slices.Concat(r.lat...)
	p.Msgs = len(all)
	p.P50, p.P99 = percentile(all, 0.50), percentile(all, 0.99)
	return p, nil
}

// saturate has every pair pass window messages back and forth, each
// answered as soon as it arrives, as fast as they can, for d.
func (l *benchLoad) saturate(d time.Duration, window int) (benchPhase, error) {
	pairs := len(l.conns) / 2
	return l.run(&benchRun{end: time.Now().Add(d)}, int64(pairs*window), func() error {
		for range window {
			for k := range pairs {
				if err := l.conns[2*k].sendStamped(benchPhaseSat, l.now(), 1); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// benchSenders is how many goroutines send the paced load.
const benchSenders = 4

// paced has client 2k send to 2k+1 at a fixed pace, all of them together
// rate messages per second, for d.
func (l *benchLoad) paced(d time.Duration, rate float64) (benchPhase, error) {
	pairs := len(l.conns) / 2
	period := time.Duration(float64(pairs) / rate * float64(time.Second))
	t0 := l.now() + time.Millisecond
	end := t0 + d
	// Pair k sends at t0 + period·(k/pairs + i), for i = 0, 1, …
	first := func(k int) time.Duration { return t0 + period*time.Duration(k)/time.Duration(pairs) }
	var total int64
	for k := range pairs {
		total += int64((end - first(k) + period - 1) / period)
	}
	return l.run(&benchRun{}, total, func() error {
		for g := range benchSenders {
			go func() {
				for i := 0; ; i++ {
					for k := g; k < pairs; k += benchSenders {
						at := first(k) + period*time.Duration(i)
						if at >= end {
							return
						}
						if ahead := at - l.now(); ahead > 200*time.Microsecond {
							time.Sleep(ahead)
						}
						if err := l.conns[2*k].sendStamped(benchPhasePaced, l.now(), 1); err != nil {
							l.fail(err)
							return
						}
					}
				}
			}()
		}
		return nil
	})
}

// percentile returns the p-th percentile of d in milliseconds.
func percentile(d []time.Duration, p float64) float64 {
	if len(d) == 0 {
		return 0
	}
	slices.Sort(d)
	return float64(d[int(p*float64(len(d)-1))]) / float64(time.Millisecond)
}
