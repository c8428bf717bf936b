//go:build !js

package room

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay/mirror"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// Issue #14's measures, natively through a real relay on 127.0.0.1. The
// link and revocation benchmarks time themselves (their metrics); ns/op
// includes the setup, which keeps b.N small.

// historySize is the task's history a new device must show.
const historySize = 10_000

// BenchmarkLinkHistory10k: Bob and Ana share a task of 10,000 messages
// (Bob's and Ana's, half each); the time from Bob signing a new device's
// certificate (the code typed) until the device's timeline holds all of
// them (ms/link; ms/bundle: the certificate, the bundle and the device
// open; LINK_CPUPROFILE=file profiles the link alone). The timeline is
// read whole once the device holds enough pages (ms/held): reading
// 10,000 messages every few ms would be most of what is measured.
//
// members: Bob and Ana online, no mirror; the device follows Ana's book
// to Bob from her and Bob's book to himself from him. mirror: the three
// use a mirror, which holds every book; Ana is offline, so her book comes
// from the mirror (or Bob).
func BenchmarkLinkHistory10k(b *testing.B) {
	b.Run("members", func(b *testing.B) { benchLink(b, false) })
	b.Run("mirror", func(b *testing.B) { benchLink(b, true) })
}

func benchLink(b *testing.B, withMirror bool) {
	var total, totalHeld, totalBundle time.Duration
	msgs := 0
	for range b.N {
		url := startRelay(b)
		var mirrors []identity.ID
		var mir *mirror.Mirror
		if withMirror {
			mir = startMirror(b, url, mirror.Config{})
			mirrors = []identity.ID{mir.ID()}
		}
		bob := &node{t: b, name: "bob", url: url, seed: identity.Seed{2}, st: store.NewMemory(), mirrors: mirrors}
		ana := &node{t: b, name: "ana", url: url, seed: identity.Seed{1}, st: store.NewMemory(), mirrors: mirrors}
		for _, n := range []*node{bob, ana} {
			n.start()
			b.Cleanup(n.stop)
		}
		task := historyTask(b, bob, ana, historySize)
		if withMirror {
			eventuallyMoving(b, "the mirror holds the books", func() bool { return onMirror(mir, bob) && onMirror(mir, ana) },
				func() int { return int(mir.Stats().Bytes) })
			ana.stop()
		}
		want := timelineLen(b, bob, task) + 1 // and the device's announcement
		stopProfile := profileTo(b, os.Getenv("LINK_CPUPROFILE"))
		start := time.Now()
		phone := linkedDevice(b, url, bob, "phone", 7, mirrors)
		linked := time.Since(start)
		var held time.Duration // until the phone holds the pages
		eventuallyMoving(b, "the phone holds the history", func() bool {
			if othersPages(phone, task) < want {
				return false
			}
			if held == 0 {
				held = time.Since(start)
			}
			return timelineLen(b, phone, task) == want
		}, func() int { return othersPages(phone, task) }, state(task, phone))
		elapsed := time.Since(start)
		stopProfile()
		total, totalHeld, totalBundle, msgs = total+elapsed, totalHeld+held, totalBundle+linked, msgs+want
		for _, n := range []*node{phone, bob, ana} {
			n.stop()
		}
	}
	n := float64(b.N)
	b.ReportMetric(float64(total.Milliseconds())/n, "ms/link")
	b.ReportMetric(float64(totalHeld.Milliseconds())/n, "ms/held")
	b.ReportMetric(float64(totalBundle.Microseconds())/1000/n, "ms/bundle")
	b.ReportMetric(float64(msgs)/total.Seconds(), "msgs/s")
}

// profileTo starts a CPU profile written to path (none if path is
// empty) and returns its stop: `-cpuprofile` would also profile the
// setup, ten times longer than the link.
func profileTo(b *testing.B, path string) (stop func()) {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		b.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// historyTask makes a task of bob's that ana joined, with n chat messages
// written half by each, and waits until both hold all of them.
func historyTask(b *testing.B, bob, ana *node, n int) TaskID {
	b.Helper()
	task, err := bob.CreateTask(testCtx(b), "History", nil)
	if err != nil {
		b.Fatal(err)
	}
	ana.join(bob, task.ID)
	for i, w := range []*node{bob, ana} {
		texts := make([]string, 0, MaxBatch)
		for j := i; j < n; j += 2 {
			texts = append(texts, fmt.Sprintf("%s %d: a line of a long task's history", w.name, j))
			if len(texts) == MaxBatch || j+2 >= n {
				if _, err := w.SendMany(testCtx(b), task.ID, texts); err != nil {
					b.Fatal(err)
				}
				texts = texts[:0]
			}
		}
	}
	want := n + 3 // and the task, the member, the join
	for _, w := range []*node{bob, ana} {
		eventuallyMoving(b, w.name+" holds the history", func() bool { return timelineLen(b, w, task.ID) == want },
			func() int { return timelineLen(b, w, task.ID) })
	}
	return task.ID
}

// othersPages is how many pages of the other devices' books n holds,
// their genesis left out.
func othersPages(n *node, task TaskID) int {
	ms, err := n.Members(task)
	if err != nil {
		return 0
	}
	held := 0
	for _, m := range ms {
		if !m.Self && m.Have > 0 {
			held += int(m.Have) - 1
		}
	}
	return held
}

// timelineLen is how many messages n's timeline of task holds.
func timelineLen(tb testing.TB, n *node, task TaskID) int {
	var before *Key
	count := 0
	for {
		msgs, err := n.Timeline(testCtx(tb), task, before, MaxPage)
		if err != nil {
			tb.Fatal(err)
		}
		count += len(msgs)
		if len(msgs) < MaxPage {
			return count
		}
		k := msgs[0].Key()
		before = &k
	}
}

// BenchmarkRevokePropagation: Bob, his phone, Ana and Carl are online in
// a task; the time from Bob revoking the phone until every member shows
// the phone removed and the phone refuses to write.
func BenchmarkRevokePropagation(b *testing.B) {
	var total time.Duration
	for range b.N {
		url := startRelay(b)
		bob, ana, carl := newNode(b, url, "bob", 2), newNode(b, url, "ana", 1), newNode(b, url, "carl", 3)
		task, err := bob.CreateTask(testCtx(b), "Revoke", nil)
		if err != nil {
			b.Fatal(err)
		}
		ana.join(bob, task.ID)
		carl.join(bob, task.ID)
		phone := newDevice(b, url, bob, "phone", 7)
		all := []*node{bob, ana, carl, phone}
		for _, n := range all {
			eventually(b, n.name+" paired with all", func() bool { return n.paired(task.ID, 3) }, state(task.ID, n))
		}
		start := time.Now()
		if err := bob.RevokeDevice(testCtx(b), phone.ID()); err != nil {
			b.Fatal(err)
		}
		finely(b, "every member removes the phone and the phone knows", func() bool {
			for _, n := range []*node{bob, ana, carl} {
				if mi, ok := n.member(task.ID, phone.ID()); !ok || !mi.Removed {
					return false
				}
			}
			return errors.Is(phone.checkWritable(), ErrDeviceRevoked)
		}, state(task.ID, all...))
		total += time.Since(start)
		if _, err := phone.Send(testCtx(b), task.ID, "after", nil); !errors.Is(err, ErrDeviceRevoked) {
			b.Fatalf("the revoked phone sends: %v", err)
		}
		for _, n := range all {
			n.stop()
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/revoke")
}

// finely is eventually polling every 100 µs: for times of a few ms.
func finely(tb testing.TB, what string, cond func() bool, state ...func() string) {
	tb.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			for _, f := range state {
				tb.Log(f())
			}
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// BenchmarkExtraDevice: what one more device of the writer's person costs
// per message: Bob sends short messages to a task with Ana, alone or with
// one or two linked devices (offline: the writes alone are measured).
// Counted in Bob's store: transactions, pages appended and bytes written
// (keys and values) per message.
func BenchmarkExtraDevice(b *testing.B) {
	for devices := range 3 {
		b.Run(fmt.Sprintf("devices=%d", devices+1), func(b *testing.B) { benchExtraDevice(b, devices) })
	}
}

func benchExtraDevice(b *testing.B, devices int) {
	url := startRelay(b)
	st := &countingStore{Store: store.NewMemory()}
	bob := &node{t: b, name: "bob", url: url, st: st}
	for i := range bob.seed {
		bob.seed[i] = 2
	}
	bob.start()
	b.Cleanup(bob.stop)
	ana := newNode(b, url, "ana", 1)
	task, err := bob.CreateTask(testCtx(b), "Devices", nil)
	if err != nil {
		b.Fatal(err)
	}
	ana.join(bob, task.ID)
	others := []*node{ana}
	for i := range devices {
		others = append(others, newDevice(b, url, bob, fmt.Sprintf("device %d", i+2), byte(7+i)))
	}
	converged(b, task.ID, 3+devices, append([]*node{bob}, others...)...) // the task, the member, the join, the announcements
	for _, n := range others {
		n.stop()
	}
	text := strings.Repeat("x", 100)
	ctx := testCtx(b)
	st.reset()
	b.ResetTimer()
	for b.Loop() {
		if _, err := bob.Send(ctx, task.ID, text, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	n := float64(b.N)
	b.ReportMetric(float64(st.writes.Load())/n, "writes/msg")
	b.ReportMetric(float64(st.pages.Load())/n, "appends/msg")
	b.ReportMetric(float64(st.bytes.Load())/n, "bytes/msg")
}

// countingStore counts what is written to a store: transactions, records
// of the pages table (a page each, or a chunk of several) and the bytes of
// every op's key and value.
type countingStore struct {
	store.Store
	writes, pages, bytes atomic.Int64
}

func (s *countingStore) Write(ctx context.Context, bt *store.Batch) error {
	if err := s.Store.Write(ctx, bt); err != nil {
		return err
	}
	s.writes.Add(1)
	for _, op := range bt.Ops {
		if op.Table == store.TablePages {
			s.pages.Add(1)
		}
		s.bytes.Add(int64(len(op.Key) + len(op.Value)))
	}
	return nil
}

func (s *countingStore) reset() {
	s.writes.Store(0)
	s.pages.Store(0)
	s.bytes.Store(0)
}
