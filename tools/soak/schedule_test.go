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
	case actOpenPeer:
		return fmt.Sprintf("open-peer %d", a.Peer)
	default:
		return fmt.Sprintf("%s %d", a.Kind, a.Node)
	}
}

// A plan is what a seed decides before anything runs: the tasks' members
// and the schedule.
type plan struct {
	Members [][]int // of each task, its creator first
	Actions []action
	// Share[i] ≥ 0: peer i is a member of the tasks of peer Share[i] and
	// joins none itself (another tab of its profile, a device linked to it).
	Share []int
}

// Plan sizes.
const (
	tasks   = 5
	relays  = 3
	mirrors = 2
)

// makePlan draws the plan of seed for len(share) peers (share: Share;
// from webFrom on, in browsers) and a schedule of length run: messages all along, failures in the chaos
// phase, its first 80 %; every failure ends within it, and at most one of
// each kind is under way at a time, but for closed peers: at most
// maxClosed. Half the closes are of pages, if there are any: every
// other one a renderer crash, the others clean closes, the first a crash
// of one of the first two pages (a profile in two tabs).
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
	tasksOf := make([][]int, peers)
	for i, ms := range p.Members {
		for _, m := range ms {
			tasksOf[m] = append(tasksOf[m], i)
		}
	}
	pageCloses := 0                             // closes of pages drawn so far
	var relayBack, mirrorBack time.Duration     // when the failure under way ends
	closedUntil := make([]time.Duration, peers) // when each peer reopens
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
		a.Task = tasksOf[a.Peer][rng.IntN(len(tasksOf[a.Peer]))]
		switch r := rng.IntN(100); {
		case r < 50:
			a.Kind = actTrickle
		case r < 60:
			a.Kind, a.N = actBurst, 5+rng.IntN(16)
		case r < 75:
			a.Kind = actReply
		case r < 85:
			a.Kind = actEdit
		case r < 90:
			back, ok := outage(at)
			if nClosed(at) >= maxClosed || !ok {
				continue
			}
			a.Kind, a.N = actClosePeer, 4+rng.IntN(12)
			a.Cut = 1 + rng.IntN(a.N-1)
			if k := pageToClose(a.Token, webFrom, peers, pageCloses); webFrom < peers && a.Token&2 != 0 && closedUntil[k] <= at {
				a.Peer, a.Task = k, tasksOf[k][int((a.Token>>16)%uint64(len(tasksOf[k])))]
				a.Crash = pageCloses%2 == 0
				pageCloses++
			}
			closedUntil[a.Peer] = back
			p.Actions = append(p.Actions, action{At: back, Kind: actOpenPeer, Peer: a.Peer})
		case r < 95:
			back, ok := outage(at)
			if at < relayBack || !ok {
				continue
			}
			a.Kind, a.Node, relayBack = actKillRelay, rng.IntN(relays), back
			p.Actions = append(p.Actions, action{At: back, Kind: actRestartRelay, Node: a.Node})
		default:
			back, ok := outage(at)
			if at < mirrorBack || !ok {
				continue
			}
			a.Kind, a.Node, mirrorBack = actKillMirror, rng.IntN(mirrors), back
			p.Actions = append(p.Actions, action{At: back, Kind: actStartMirror, Node: a.Node})
		}
		p.Actions = append(p.Actions, a)
	}
	slices.SortStableFunc(p.Actions, func(a, b action) int { return int(a.At - b.At) })
	return p
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
