package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay/relaytest"
)

// relayBin builds the relay command once per run.
var relayBin = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "taskmessenger-relay-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "relay")
	cmd := exec.Command("go", "build", "-o", bin, "./relay/cmd/relay")
	cmd.Dir = site.root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./relay/cmd/relay: %v\n%s", err, out)
	}
	return bin, nil
})

// A relayNode is a relay command serving the page, a node of a cluster.
type relayNode struct {
	addr string // host:port of its page and relay
	cmd  *exec.Cmd
	log  *lockedBuffer
	done chan struct{}
}

// addrOr returns want if nothing listens there, else a free port's
// address: the fixed ports when the machine has them.
func addrOr(t testing.TB, want string) string {
	ln, err := net.Listen("tcp4", want)
	if err != nil {
		return relaytest.FreeAddr(t)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startRelayNode runs the relay command on addr with the built page and
// args, and waits until its /healthz answers with want in it.
func startRelayNode(t testing.TB, addr, want string, args ...string) *relayNode {
	t.Helper()
	bin, err := relayBin()
	if err != nil {
		t.Fatal(err)
	}
	n := &relayNode{addr: addr, log: &lockedBuffer{}, done: make(chan struct{})}
	n.cmd = exec.Command(bin, append([]string{"-addr", addr, "-static", site.dir}, args...)...)
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	setProcAttr(n.cmd)
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() {
		n.stop()
		if t.Failed() {
			t.Logf("relay %s:\n%s", addr, n.log.String())
		}
	})
	n.waitHealth(t, want)
	return n
}

// waitHealth polls /healthz until its body holds want.
func (n *relayNode) waitHealth(t testing.TB, want string) {
	t.Helper()
	waitServing(t, n.done, func() string { return fmt.Sprintf("relay %s ended:\n%s", n.addr, n.log.String()) },
		"http://"+n.addr+"/healthz", regexp.QuoteMeta(want))
}

// stop ends the node as an operator would (SIGTERM), or kill -9 if hard.
func (n *relayNode) stop() { n.signal(syscall.SIGTERM) }
func (n *relayNode) kill() { n.signal(syscall.SIGKILL) }

func (n *relayNode) signal(sig syscall.Signal) {
	select {
	case <-n.done:
		return
	default:
	}
	n.cmd.Process.Signal(sig)
	select {
	case <-n.done:
	case <-time.After(15 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
	}
}

// pageOn is the page of a profile served by node.
func (n *relayNode) pageOn(profile string) string {
	return "http://" + n.addr + "/index.html?profile=" + profile
}

// TestClusterTwoNodes: Bob's tab on node 1, Ana's on node 2 (which joins
// node 1's NATS with -nats): invite, join, chat both ways across nodes.
// Then node 2 dies: Ana's tab moves to node 1 on its own and the chat
// goes on.
func TestClusterTwoNodes(t *testing.T) {
	natsAddr := addrOr(t, "127.0.0.1:4222")
	n1 := startRelayNode(t, addrOr(t, "127.0.0.1:8080"), "nats: connected", "-nats-listen", natsAddr)
	n2 := startRelayNode(t, addrOr(t, "127.0.0.1:8082"), "nodes: 2", "-nats", "nats://"+natsAddr)
	n1.waitHealth(t, "nodes: 2")

	b := newBrowser(t)
	bob := b.open(t, n1.pageOn("cluster-bob"))
	bob.poll(`document.body.dataset.ready === '1'`)
	ana := b.open(t, n2.pageOn("cluster-ana"))
	ana.poll(`document.body.dataset.ready === '1'`)
	for _, tb := range []*tab{bob, ana} {
		tb.poll(`document.getElementById('me-state').textContent === 'online'`)
	}

	shareTask(bob, ana, "Across nodes")

	ana.typeText("#text", "hello from node 2", true)
	bob.waitText("hello from node 2")
	bob.typeText("#text", "hello from node 1", true)
	ana.waitText("hello from node 1")

	// Node 2 dies: Ana's tab reconnects to node 1 (its /config.json
	// listed both) and the chat goes on, nothing lost nor repeated.
	n2.kill()
	ana.typeText("#text", "written as my node died", true)
	ana.waitText("written as my node died")
	bob.waitText("written as my node died")
	bob.typeText("#text", "still here", true)
	ana.waitText("still here")
	for _, tb := range []*tab{ana, bob} {
		got := tb.texts()
		if len(got) != 4 {
			t.Errorf("%s's timeline: %q, want 4 messages", tb.name, got)
		}
	}
}
