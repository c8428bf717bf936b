//go:build !js

package mirrorset

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay/natsnode"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/identity"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

const every = 50 * time.Millisecond

func startNATS(t testing.TB, o natsnode.Options) *natsnode.Node {
	t.Helper()
	n, err := natsnode.Start(o, quiet)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return n
}

func watch(t testing.TB, n *natsnode.Node, onChange func([]identity.ID)) *Watcher {
	t.Helper()
	w, err := Watch(n.Conn, Config{Every: every, Logger: quiet, OnChange: onChange})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func key(n byte) *identity.Key { return identity.New(identity.Seed{n}) }

func sorted(ks ...*identity.Key) []identity.ID {
	out := make([]identity.ID, len(ks))
	for i, k := range ks {
		out[i] = k.ID()
	}
	slices.SortFunc(out, func(a, b identity.ID) int { return bytes.Compare(a[:], b[:]) })
	return out
}

func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond) // a poll of cond, not a wait for time
	}
}

func liveIs(w *Watcher, want []identity.ID) func() bool {
	return func() bool { return slices.Equal(w.Live(), want) }
}

// TestSet: mirrors join as they announce; one that closes leaves at once;
// one that stops announcing (killed) expires; OnChange sees each set.
func TestSet(t *testing.T) {
	n := startNATS(t, natsnode.Options{})
	sets := make(chan []identity.ID, 100)
	w := watch(t, n, func(live []identity.ID) { sets <- live })
	a, b, c := key(1), key(2), key(3)
	aa := Announce(n.Conn, a, Config{Every: every, Logger: quiet})
	ab := Announce(n.Conn, b, Config{Every: every, Logger: quiet})
	ac := Announce(n.Conn, c, Config{Every: every, Logger: quiet})
	eventually(t, "three mirrors live", liveIs(w, sorted(a, b, c)))

	if err := ab.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b left", liveIs(w, sorted(a, c)))

	// c killed: it stops announcing without a leave.
	close(ac.stop)
	<-ac.done
	eventually(t, "c expired", liveIs(w, sorted(a)))
	aa.Close()
	eventually(t, "nobody left", liveIs(w, sorted()))
	for {
		select {
		case s := <-sets:
			if len(s) == 0 {
				if st := w.Stats(); st.Bad != 0 || st.Live != 0 {
					t.Fatalf("stats %+v", st)
				}
				return
			}
		case <-time.After(20 * time.Second):
			t.Fatal("OnChange never saw the empty set")
		}
	}
}

// TestBadInput: malformed, oversized, foreign-version, badly signed and
// replayed messages change nothing and are counted.
func TestBadInput(t *testing.T) {
	n := startNATS(t, natsnode.Options{})
	w := watch(t, n, nil)
	a, b := key(1), key(2)
	good := Message{Kind: KindAnnounce, At: time.Now().UnixMilli()}
	good.Sign(a)
	forged := good
	forged.ID = b.ID() // a's signature, b's name
	leaveAsAnnounce := Message{Kind: KindLeave, At: good.At + 1}
	leaveAsAnnounce.Sign(b) // a leave's signature sent as an announcement
	bad := [][]byte{
		[]byte("not json"),
		[]byte(`{"v":2,"id":"` + strings.Repeat("00", 32) + `","at":1,"sig":""}`),
		[]byte(strings.Repeat(" ", MaxMessage+1)),
		[]byte(`{"v":1,"id":"zz","at":1,"sig":""}`),
		[]byte(`{"v":1,"id":"` + strings.Repeat("00", 32) + `","at":1,"sig":"` + strings.Repeat("00", 64) + `"}`), // a small-order key
		bytes.Replace(good.Encode(), []byte(`"at":`), []byte(`"at":-`), 1),
		forged.Encode(),
		leaveAsAnnounce.Encode(),
	}
	for _, msg := range bad {
		if err := n.Conn.Publish(SubjectAnnounce, msg); err != nil {
			t.Fatal(err)
		}
	}
	n.Conn.Publish(SubjectAnnounce, good.Encode())
	eventually(t, "the good announcement taken, the rest dropped", func() bool {
		s := w.Stats()
		return s.Taken == 1 && s.Bad == int64(len(bad))
	})
	if !slices.Equal(w.Live(), sorted(a)) {
		t.Fatalf("live %v", w.Live())
	}
	// A replay of a's announcement, and a leave older than it, are stale.
	old := Message{Kind: KindLeave, At: good.At - 1}
	old.Sign(a)
	n.Conn.Publish(SubjectAnnounce, good.Encode())
	n.Conn.Publish(SubjectLeave, old.Encode())
	eventually(t, "replays dropped", func() bool { return w.Stats().Stale == 2 })
	if !slices.Equal(w.Live(), sorted(a)) {
		t.Fatalf("live %v after replays", w.Live())
	}
}

func TestDecode(t *testing.T) {
	m := Message{Kind: KindAnnounce, At: 1700000000000}
	m.Sign(key(1))
	got, err := Decode(KindAnnounce, m.Encode())
	if err != nil || got.ID != m.ID || got.At != m.At {
		t.Fatalf("%+v %v", got, err)
	}
	if _, err := Decode(KindLeave, m.Encode()); !errors.Is(err, ErrBadMessage) {
		t.Fatalf("an announcement taken as a leave: %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	m := Message{Kind: KindAnnounce, At: 1700000000000}
	m.Sign(key(1))
	f.Add(m.Encode())
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := Decode(KindAnnounce, b)
		if err != nil {
			return
		}
		again, err := Decode(KindAnnounce, got.Encode())
		if err != nil || again.ID != got.ID || again.At != got.At {
			t.Fatalf("re-encoded: %+v %v", again, err)
		}
	})
}

// TestNATSDown: while the watcher's NATS is down the set stays as it was,
// though nobody is heard; once it is back, the mirrors that announce stay
// and the one that went meanwhile expires.
func TestNATSDown(t *testing.T) {
	addr := relaytest.FreeAddr(t)
	server := startNATS(t, natsnode.Options{Listen: addr})
	client := startNATS(t, natsnode.Options{URLs: []string{"nats://" + addr}, ReconnectWait: 20 * time.Millisecond})
	w := watch(t, client, nil)
	a, b := key(1), key(2)
	aa := Announce(server.Conn, a, Config{Every: every, Logger: quiet})
	defer aa.Close()
	ab := Announce(server.Conn, b, Config{Every: every, Logger: quiet})
	eventually(t, "both live", liveIs(w, sorted(a, b)))

	server.Close() // the watcher's NATS goes away, and the announcers' with it
	close(ab.stop)
	<-ab.done // b dies meanwhile, silently
	eventually(t, "the watcher sees NATS down", func() bool { return !client.Connected() })
	w.sweep(time.Now().Add(time.Hour)) // long past every expiry: the set is kept
	if !slices.Equal(w.Live(), sorted(a, b)) {
		t.Fatalf("the set changed while NATS was down: %v", w.Live())
	}

	server2 := startNATS(t, natsnode.Options{Listen: addr})
	aa2 := Announce(server2.Conn, a, Config{Every: every, Logger: quiet})
	defer aa2.Close()
	eventually(t, "the watcher back on NATS", client.Connected)
	eventually(t, "b expired, a live", liveIs(w, sorted(a)))
}
