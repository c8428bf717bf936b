//go:build !js

package soak

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSoak runs the soak for SOAK_MINUTES minutes (skipped if unset):
// setup, a schedule of that length with failures in its first 80 %, then
// everything back up and the timelines checked until they converge.
func TestSoak(t *testing.T) {
	minutes, err := strconv.ParseFloat(os.Getenv("SOAK_MINUTES"), 64)
	if err != nil || minutes <= 0 {
		t.Skip("set SOAK_MINUTES (make soak) to run the soak")
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("SOAK_SEED"); s != "" {
		if seed, err = strconv.ParseInt(s, 10, 64); err != nil {
			t.Fatalf("SOAK_SEED: %v", err)
		}
	}
	fmt.Printf("soak: SOAK_SEED=%d\n", seed)
	t.Logf("SOAK_SEED=%d", seed)
	peers := 12
	if s := os.Getenv("SOAK_PEERS"); s != "" {
		if peers, err = strconv.Atoi(s); err != nil || peers < tasks {
			t.Fatalf("SOAK_PEERS %q: want a number ≥ %d", s, tasks)
		}
	}
	run := time.Duration(minutes * float64(time.Minute))
	maxClosed := 1
	if s := os.Getenv("SOAK_CLOSED"); s != "" {
		if maxClosed, err = strconv.Atoi(s); err != nil || maxClosed < 1 || maxClosed >= peers {
			t.Fatalf("SOAK_CLOSED %q: want a number from 1 to %d", s, peers-1)
		}
	}
	smp := startSampler(500 * time.Millisecond)
	defer smp.close()
	webOn := os.Getenv("SOAK_WEB") != "0"
	replay := fmt.Sprintf("make soak SOAK_MINUTES=%g SOAK_PEERS=%d SOAK_CLOSED=%d SOAK_SEED=%d", minutes, peers, maxClosed, seed)
	if !webOn {
		replay += " SOAK_WEB=0"
	}
	fmt.Printf("soak: replay with %s\n", replay)
	rtc := os.Getenv("E2E_NETNS") != "" // WebRTC in Chromium only inside tools/rtc-netns.sh
	r := &runner{t: t, seed: seed, maxClosed: maxClosed, plan: makePlan(seed, shares(peers, webOn), peers, maxClosed, run), l: newLedger()}
	r.w = startWorld(t, peers, newSightings(), webOn)
	r.webFrom, r.rtc = peers, rtc
	var wb *web
	if webOn {
		wb = startWeb(t, r.w, rtc)
		r.twin = wb.twins()
	}
	if err := r.w.waitOnline(time.Minute); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if err := r.makeTasks(); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	if wb != nil {
		if err := wb.linkDevices(r.w); err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
	}
	if err := r.waitPaired(webTimeout); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	t.Logf("seed %d: %d peers (%d in browsers) in %d tasks %v; %d actions over %v", seed, len(r.w.peers), len(r.w.peers)-peers, tasks, r.plan.Members, len(r.plan.Actions), run)
	r.l.start = time.Now()
	smp.mark("schedule")
	r.execute()
	smp.mark("all up")
	if err := r.w.allUp(); err != nil {
		t.Fatalf("seed %d: bringing everything back: %v", seed, err)
	}
	if err := r.w.waitOnline(time.Minute); err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	settle := time.Now()
	defect, delivered, err := r.converge(time.Minute + run/2)
	if err != nil {
		t.Fatalf("seed %d: %v", seed, err)
	}
	settled := time.Since(settle)
	smp.mark("converged")
	books, unverified, berr := r.w.devtools.verified(time.Minute)
	if len(unverified) > 0 {
		t.Logf("seed %d: devtools: %d books not verified after a minute: %v", seed, len(unverified), unverified)
	}
	rest := r.rest(smp)
	rep := r.report(delivered, settled, defect) + rest.report(books, unverified, berr)
	fmt.Print(rep)
	if err := writeReport(rep, smp.svg()); err != nil {
		t.Error(err)
	}
	if defect != "" {
		t.Fatalf("seed %d (replay: %s): %s", seed, replay, defect)
	}
	if berr != nil {
		t.Errorf("seed %d: %v", seed, berr)
	}
	if rest.cpu > idleCPU {
		t.Errorf("seed %d: with nothing to send, the soak's process used %.0f%% of a core (at most %.0f%%): a loop?", seed, 100*rest.cpu, 100*idleCPU)
	}
	if rest.chromeCPU > idleChromeCPU {
		t.Errorf("seed %d: with nothing to send, Chromium used %.0f%% of a core (at most %.0f%%): a loop in a page?", seed, 100*rest.chromeCPU, 100*idleChromeCPU)
	}
	if limit := r.heapBound(); rest.heap > limit {
		t.Errorf("seed %d: live heap %d MB at rest, over the bound %d MB", seed, rest.heap>>20, limit>>20)
	}
	if limit := int64(len(r.w.peers)-peers) * chromeMemory; rest.chromeMem > limit {
		t.Errorf("seed %d: Chromium's processes hold %d MB at rest (PSS), over the bound %d MB", seed, rest.chromeMem>>20, limit>>20)
	}
}

// idleChromeCPU bounds the CPU of all the Chromium processes with nothing
// to send, as a share of one core.
const idleChromeCPU = 0.5

// chromeMemory bounds the memory (PSS) of Chromium at rest, per tab
// (with its share of its browser's processes).
const chromeMemory = 768 << 20

// restFigures are what the soak measures at rest.
type restFigures struct {
	cpu, chromeCPU  float64 // share of one core: this process (the cluster), Chromium
	heap, chromeMem int64   // this process's live heap after a collection; Chromium's PSS
}

// idleCPU bounds the CPU the whole cluster (three relay nodes, NATS, two
// mirrors, devtools and every peer, all in this process) may use with
// nothing to send, as a share of one core: heartbeats and gossip only.
const idleCPU = 0.25

// restFor is how long the soak watches everything at rest at the end.
const restFor = 5 * time.Second

// rest waits restFor with nothing sent and measures meanwhile.
func (r *runner) rest(smp *sampler) restFigures {
	smp.mark("rest")
	from := time.Since(smp.start)
	time.Sleep(restFor) // the measured idle time, not a synchronisation
	to := time.Since(smp.start)
	runtime.GC()
	smp.take(true)
	last := smp.last()
	return restFigures{cpu: smp.cpuBetween("soak", from, to), chromeCPU: smp.cpuBetween("chromium", from, to),
		heap: last.Heap, chromeMem: last.Groups["chromium"].RSS}
}

// heapBound is the live heap the soak may hold at rest: a base for the
// cluster and its peers, plus what the memory stores of every peer and
// mirror keep for each message (each is kept by its author, each other
// member, both mirrors and, wrapped, devtools).
func (r *runner) heapBound() int64 {
	r.l.mu.Lock()
	n := int64(len(r.l.acked))
	r.l.mu.Unlock()
	return 128<<20 + n*perMessage
}

// perMessage is the heap allowed per acknowledged message at rest (one
// run held 30 MB of live heap with 473).
const perMessage = 32 << 10

// report is the report's lines on what the soak saw at rest.
func (f restFigures) report(books int, unverified []string, berr error) string {
	verdict := fmt.Sprintf("all %d verified", books)
	if len(unverified) > 0 {
		verdict = fmt.Sprintf("%d verified, %d not (yet) checkable after a minute: %s", books, len(unverified), strings.Join(unverified[:min(5, len(unverified))], "; "))
	}
	if berr != nil {
		verdict = berr.Error()
	}
	return fmt.Sprintf("\nAt rest: devtools' books: %s; with nothing to send, CPU of the whole cluster %.1f%% of one core (bound %.0f%%), of Chromium %.1f%% (bound %.0f%%); live heap %d MB; Chromium's memory (PSS) %d MB.\n\nMemory and CPU over time: soak.svg\n",
		verdict, 100*f.cpu, 100*idleCPU, 100*f.chromeCPU, 100*idleChromeCPU, f.heap>>20, f.chromeMem>>20)
}

// slowAfter is the delivery time over which the report lists a delivery.
const slowAfter = 3 * time.Second

// report is artifacts/soak.md's text.
func (r *runner) report(delivered int, settled time.Duration, defect string) string {
	l := r.l
	l.mu.Lock()
	defer l.mu.Unlock()
	want := 0
	var lat, upLat []time.Duration // upLat: both ends open from the ack to the event
	var slow []string              // the deliveries of upLat over slowAfter
	unmeasured := 0
	viaMirror := 0      // deliveries while the sender was closed
	withJoin := 0       // deliveries to a joiner of messages from before its join
	var unseen []string // deliveries with no event
	for _, s := range l.acked {
		for _, m := range l.membersLocked(r.plan.Members[s.Task], s.Task) {
			if m == s.Peer {
				continue
			}
			want++
			if j, ok := l.joined[[2]int{m, s.Task}]; ok && s.Ack.Before(j) {
				withJoin++ // not a delivery time: it came with the join
				continue
			}
			if at, ok := r.w.seen.at(l.taskIDs[s.Task], s.ID, m); ok {
				lat = append(lat, max(0, at.Sub(s.Ack)))
				if !l.upBetweenLocked(s.Peer, at, at.Add(time.Nanosecond)) {
					viaMirror++
				}
				if r.upBetween(m, s.Ack, at) && r.upBetween(s.Peer, s.Ack, at) {
					upLat = append(upLat, max(0, at.Sub(s.Ack)))
					if d := at.Sub(s.Ack); d > slowAfter && len(slow) < 20 {
						author := strings.SplitN(s.ID, "/", 2)[0]
						slow = append(slow, fmt.Sprintf("- %s (peer %d → peer %d, task %d) acked at %v, seen after %v; the receiver's port to the sender meanwhile: %s",
							s.ID, s.Peer, m, s.Task, s.Ack.Sub(l.start).Truncate(time.Millisecond), d.Round(time.Millisecond),
							r.w.seen.portsBetween(m, author, s.Ack.Add(-slowAfter), at, l.start)))
					}
				}
			} else {
				unmeasured++
				if len(unseen) < 10 {
					unseen = append(unseen, fmt.Sprintf("- %s in task %d (peer %d → peer %d) acked at %v; seen pending: %v; the receiver closed %v; the sender closed %v",
						s.ID, s.Task, s.Peer, m, s.Ack.Sub(l.start).Truncate(time.Millisecond), r.w.seen.sawPending(l.taskIDs[s.Task], s.ID, m),
						l.spansLocked(m), l.spansLocked(s.Peer)))
				}
			}
		}
	}
	slices.Sort(lat)
	slices.Sort(upLat)
	var b strings.Builder
	fmt.Fprintf(&b, "# Soak\n\nSOAK_SEED=%d, SOAK_CLOSED=%d, %d peers, %d relay nodes, %d mirrors, %d tasks, members %v\n\n", r.seed, r.maxClosed, len(r.w.peers), relays, mirrors, tasks, r.plan.Members)
	if web := len(r.w.peers) - r.webFrom; web > 0 {
		fmt.Fprintf(&b, "Peers %d–%d are tabs of headless Chromium (WebRTC %v): peers %d and %d one profile in two tabs of one browser, "+
			"peers %d and %d one profile on two devices (the second linked), the others a profile each; "+
			"%d tabs closed and %d renderers crashed mid-burst, each reopened; every tab's timeline checked.\n\n",
			r.webFrom, len(r.w.peers)-1, r.rtc, r.webFrom, r.webFrom+1, r.webFrom+2, r.webFrom+5, l.counts["tab-closed"], l.counts["renderer-crashed"])
	}
	outcome := "every acknowledged message at every member, once, in the same order"
	if defect != "" {
		outcome = "FAILED: " + defect
	}
	fmt.Fprintf(&b, "Outcome: %s\n\n", outcome)
	fmt.Fprintf(&b, "| measure | value |\n| --- | --- |\n")
	fmt.Fprintf(&b, "| sends and edits called | %d |\n| of them failed (not acknowledged) | %d |\n", l.tried, l.failed)
	fmt.Fprintf(&b, "| messages acknowledged | %d |\n", len(l.acked))
	fmt.Fprintf(&b, "| deliveries due (message × other member) | %d |\n| deliveries in the final timelines | %d |\n", want, delivered)
	fmt.Fprintf(&b, "| deliveries timed by an event | %d (%d came with no event: stored while the receiver closed, or in one of %d catch-up events) |\n", len(lat), unmeasured, r.w.seen.bulkCount())
	fmt.Fprintf(&b, "| deliveries while their sender was closed (from a mirror) | %d |\n", viaMirror)
	fmt.Fprintf(&b, "| deliveries to a joiner of what was sent before it joined | %d |\n", withJoin)
	fmt.Fprintf(&b, "| latency ack → event, p50 / p99 / max | %s |\n", quantiles(lat))
	fmt.Fprintf(&b, "| the same while both ends stayed open and online (%d) | %s |\n", len(upLat), quantiles(upLat))
	fmt.Fprintf(&b, "| time to converge once all was back | %v |\n\n", settled.Round(time.Millisecond))
	b.WriteString(r.w.relayReport() + "\n")
	fmt.Fprintf(&b, "Actions run:\n\n| action | count |\n| --- | --- |\n")
	kinds := make([]string, 0, len(l.counts))
	for k := range l.counts {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	for _, k := range kinds {
		fmt.Fprintf(&b, "| %s | %d |\n", k, l.counts[k])
	}
	if len(unseen) > 0 {
		fmt.Fprintf(&b, "\nDeliveries in the timelines with no message event (the first 10):\n\n%s\n", strings.Join(unseen, "\n"))
	}
	if len(slow) > 0 {
		fmt.Fprintf(&b, "\nDeliveries over %v while both ends stayed open and online (the first 20):\n\n%s\n", slowAfter, strings.Join(slow, "\n"))
	}
	if len(l.errs) > 0 {
		fmt.Fprintf(&b, "\nErrors of sends and edits (expected while a peer closes):\n\n")
		for e, n := range l.errs {
			fmt.Fprintf(&b, "- %d × %s\n", n, e)
		}
	}
	return b.String()
}

// upBetween says whether peer was open and online all the time from a to
// b; r.l.mu is held.
func (r *runner) upBetween(peer int, a, b time.Time) bool {
	return r.l.upBetweenLocked(peer, a, b) && r.w.seen.onlineBetween(peer, a, b)
}

// quantiles is p50 / p99 / max of sorted ds.
func quantiles(ds []time.Duration) string {
	if len(ds) == 0 {
		return "-"
	}
	q := func(d time.Duration) string { return d.Round(time.Millisecond).String() }
	return q(ds[len(ds)/2]) + " / " + q(ds[len(ds)*99/100]) + " / " + q(ds[len(ds)-1])
}

// writeReport writes artifacts/soak.md and its plot soak.svg at the
// repository's root.
func writeReport(text, svg string) error {
	dir := filepath.Join("..", "..", "artifacts")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "soak.svg"), []byte(svg), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "soak.md"), []byte(text), 0o644)
}

// TestPlanReplays: a seed always draws the same plan, every failure ends
// within the chaos phase and no two of a kind overlap.
func TestPlanReplays(t *testing.T) {
	for seed := range int64(20) {
		maxClosed := 1 + int(seed%3)
		share := shares(12, seed%2 == 1)
		a, b := makePlan(seed, share, 12, maxClosed, time.Minute), makePlan(seed, share, 12, maxClosed, time.Minute)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("seed %d drew two plans", seed)
		}
		in := make([]int, len(share))
		for _, ms := range a.Members {
			for _, m := range ms {
				in[m]++
			}
		}
		if slices.Contains(in, 0) {
			t.Fatalf("seed %d: a peer in no task: %v", seed, a.Members)
		}
		for m, of := range share {
			for i, ms := range a.Members {
				if of >= 0 && slices.Contains(ms, m) != slices.Contains(ms, of) {
					t.Fatalf("seed %d: peer %d shares the tasks of peer %d, but task %d has %v", seed, m, of, i, ms)
				}
			}
		}
		checkMoves(t, seed, a)
		down := map[string]bool{}
		closed := 0
		for _, act := range a.Actions {
			kind, up := failure(act.Kind)
			if kind == "" {
				continue
			}
			if act.At >= chaosPhase(time.Minute) {
				t.Fatalf("seed %d: %v at %v, after the chaos phase", seed, act, act.At)
			}
			if kind == "peer" {
				kind = fmt.Sprint("peer ", act.Peer)
				if up {
					closed--
				} else {
					closed++
				}
				if closed > maxClosed {
					t.Fatalf("seed %d: %d peers closed at %v, at most %d", seed, closed, act.At, maxClosed)
				}
			}
			if down[kind] != up {
				t.Fatalf("seed %d: %v at %v while down is %v", seed, act, act.At, down[kind])
			}
			down[kind] = !up
		}
		for k, d := range down {
			if d {
				t.Fatalf("seed %d: a %s never ends", seed, k)
			}
		}
	}
}

// checkMoves checks that a plan has a join and a leave by peers never
// closed, and that the joiner writes to its task only after the join and
// the leaver only before its leave.
func checkMoves(t *testing.T, seed int64, a plan) {
	t.Helper()
	moves := map[string]action{}
	for _, act := range a.Actions {
		if act.Kind == actJoin || act.Kind == actLeave {
			moves[act.Kind] = act
		}
	}
	join, leave := moves[actJoin], moves[actLeave]
	if join.Kind == "" || leave.Kind == "" || join.Peer == leave.Peer {
		t.Fatalf("seed %d: moves %v", seed, moves)
	}
	for _, act := range a.Actions {
		switch {
		case act.Kind == actClosePeer && (act.Peer == join.Peer || act.Peer == leave.Peer):
			t.Fatalf("seed %d: %v closes a moving peer", seed, act)
		case !slices.Contains([]string{actTrickle, actBurst, actReply, actEdit, actClosePeer}, act.Kind):
		case act.Peer == join.Peer && act.Task == join.Task && act.At < join.At+joinGrace:
			t.Fatalf("seed %d: %v at %v before its join at %v", seed, act, act.At, join.At)
		case act.Peer == leave.Peer && act.Task == leave.Task && act.At >= leave.At:
			t.Fatalf("seed %d: %v at %v after its leave at %v", seed, act, act.At, leave.At)
		}
	}
}

// failure names the failure an action starts or ends (up: it ends).
func failure(kind string) (name string, up bool) {
	switch kind {
	case actClosePeer, actOpenPeer:
		return "peer", kind == actOpenPeer
	case actKillRelay, actRestartRelay:
		return "relay", kind == actRestartRelay
	case actKillMirror, actStartMirror:
		return "mirror", kind == actStartMirror
	case actCutLink, actRestoreLink:
		return "link", kind == actRestoreLink
	case actBusy, actIdle:
		return "cpu", kind == actIdle
	}
	return "", false
}
