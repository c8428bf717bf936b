//go:build !js

package soak

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"time"
)

// chaosPhase is the part of a schedule of length run with failures.
func chaosPhase(run time.Duration) time.Duration { return run * 8 / 10 }

// The kinds of scheduled action.
const (
	actTrickle      = "trickle"       // one message
	actBurst        = "burst"         // many messages back to back
	actReply        = "reply"         // a message replying to an acknowledged one
	actEdit         = "edit"          // an edit of an own acknowledged message
	actClosePeer    = "close-peer"    // a burst, and the peer closed in its middle
	actOpenPeer     = "open-peer"     // the closed peer reopened
	actKillRelay    = "kill-relay"    // a relay node killed
	actRestartRelay = "restart-relay" // the killed node restarted on its address
	actKillMirror   = "kill-mirror"   // a mirror killed
	actStartMirror  = "start-mirror"  // the killed mirror started again on its store
	actCutLink      = "cut-link"      // a peer's links to the relay nodes cut
	actRestoreLink  = "restore-link"  // the cut links working again
	actBusy         = "busy"          // the CPU made busy: two burner processes
	actIdle         = "idle"          // the burners stopped
	actJoin         = "join"          // a peer joins a task it was not in
	actLeave        = "leave"         // a member leaves a task
)

// An action is one step of the schedule.
type action struct {
	At    time.Duration // from the start of the schedule
	Kind  string
	Peer  int // the peer that writes, closes or opens
	Task  int // the task written to
	N     int // messages (a burst; close-peer closes after Cut of them)
	Cut   int
	Node  int // the relay node or the mirror killed or started
	Token uint64
	Crash bool // close-peer: crash the peer's process (a tab's renderer) rather than close it
}

func (a action) String() string {
	switch a.Kind {
	case actTrickle, actReply, actEdit:
		return fmt.Sprintf("%s peer %d task %d", a.Kind, a.Peer, a.Task)
	case actBurst:
		return fmt.Sprintf("burst peer %d task %d ×%d", a.Peer, a.Task, a.N)
	case actClosePeer:
		how := "close-peer"
		if a.Crash {
			how = "crash-peer"
		}
		return fmt.Sprintf("%s %d after %d of a burst of %d to task %d", how, a.Peer, a.Cut, a.N, a.Task)
	case actOpenPeer, actCutLink, actRestoreLink:
		return fmt.Sprintf("%s %d", a.Kind, a.Peer)
	case actJoin, actLeave:
		return fmt.Sprintf("%s peer %d task %d", a.Kind, a.Peer, a.Task)
	case actBusy, actIdle:
		return a.Kind
	default:
		return fmt.Sprintf("%s %d", a.Kind, a.Node)
	}
}

// A plan is what a seed decides before anything runs: the tasks' members
// and the schedule.
type plan struct {
	Members [][]int // of each task at the start, its creator first
	Actions []action
	// Share[i] ≥ 0: peer i is a member of the tasks of peer Share[i] and
	// joins none itself (another tab of its profile, a device linked to it).
	Share []int
}

// A move is a peer joining or leaving a task during the run.
type move struct {
	At         time.Duration
	Peer, Task int
}

// Plan sizes.
const (
	tasks   = 5
	relays  = 3
	mirrors = 2
)

// makePlan draws the plan of seed for len(share) peers (share: Share;
// from webFrom on, in browsers) and a schedule of length run: messages
// all along, failures in the chaos phase, its first 80 %; every failure
// ends within it, and at most one of each kind is under way at a time,
// but for closed peers: at most maxClosed. Half the closes are of pages,
// if there are any: every other one a renderer crash, the others clean
// closes, the first a crash of one of the first two pages (a profile in
// two tabs). Only natives move between tasks or have links to cut.
func makePlan(seed int64, share []int, webFrom, maxClosed int, run time.Duration) plan {
	chaos := chaosPhase(run)
	rng := rand.New(rand.NewPCG(uint64(seed), 0x50a4))
	peers := len(share)
	p := plan{Share: share}
	p.Members = make([][]int, tasks)
	for i := range p.Members {
		p.Members[i] = []int{i % peers}
	}
	for peer := range peers {
		for i := range p.Members {
			in := slices.Contains(p.Members[i], peer)
			if !in && (peer%tasks == i || rng.Float64() < 0.3) {
				p.Members[i] = append(p.Members[i], peer)
			}
		}
	}
	shareMembers(p.Members, share)
	join, leave := pickMoves(rng, webFrom, p.Members, run, chaos)
	if join.Peer >= 0 {
		p.Actions = append(p.Actions, action{At: join.At, Kind: actJoin, Peer: join.Peer, Task: join.Task})
	}
	if leave.Peer >= 0 {
		p.Actions = append(p.Actions, action{At: leave.At, Kind: actLeave, Peer: leave.Peer, Task: leave.Task})
	}
	// in says whether peer writes to task at: joined a moment before, not
	// left yet.
	in := func(peer, task int, at time.Duration) bool {
		switch {
		case peer == join.Peer && task == join.Task:
			return at > join.At+joinGrace
		case peer == leave.Peer && task == leave.Task:
			return at < leave.At
		}
		return slices.Contains(p.Members[task], peer)
	}
	var relayBack, mirrorBack, linkBack, busyBack time.Duration // when the failure under way ends
	closedUntil := make([]time.Duration, peers)                 // when each peer reopens
	pageCloses := 0                                             // closes of pages drawn so far
	nClosed := func(at time.Duration) int {
		n := 0
		for _, t := range closedUntil {
			if t > at {
				n++
			}
		}
		return n
	}
	outage := func(at time.Duration) (time.Duration, bool) {
		d := 2*time.Second + time.Duration(rng.Int64N(int64(min(13*time.Second, max(chaos/6, time.Second)))))
		return at + d, at+d < chaos
	}
	for at := time.Duration(0); ; {
		at += time.Duration(rng.ExpFloat64() * float64(250*time.Millisecond))
		if at >= run {
			break
		}
		a := action{At: at, Token: rng.Uint64()}
		a.Peer = rng.IntN(peers)
		for closedUntil[a.Peer] > at {
			a.Peer = rng.IntN(peers)
		}
		tasksOf := func(peer int) []int {
			var mine []int
			for task := range tasks {
				if in(peer, task, at) {
					mine = append(mine, task)
				}
			}
			return mine
		}
		mine := tasksOf(a.Peer)
		if len(mine) == 0 {
			continue
		}
		a.Task = mine[rng.IntN(len(mine))]
		switch r := rng.IntN(100); {
		case r < 50:
			a.Kind = actTrickle
		case r < 60:
			a.Kind, a.N = actBurst, 5+rng.IntN(16)
		case r < 73:
			a.Kind = actReply
		case r < 82:
			a.Kind = actEdit
		case r < 87:
			back, ok := outage(at)
			if nClosed(at) >= maxClosed || !ok || a.Peer == join.Peer || a.Peer == leave.Peer {
				continue // the moving peers stay open: their moves need them
			}
			a.Kind, a.N = actClosePeer, 4+rng.IntN(12)
			a.Cut = 1 + rng.IntN(a.N-1)
			if k := pageToClose(a.Token, webFrom, peers, pageCloses); webFrom < peers && (a.Peer >= webFrom || a.Token&2 != 0) && closedUntil[k] <= at {
				ts := tasksOf(k) // half the closes, and those drawn for a page, close the page pageToClose picks
				a.Peer, a.Task = k, ts[int((a.Token>>16)%uint64(len(ts)))]
			}
			if a.Peer >= webFrom {
				a.Crash = pageCloses%2 == 0 // every other close of a page a renderer crash, the first one too
				pageCloses++
			}
			closedUntil[a.Peer] = back
			p.Actions = append(p.Actions, action{At: back, Kind: actOpenPeer, Peer: a.Peer})
		case r < 91:
			back, ok := outage(at)
			if at < relayBack || !ok {
				continue
			}
			a.Kind, a.Node, relayBack = actKillRelay, rng.IntN(relays), back
			p.Actions = append(p.Actions, action{At: back, Kind: actRestartRelay, Node: a.Node})
		case r < 94:
			back, ok := outage(at)
			if at < mirrorBack || !ok {
				continue
			}
			a.Kind, a.Node, mirrorBack = actKillMirror, rng.IntN(mirrors), back
			p.Actions = append(p.Actions, action{At: back, Kind: actStartMirror, Node: a.Node})
		case r < 97:
			back, ok := outage(at)
			if at < linkBack || !ok || a.Peer >= webFrom {
				continue // a page's link is its browser's own
			}
			a.Kind, linkBack = actCutLink, back
			p.Actions = append(p.Actions, action{At: back, Kind: actRestoreLink, Peer: a.Peer})
		default:
			back, ok := outage(at)
			if at < busyBack || !ok {
				continue
			}
			a.Kind, busyBack = actBusy, back
			p.Actions = append(p.Actions, action{At: back, Kind: actIdle})
		}
		p.Actions = append(p.Actions, a)
	}
	slices.SortStableFunc(p.Actions, func(a, b action) int { return int(a.At - b.At) })
	return p
}

// joinGrace is how long after its join a peer is first scheduled to
// write to the task (a join takes a moment; a send before it ends fails).
const joinGrace = 5 * time.Second

// pickMoves draws one peer joining a task it is not in, in the first half
// of the run, and another leaving a task of three or more members
// during the chaos phase; a move with no candidate has Peer -1.
func pickMoves(rng *rand.Rand, peers int, members [][]int, run, chaos time.Duration) (join, leave move) {
	var outs, ins []move
	for task, ms := range members {
		for peer := range peers {
			switch {
			case !slices.Contains(ms, peer):
				outs = append(outs, move{Peer: peer, Task: task})
			case len(ms) >= 3:
				ins = append(ins, move{Peer: peer, Task: task})
			}
		}
	}
	join, leave = move{Peer: -1}, move{Peer: -1}
	if len(outs) > 0 {
		join = outs[rng.IntN(len(outs))]
		join.At = run/10 + time.Duration(rng.Int64N(int64(run*4/10)))
	}
	// The leave may fall in the joiner's task: a member that left before
	// the join wrote no book to the joiner, whose members serve its
	// history (wasm/room departed.go).
	ins = slices.DeleteFunc(ins, func(m move) bool { return m.Peer == join.Peer })
	if len(ins) > 0 {
		leave = ins[rng.IntN(len(ins))]
		leave.At = chaos/4 + time.Duration(rng.Int64N(int64(chaos/2)))
	}
	return join, leave
}

// shareMembers makes each peer i with share[i] ≥ 0 a member of exactly
// the tasks of share[i] (creators never share).
func shareMembers(members [][]int, share []int) {
	for i, ms := range members {
		members[i] = slices.DeleteFunc(ms, func(m int) bool { return share[m] >= 0 })
	}
	for m, of := range share {
		for i, ms := range members {
			if of >= 0 && slices.Contains(ms, of) {
				members[i] = append(members[i], m)
			}
		}
	}
}

// pageToClose picks the page of the n-th close of a page: one of the
// first two the first time, any after.
func pageToClose(token uint64, webFrom, peers, n int) int {
	pages := uint64(max(1, peers-webFrom))
	if n == 0 {
		pages = min(pages, 2)
	}
	return webFrom + int((token>>8)%pages)
}
