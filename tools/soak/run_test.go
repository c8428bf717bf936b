//go:build !js

package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/app"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// callTimeout bounds one call of an App (a send, an edit, a join).
const callTimeout = 60 * time.Second

// A runner carries out a plan in a world.
type runner struct {
	t         *testing.T
	seed      int64        // immutable
	maxClosed int          // immutable: peers closed at once at most
	w         *world       // immutable
	plan      plan         // immutable
	l         *ledger      // has its own lock
	count     atomic.Int64 // messages numbered so far
	webFrom   int          // immutable: the first peer in a browser (len(w.peers) if none)
	twin      map[int]int  // immutable: a tab → the other tab of its profile (the same device)
	rtc       bool         // immutable: the tabs have WebRTC on
}

// makeTasks creates the plan's tasks, each by its first member, and has
// the others join them.
func (r *runner) makeTasks() error {
	var wg sync.WaitGroup
	errs := make([]error, tasks)
	for i, ms := range r.plan.Members {
		wg.Go(func() { errs[i] = r.makeTask(i, ms) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (r *runner) makeTask(i int, ms []int) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout*time.Duration(len(ms)))
	defer cancel()
	host := r.w.peers[ms[0]]
	out, err := host.do(ctx, "createTask", fmt.Sprintf(`[{"title":"soak %d"}]`, i))
	if err != nil {
		return fmt.Errorf("createTask %d: %w", i, err)
	}
	var info room.TaskInfo
	if err := json.Unmarshal(out, &info); err != nil {
		return err
	}
	r.l.taskIDs[i] = info.ID
	for _, m := range ms[1:] {
		if r.plan.Share[m] >= 0 {
			continue // a member through the peer it shares the tasks of
		}
		if err := r.joinTried(m, i); err != nil {
			return err
		}
	}
	return nil
}

// waitPaired polls until every member of every task has every other
// member paired.
func (r *runner) waitPaired(within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		missing := ""
		for i, ms := range r.plan.Members {
			for _, m := range ms {
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				infos, err := r.w.peers[m].members(ctx, r.l.taskIDs[i])
				cancel()
				paired := 0
				for _, info := range infos {
					if info.Paired && !info.Self {
						paired++
					}
				}
				want := r.devices(ms) - 1
				if err != nil || paired < want {
					missing = fmt.Sprintf("peer %d in task %d has %d of %d paired (%v)", m, i, paired, want, err)
				}
			}
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not paired after %v: %s", within, missing)
		}
		time.Sleep(100 * time.Millisecond) // polling the members' pairings
	}
}

// devices is the number of devices among the peers ms: the tabs of a
// profile in one browser are one.
func (r *runner) devices(ms []int) int {
	n := 0
	for _, m := range ms {
		if _, ok := r.twin[m]; !ok {
			n++
		}
	}
	return n
}

// execute runs the schedule: each action at its time, messages on
// goroutines of their own; it returns when every action is done.
func (r *runner) execute() {
	start := time.Now()
	var wg sync.WaitGroup
	closing := make(map[int]chan struct{}) // a peer's close under way: closed when done
	opening := make(map[int]chan struct{}) // a page's reopening under way: closed when done
	for _, a := range r.plan.Actions {
		if d := time.Until(start.Add(a.At)); d > 0 {
			time.Sleep(d) // the schedule's clock, not a synchronisation
		}
		r.t.Log(r.l.did(a.Kind, a.String()))
		switch a.Kind {
		case actTrickle:
			wg.Go(func() { r.send(a.Peer, a.Task, nil) })
		case actBurst:
			wg.Go(func() { r.burst(a.Peer, a.Task, a.N, -1, false, nil) })
		case actReply:
			wg.Go(func() { r.send(a.Peer, a.Task, r.l.pick(a.Task, a.Peer, a.Token, false, r.w.seen)) })
		case actEdit:
			wg.Go(func() { r.edit(a.Peer, a.Task, a.Token) })
		case actClosePeer:
			done := make(chan struct{})
			closing[a.Peer] = done
			wait := opening[a.Peer]
			wg.Go(func() {
				if wait != nil {
					<-wait
				}
				r.burst(a.Peer, a.Task, a.N, a.Cut, a.Crash, done)
			})
		case actOpenPeer:
			if a.Peer < r.webFrom {
				<-closing[a.Peer]
				r.reopen(a.Peer)
				break
			}
			// A page loads from its relay node, which may be down
			// until a later action: it opens on a goroutine.
			done := make(chan struct{})
			opening[a.Peer] = done
			wait := closing[a.Peer]
			wg.Go(func() {
				defer close(done)
				<-wait
				r.reopen(a.Peer)
			})
		case actKillRelay:
			r.w.killRelay(a.Node)
		case actRestartRelay:
			if err := r.w.nodes[a.Node].Restart(); err != nil {
				r.t.Errorf("seed %d: restarting relay node %d: %v", r.seed, a.Node, err)
			}
		case actCutLink, actRestoreLink:
			r.w.peers[a.Peer].link.setCut(a.Kind == actCutLink)
		case actBusy:
			if err := r.w.burn.start(); err != nil {
				r.t.Errorf("seed %d: making the CPU busy: %v", r.seed, err)
			}
		case actIdle:
			r.w.burn.stop()
		case actJoin:
			wg.Go(func() { r.join(a.Peer, a.Task) })
		case actLeave:
			wg.Go(func() { r.leave(a.Peer, a.Task) })
		case actKillMirror:
			r.w.mirrors[a.Node].kill()
		case actStartMirror:
			if err := r.w.mirrors[a.Node].start(r.w.nodes); err != nil {
				r.t.Errorf("seed %d: starting mirror %d: %v", r.seed, a.Node, err)
			}
		}
	}
	wg.Wait()
}

// reopen opens the closed peer again.
func (r *runner) reopen(peer int) {
	if err := r.w.peers[peer].open(r.w.seen); err != nil {
		r.t.Errorf("seed %d: reopening peer %d: %v", r.seed, peer, err)
	}
	r.l.opened(peer)
}

// members are task's members now.
func (r *runner) members(task int) []int { return r.l.members(r.plan.Members[task], task) }

// joinTries bounds the invitations a join is tried with (each times out
// after 30 s: its inviter's relay node may be down).
const joinTries = 3

// join has peer join task with an invitation from a member who is open.
func (r *runner) join(peer, task int) {
	if err := r.joinTried(peer, task); err != nil {
		r.t.Errorf("seed %d: %v", r.seed, err)
		return
	}
	r.l.moved(peer, task, true)
}

// joinTried tries joinOnce up to joinTries times; each failure is logged.
func (r *runner) joinTried(peer, task int) error {
	var errs []error
	for range joinTries {
		err := r.joinOnce(peer, task)
		if err == nil {
			return nil
		}
		r.t.Logf("peer %d joining task %d: %v", peer, task, err)
		errs = append(errs, err)
	}
	return fmt.Errorf("peer %d could not join task %d: %w", peer, task, errors.Join(errs...))
}

func (r *runner) joinOnce(peer, task int) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var code []byte
	var err error = errors.New("no member open to invite")
	for _, m := range r.members(task) {
		if code, err = r.w.peers[m].do(ctx, "invite", `["`+r.l.taskIDs[task].String()+`"]`); err == nil {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("invite: %w", err)
	}
	_, err = r.w.peers[peer].do(ctx, "join", `[`+string(code)+`,{"timeout":30000}]`)
	return err
}

// leaveTries bounds the leaves tried: one fails while a member holds
// neither the leave message nor a mirror for it (its link cut, say).
const leaveTries = 5

// leave has peer leave task.
func (r *runner) leave(peer, task int) {
	r.l.moved(peer, task, false)
	var err error
	for range leaveTries {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		_, err = r.w.peers[peer].do(ctx, "leave", `["`+r.l.taskIDs[task].String()+`"]`)
		cancel()
		if !errors.Is(err, room.ErrLeaveUndelivered) {
			break
		}
		r.t.Logf("peer %d leaving task %d: %v; again", peer, task, err)
	}
	if err != nil {
		r.t.Errorf("seed %d: peer %d leaving task %d: %v", r.seed, peer, task, err)
	}
}

// burst sends n messages back to back; with cut ≥ 0 it closes the peer
// (crashes it, with crash) once cut were called, the rest racing the
// close, and closes done when the peer is closed.
func (r *runner) burst(peer, task, n, cut int, crash bool, done chan struct{}) {
	var wg sync.WaitGroup
	hung := false
	for i := range n {
		if i == cut {
			r.l.closed(peer)
			wg.Go(func() {
				defer close(done)
				r.closePeer(peer, crash)
			})
		}
		if !hung { // after a call not answered, the rest are not tried (a minute each)
			hung = !r.send(peer, task, nil)
		}
	}
	wg.Wait()
}

// answered fails the soak with a call the peer did not answer in time
// while it stayed open (the page or app hangs), and says whether err is
// not that.
func (r *runner) answered(peer int, err error) bool {
	if errors.Is(err, errNoAnswer) {
		r.t.Errorf("seed %d: peer %d: %v", r.seed, peer, err)
		return false
	}
	return true
}

// closePeer closes the peer, or crashes it with crash if it can crash
// (a tab's renderer), and counts what was done to a page.
func (r *runner) closePeer(peer int, crash bool) {
	p := r.w.peers[peer]
	switch {
	case !crash:
		p.close()
		if peer >= r.webFrom {
			r.l.did("tab-closed", "")
		}
	default:
		crashed, err := p.crash()
		if err != nil {
			r.t.Errorf("seed %d: crashing peer %d: %v", r.seed, peer, err)
		}
		if crashed {
			r.l.did("renderer-crashed", "")
		}
	}
}

// send sends the next message from peer to task, a reply to reply if
// set, and records it if acknowledged; false if the peer did not answer.
func (r *runner) send(peer, task int, reply *sent) bool {
	n := r.count.Add(1)
	text := fmt.Sprintf("s%d p%d t%d #%d", r.seed, peer, task, n)
	args := `["` + r.l.taskIDs[task].String() + `",` + strconv.Quote(text)
	if reply != nil {
		args += `,{"replyTo":"` + reply.ID + `"}`
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	out, err := r.w.peers[peer].do(ctx, "send", args+`]`)
	ack := time.Now()
	var v app.MessageView
	if err == nil {
		err = json.Unmarshal(out, &v)
	}
	r.l.try(err)
	if err != nil && reply != nil && !errors.Is(err, app.ErrClosed) {
		r.replyFailed(peer, task, reply, err)
	}
	if err == nil {
		r.l.ack(&sent{ID: v.ID, Text: text, Peer: peer, Task: task, Ack: ack})
	}
	return r.answered(peer, err)
}

// replyFailed logs what peer knew of the message it failed to reply to.
func (r *runner) replyFailed(peer, task int, reply *sent, err error) {
	seq, terr := r.timeline(peer, task)
	held := slices.ContainsFunc(seq, func(c chat) bool { return c.ID == reply.ID })
	at, saw := r.w.seen.at(r.l.taskIDs[task], reply.ID, peer)
	r.t.Logf("peer %d's reply to %s (by peer %d) failed: %v; in its timeline: %v (%v); in an event: %v at %v",
		peer, reply.ID, reply.Peer, err, held, terr, saw, at.Sub(r.l.start).Truncate(time.Millisecond))
}

// edit edits one of peer's acknowledged messages in task not yet edited;
// with none, it sends one.
func (r *runner) edit(peer, task int, token uint64) {
	s := r.l.pick(task, peer, token, true, r.w.seen)
	if s == nil {
		r.send(peer, task, nil)
		return
	}
	text := s.Text + " (edited)"
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, err := r.w.peers[peer].do(ctx, "edit", `["`+r.l.taskIDs[task].String()+`","`+s.ID+`",`+strconv.Quote(text)+`]`)
	r.l.try(err)
	r.answered(peer, err)
	if err == nil {
		r.l.edited(s, text)
	}
}
