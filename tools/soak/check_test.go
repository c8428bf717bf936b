//go:build !js

package soak

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/task-messenger/task-messenger/wasm/app"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// A chat is a chat message as a timeline shows it.
type chat struct {
	ID, Key, Text string
}

// pageSize is the size of a timeline page the check reads: small, and
// prime, so that pages end at every kind of message.
const pageSize = 97

// timeline reads a peer's whole timeline of a task, page by page back
// from the newest, and returns its chat messages, oldest first.
func (r *runner) timeline(peer, task int) ([]chat, error) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var out []chat
	before := ""
	for {
		opts := fmt.Sprintf(`{"limit":%d}`, pageSize)
		if before != "" {
			opts = fmt.Sprintf(`{"limit":%d,"before":%q}`, pageSize, before)
		}
		raw, err := r.w.peers[peer].do(ctx, "timeline", `["`+r.l.taskIDs[task].String()+`",`+opts+`]`)
		if err != nil {
			return nil, err
		}
		var page []app.MessageView
		if err := json.Unmarshal(raw, &page); err != nil {
			return nil, err
		}
		if len(page) == 0 {
			return out, nil
		}
		var chats []chat
		for _, v := range page {
			if v.Message != nil && v.Type == room.TypeChat {
				var d struct{ Text string }
				json.Unmarshal(v.Data, &d)
				chats = append(chats, chat{ID: v.ID, Key: v.Key, Text: d.Text})
			}
		}
		out = append(chats, out...)
		before = page[0].Key
	}
}

// check reads every member's timeline of every task and returns the first
// defect, "" if none, and how many (message, other member) deliveries the
// timelines hold.
func (r *runner) check() (defect string, delivered int, err error) {
	r.l.mu.Lock()
	acked := make([]sent, len(r.l.acked))
	for i, s := range r.l.acked {
		acked[i] = *s
	}
	r.l.mu.Unlock()
	var defects []string
	for task := range tasks {
		ms := r.members(task)
		seqs := make([][]chat, len(ms))
		for i, m := range ms {
			if seqs[i], err = r.timeline(m, task); err != nil {
				return "", 0, fmt.Errorf("timeline of task %d at peer %d: %w", task, m, err)
			}
		}
		d, n := r.checkTask(task, ms, seqs, acked)
		delivered += n
		if d != "" {
			defects = append(defects, d)
		}
	}
	if len(defects) > 0 {
		defect = defects[0]
	}
	return defect, delivered, nil
}

// checkTask checks the members' timelines seqs of task against the
// acknowledged messages.
func (r *runner) checkTask(task int, ms []int, seqs [][]chat, acked []sent) (defect string, delivered int) {
	where := make(map[string][]int) // message id → members holding it
	text := make(map[string]string) // message id → text at the first member holding it
	for i, seq := range seqs {
		for j, c := range seq {
			if slices.ContainsFunc(seq[:j], func(o chat) bool { return o.ID == c.ID }) && defect == "" {
				defect = fmt.Sprintf("task %d: message %s (%q) doubled at peer %d", task, c.ID, c.Text, ms[i])
			}
			if !slices.Contains(where[c.ID], ms[i]) {
				where[c.ID] = append(where[c.ID], ms[i])
			}
			if _, ok := text[c.ID]; !ok {
				text[c.ID] = c.Text
			}
		}
	}
	for _, s := range acked {
		if s.Task != task {
			continue
		}
		for _, m := range where[s.ID] {
			if m != s.Peer {
				delivered++
			}
		}
		if len(where[s.ID]) < len(ms) && defect == "" {
			defect = r.lost(task, ms, s.ID, fmt.Sprintf("acknowledged message %s (%q by peer %d, acked at %v)",
				s.ID, s.Text, s.Peer, s.Ack.Sub(r.l.start).Truncate(time.Millisecond)), where[s.ID])
		}
		if s.Edit != "" && defect == "" {
			for i, seq := range seqs {
				if k := slices.IndexFunc(seq, func(c chat) bool { return c.ID == s.ID }); k >= 0 && seq[k].Text != s.Edit {
					defect = fmt.Sprintf("task %d: message %s at peer %d reads %q, its acknowledged edit %q", task, s.ID, ms[i], seq[k].Text, s.Edit)
				}
			}
		}
	}
	if defect != "" {
		return defect, delivered
	}
	for id, at := range where { // a message not acknowledged, at some members only
		if len(at) < len(ms) {
			return r.lost(task, ms, id, fmt.Sprintf("unacknowledged message %s (%q)", id, text[id]), at), delivered
		}
	}
	for i := 1; i < len(seqs); i++ {
		if k := firstDiff(seqs[0], seqs[i]); k >= 0 {
			return fmt.Sprintf("task %d: peers %d and %d differ at position %d of %d: %s vs %s", task, ms[0], ms[i], k, len(seqs[0]),
				entryAt(seqs[0], k), entryAt(seqs[i], k)), delivered
		}
	}
	return "", delivered
}

// lost says which members hold message id and which lack it, which saw it
// in an event, and what the lacking ones know of its author's book.
func (r *runner) lost(task int, ms []int, id, what string, have []int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "task %d: %s held by peers %v, missing at", task, what, have)
	author := strings.SplitN(id, "/", 2)[0]
	for _, m := range ms {
		if slices.Contains(have, m) {
			continue
		}
		fmt.Fprintf(&b, " peer %d", m)
		if t, ok := r.w.seen.at(r.l.taskIDs[task], id, m); ok {
			fmt.Fprintf(&b, " (saw it in an event at %v)", t.Sub(r.l.start).Truncate(time.Millisecond))
		}
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		infos, _ := r.w.peers[m].members(ctx, r.l.taskIDs[task])
		cancel()
		for _, info := range infos {
			if info.ID.String() == author {
				fmt.Fprintf(&b, " [author's book: have %d of %d, paired %v, online %v]", info.Have, info.Length, info.Paired, info.Online)
			}
		}
		b.WriteString(";")
	}
	return b.String()
}

// firstDiff is the first index where a and b differ, -1 if they are equal.
func firstDiff(a, b []chat) int {
	for k := range max(len(a), len(b)) {
		if k >= len(a) || k >= len(b) || a[k].ID != b[k].ID {
			return k
		}
	}
	return -1
}

// entryAt describes the k-th message of seq.
func entryAt(seq []chat, k int) string {
	if k >= len(seq) {
		return "(end)"
	}
	return fmt.Sprintf("%s %q (key %s)", seq[k].ID, seq[k].Text, seq[k].Key)
}

// converge polls check until it finds no defect or within passes; it
// returns the last defect and the deliveries counted.
func (r *runner) converge(within time.Duration) (defect string, delivered int, err error) {
	deadline := time.Now().Add(within)
	for {
		defect, delivered, err = r.check()
		if err != nil || defect == "" || time.Now().After(deadline) {
			return defect, delivered, err
		}
		time.Sleep(time.Second) // polling the timelines
	}
}
