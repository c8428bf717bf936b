package report

import (
	"sync"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// An item is one event waiting for the reporter's goroutine.
type item struct {
	at   int64
	book *bookItem // a change to a book, or
	body checker   // a frame body ready to send (*Sync, *Port, *App, *Error)
}

// bookItem is what a DB hook keeps of a journal.Event: no pages (the
// reporter reads them from the DB), so a queued change costs a few words.
type bookItem struct {
	event journal.EventType
	key   identity.ID
	fork  *journal.Fork // for EventFork
	peer  identity.ID   // for EventFollow
	start uint64        // for EventPut: the pages stored
	end   uint64
}

// queue is a bounded FIFO that drops its oldest item when full. Hooks push
// from any goroutine without blocking; the reporter's goroutine drains it.
type queue struct {
	mu      sync.Mutex
	ring    []item // capacity fixed at construction
	head, n int
	dropped uint64 // since the last drain
	total   uint64 // in all
	wake    chan struct{}
}

func newQueue(size int) *queue {
	return &queue{ring: make([]item, size), wake: make(chan struct{}, 1)}
}

// push adds it, dropping the oldest item if the queue is full.
func (q *queue) push(it item) {
	q.mu.Lock()
	if q.n == len(q.ring) {
		q.ring[q.head] = item{}
		q.head = (q.head + 1) % len(q.ring)
		q.n--
		q.dropped++
		q.total++
	}
	q.ring[(q.head+q.n)%len(q.ring)] = it
	q.n++
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// drain appends every queued item to dst, oldest first, and returns it
// with the items dropped since the last drain and in all.
func (q *queue) drain(dst []item) ([]item, uint64, uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := 0; i < q.n; i++ {
		j := (q.head + i) % len(q.ring)
		dst = append(dst, q.ring[j])
		q.ring[j] = item{}
	}
	q.head, q.n = 0, 0
	d := q.dropped
	q.dropped = 0
	return dst, d, q.total
}
