package tabs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// memLock is a profile's lock in memory, as navigator.locks keeps it:
// FIFO, exclusive, with steal.
type memLock struct {
	mu     sync.Mutex
	holder *memHeld
	queue  []*memHeld
}

type memHeld struct {
	l       *memLock
	granted chan struct{}
	lost    chan struct{}
	once    sync.Once
}

func (h *memHeld) Lost() <-chan struct{} { return h.lost }

func (h *memHeld) Release() {
	l := h.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.holder == h {
		l.holder = nil
		l.grantNext()
	}
}

// grantNext gives the lock to the first waiter. l.mu is held.
func (l *memLock) grantNext() {
	if l.holder != nil || len(l.queue) == 0 {
		return
	}
	l.holder, l.queue = l.queue[0], l.queue[1:]
	close(l.holder.granted)
}

func (l *memLock) Acquire(ctx context.Context, steal bool) (Held, error) {
	h := &memHeld{l: l, granted: make(chan struct{}), lost: make(chan struct{})}
	l.mu.Lock()
	if steal && l.holder != nil {
		close(l.holder.lost)
		l.holder = nil
	}
	if steal {
		l.queue = append([]*memHeld{h}, l.queue...)
	} else {
		l.queue = append(l.queue, h)
	}
	l.grantNext()
	l.mu.Unlock()
	select {
	case <-h.granted:
		return h, nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	select {
	case <-h.granted: // granted as it was given up: pass it on
		if l.holder == h {
			l.holder = nil
			l.grantNext()
		}
	default:
		for i, w := range l.queue {
			if w == h {
				l.queue = append(l.queue[:i], l.queue[i+1:]...)
				break
			}
		}
	}
	return nil, ctx.Err()
}

// hub is a BroadcastChannel in memory: a message posted on one bus
// reaches every other bus of the hub. A paused bus (a frozen tab) keeps
// what it gets until it is resumed.
type hub struct {
	mu    sync.Mutex
	buses []*memBus
}

type memBus struct {
	h      *hub
	ch     chan []byte
	paused bool
	held   [][]byte
	closed bool
}

func (h *hub) bus() *memBus {
	b := &memBus{h: h, ch: make(chan []byte, 4096)}
	h.mu.Lock()
	h.buses = append(h.buses, b)
	h.mu.Unlock()
	return b
}

func (b *memBus) Post(msg []byte) error {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	if b.closed {
		return errors.New("bus closed")
	}
	if b.paused {
		return nil // a frozen tab sends nothing
	}
	for _, o := range b.h.buses {
		switch {
		case o == b || o.closed:
		case o.paused:
			o.held = append(o.held, msg)
		default:
			o.ch <- msg
		}
	}
	return nil
}

func (b *memBus) Messages() <-chan []byte { return b.ch }

func (b *memBus) Close() error {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	if !b.closed {
		b.closed = true
		close(b.ch)
	}
	return nil
}

// pause stops delivering to and from b; resume delivers what it missed.
func (b *memBus) pause() {
	b.h.mu.Lock()
	b.paused = true
	b.h.mu.Unlock()
}

func (b *memBus) resume() {
	b.h.mu.Lock()
	defer b.h.mu.Unlock()
	b.paused = false
	for _, m := range b.held {
		b.ch <- m
	}
	b.held = nil
}

// profile is a profile's storage, shared by the services its writers open.
type profile struct {
	id identity.ID

	mu     sync.Mutex
	sent   []string          // texts written, in order
	nonces map[string]string // nonce → text
	opens  int
	resets int
	live   int // services open now
	most   int // the most services open at once
	// gate, when set, holds a send after it is written and before it
	// answers (a writer that closes in between).
	gate chan struct{}
}

func newProfile() *profile {
	var seed identity.Seed
	seed[0] = 7
	return &profile{id: identity.New(seed).ID(), nonces: map[string]string{}}
}

func (p *profile) texts() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.sent...)
}

// service is a writer's App in memory: "send" [text, {nonce, retry}]
// writes text (once per nonce on a retry) and emits an event, "createTask"
// writes too, "echo" answers its arguments, "block" waits for ctx.
type service struct {
	p      *profile
	mu     sync.Mutex
	subs   map[int]func(json.RawMessage)
	next   int
	closed chan struct{}
	calls  map[string]int
}

func (p *profile) open(context.Context) (Service, error) {
	p.mu.Lock()
	p.opens++
	p.live++
	p.most = max(p.most, p.live)
	p.mu.Unlock()
	return &service{p: p, subs: map[int]func(json.RawMessage){}, closed: make(chan struct{}), calls: map[string]int{}}, nil
}

func (s *service) ID() identity.ID { return s.p.id }
func (s *service) State() string   { return "online" }

func (s *service) Close() error {
	select {
	case <-s.closed:
	default:
		close(s.closed)
		s.p.mu.Lock()
		s.p.live--
		s.p.mu.Unlock()
	}
	return nil
}

func (s *service) Subscribe(fn func(json.RawMessage)) func() {
	s.mu.Lock()
	id := s.next
	s.next++
	s.subs[id] = fn
	s.mu.Unlock()
	return func() { s.mu.Lock(); delete(s.subs, id); s.mu.Unlock() }
}

func (s *service) emit(ev any) {
	b, _ := json.Marshal(ev)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, fn := range s.subs {
		fn(b)
	}
}

func (s *service) Do(ctx context.Context, method string, args json.RawMessage) (json.RawMessage, error) {
	select {
	case <-s.closed:
		return nil, errors.New("service closed")
	default:
	}
	s.mu.Lock()
	s.calls[method]++
	s.mu.Unlock()
	var list []json.RawMessage
	if err := json.Unmarshal(args, &list); err != nil {
		return nil, fmt.Errorf("%s: args: %w", method, err)
	}
	if strings.HasPrefix(method, "db.") { // a db call, as package dbcall's: answered with its arguments
		if method == "db.add" {
			s.emit(map[string]string{"type": "book"})
		}
		return args, nil
	}
	switch method {
	case "echo":
		return args, nil
	case "reset":
		s.p.mu.Lock()
		s.p.resets++
		s.p.mu.Unlock()
		return nil, nil
	case "block":
		<-ctx.Done()
		return nil, ctx.Err()
	case "send", "createTask":
		var text string
		var opts struct {
			Nonce string `json:"nonce"`
			Retry bool   `json:"retry"`
		}
		if len(list) < 1 || json.Unmarshal(list[0], &text) != nil {
			return nil, errors.New("send: text must be a string")
		}
		if len(list) > 2 {
			_ = json.Unmarshal(list[2], &opts)
		}
		s.p.mu.Lock()
		if prev, ok := s.p.nonces[opts.Nonce]; ok && opts.Retry && opts.Nonce != "" {
			s.p.mu.Unlock()
			return json.Marshal(prev)
		}
		s.p.sent = append(s.p.sent, text)
		if opts.Nonce != "" {
			s.p.nonces[opts.Nonce] = text
		}
		gate := s.p.gate
		s.p.mu.Unlock()
		s.emit(map[string]string{"type": "message", "text": text})
		if gate != nil {
			select {
			case <-gate:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return json.Marshal(text)
	}
	return nil, fmt.Errorf("unknown method %q", method)
}
