//go:build !js

package clustertest

import (
	"log/slog"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/cluster"
)

// TestRestart: a killed node comes back on the same URL, and both nodes
// see each other again.
func TestRestart(t *testing.T) {
	nodes := Start(t, 2, slog.New(slog.DiscardHandler), relay.DefaultLimits(), cluster.Config{Every: 50 * time.Millisecond})
	url := nodes[1].URL
	nodes[1].Kill()
	if err := nodes[1].Restart(); err != nil {
		t.Fatal(err)
	}
	if nodes[1].URL != url {
		t.Fatalf("URL %s after the restart, was %s", nodes[1].URL, url)
	}
	if err := nodes[1].Restart(); err == nil {
		t.Fatal("a running node restarted")
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, n := range nodes {
		for !sees(n.Node.Members(), url) || len(n.Node.Members()) != 2 {
			if time.Now().After(deadline) {
				t.Fatalf("after the restart %s sees %v", n.URL, n.Node.Members())
			}
			time.Sleep(10 * time.Millisecond) // a poll of the directory
		}
	}
}

func sees(members []cluster.Member, url string) bool {
	for _, m := range members {
		if m.URL == url {
			return true
		}
	}
	return false
}
