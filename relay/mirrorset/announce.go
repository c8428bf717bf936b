//go:build !js

package mirrorset

import (
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// An Announcer announces a mirror on SubjectAnnounce every Config.Every,
// and says SubjectLeave when it closes.
type Announcer struct {
	nc   *nats.Conn    // immutable
	key  *identity.Key // immutable
	cfg  Config        // immutable
	stop chan struct{}
	done chan struct{}
	last int64 // the loop's, then Close's: the last at sent
	once sync.Once
	err  error // Close's
}

// Announce announces the mirror of key on nc now and every Config.Every
// until Close. A publish that fails (NATS down) is tried again at the next
// tick.
func Announce(nc *nats.Conn, key *identity.Key, cfg Config) *Announcer {
	cfg.defaults()
	a := &Announcer{nc: nc, key: key, cfg: cfg, stop: make(chan struct{}), done: make(chan struct{})}
	go a.loop()
	return a
}

func (a *Announcer) loop() {
	defer close(a.done)
	tick := time.NewTicker(a.cfg.Every)
	defer tick.Stop()
	for {
		a.publish(KindAnnounce, SubjectAnnounce)
		select {
		case <-a.stop:
			return
		case <-tick.C:
		}
	}
}

// publish sends a message of kind k, its at later than the last one's.
func (a *Announcer) publish(k Kind, subject string) {
	a.last = max(time.Now().UnixMilli(), a.last+1)
	m := Message{Kind: k, At: a.last}
	m.Sign(a.key)
	if err := a.nc.Publish(subject, m.Encode()); err != nil {
		a.cfg.Logger.Debug("mirrorset: not announced", "kind", k, "err", err)
	}
}

// Close stops announcing and says the mirror leaves (best effort: a
// mirror that cannot say it expires instead). Later calls do nothing.
func (a *Announcer) Close() error {
	a.once.Do(func() {
		close(a.stop)
		<-a.done
		a.publish(KindLeave, SubjectLeave)
		a.err = a.nc.FlushTimeout(time.Second)
	})
	return a.err
}
