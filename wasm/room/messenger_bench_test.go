package room

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkTenMembers: ten members through a real relay on 127.0.0.1,
// each writes 1,000 messages (in batches of 100); the time until all ten
// timelines hold all 10,000 and are identical.
func BenchmarkTenMembers(b *testing.B) {
	const members, each, batch = 10, 1000, 100
	for range b.N {
		b.StopTimer()
		url := startRelay(b)
		nodes := make([]*node, members)
		for i := range nodes {
			nodes[i] = newNode(b, url, fmt.Sprintf("p%d", i), byte(i+1))
		}
		task, err := nodes[0].CreateTask(testCtx(b), "Ten", nil)
		if err != nil {
			b.Fatal(err)
		}
		for i := 1; i < members; i++ {
			nodes[i].join(nodes[0], task.ID)
		}
		for _, n := range nodes {
			eventually(b, n.name+" paired", func() bool { return n.paired(task.ID, members-1) })
		}
		base := 1 + 2*(members-1) // the task, each join and its announcement
		b.StartTimer()
		start := time.Now()
		done := make(chan error, members)
		for _, n := range nodes {
			go func() {
				texts := make([]string, batch)
				for s := 0; s < each; s += batch {
					for j := range texts {
						texts[j] = fmt.Sprintf("%s %d", n.name, s+j)
					}
					if _, err := n.SendMany(testCtx(b), task.ID, texts); err != nil {
						done <- err
						return
					}
				}
				done <- nil
			}()
		}
		for range members {
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		}
		written := time.Since(start)
		all := base + members*each
		for _, n := range nodes {
			eventually(b, n.name+" holds all", func() bool { return n.holds(task.ID, all) })
		}
		ref := nodes[0].keys(task.ID, all)
		for _, n := range nodes[1:] {
			if got := n.keys(task.ID, all); got != ref {
				b.Fatalf("%s's timeline differs", n.name)
			}
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "ms-identical")
		b.ReportMetric(float64(written.Milliseconds()), "ms-written")
		b.StopTimer()
		for _, n := range nodes {
			n.stop()
		}
	}
}

// holds reports whether the task's timeline has want messages.
func (n *node) holds(task TaskID, want int) bool {
	ms, err := n.Members(task)
	if err != nil {
		return false
	}
	total := 0 // every book's pages but its genesis
	for _, m := range ms {
		if m.Have != m.Length || m.Length == 0 {
			return false
		}
		total += int(m.Length) - 1
	}
	return total == want
}

// keys returns a digest of the whole timeline, paging through it.
func (n *node) keys(task TaskID, want int) string {
	var before *Key
	h := 0
	count := 0
	for {
		msgs, err := n.Timeline(testCtx(n.t), task, before, MaxPage)
		if err != nil {
			n.t.Fatal(err)
		}
		if len(msgs) == 0 {
			break
		}
		for _, m := range msgs {
			h = h*31 + int(m.Meta.Clock) + int(m.Head.By[0])*7 + int(m.Head.Mid)
		}
		count += len(msgs)
		k := msgs[0].Key()
		before = &k
	}
	if count != want {
		n.t.Fatalf("%s's timeline has %d messages, want %d", n.name, count, want)
	}
	return fmt.Sprint(h, count)
}
