// Package subs keeps the functions subscribed to a stream of values.
package subs

import "sync"

// A List is a set of subscribed functions; its zero value is empty and
// ready. It is safe for concurrent use.
type List[T any] struct {
	mu   sync.Mutex
	next int
	fns  map[int]func(T)
}

// Add subscribes fn; cancel unsubscribes it.
func (l *List[T]) Add(fn func(T)) (cancel func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fns == nil {
		l.fns = make(map[int]func(T))
	}
	id := l.next
	l.next++
	l.fns[id] = fn
	return func() {
		l.mu.Lock()
		delete(l.fns, id)
		l.mu.Unlock()
	}
}

// Emit calls every subscribed function with v, outside the list's lock
// (a function may cancel itself or add another).
func (l *List[T]) Emit(v T) {
	l.mu.Lock()
	fns := make([]func(T), 0, len(l.fns))
	for _, fn := range l.fns {
		fns = append(fns, fn)
	}
	l.mu.Unlock()
	for _, fn := range fns {
		fn(v)
	}
}
