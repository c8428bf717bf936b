package e2e

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/relay/relaytest"
)

// TestMakeRun runs what `make run` runs (tools/run.sh with the three
// commands built), on free ports: devtools, the relay serving the page
// and naming the mirror in /config.json, and the mirror on that relay
// must all come up; a SIGTERM to the script stops them all and it exits
// 0. The mirror's embedded NATS once refused its name ("mirror <id>")
// and `make run` ended at once with nothing in the tests to say so.
func TestMakeRun(t *testing.T) {
	bin := t.TempDir()
	build := exec.Command("go", "build", "-o", bin+"/", "./relay/cmd/relay", "./devtools/cmd/devtools", "./relay/cmd/mirror")
	build.Dir = site.root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	work := t.TempDir()
	if err := os.Symlink(site.dir, filepath.Join(work, "static")); err != nil {
		t.Fatal(err)
	}
	relayAddr, devtoolsAddr, mirrorAddr := relaytest.FreeAddr(t), relaytest.FreeAddr(t), relaytest.FreeAddr(t)
	cmd := exec.Command("bash", filepath.Join(site.root, "tools", "run.sh"), bin)
	cmd.Dir = work
	cmd.Env = append(os.Environ(), "RUN_RELAY_ADDR="+relayAddr, "RUN_DEVTOOLS_ADDR="+devtoolsAddr, "RUN_MIRROR_ADDR="+mirrorAddr, "PIN_MIRROR=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	cmd.Stderr = log
	setProcAttr(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the script ended, waitErr set
	var waitErr error
	mirrorID := make(chan string, 1)
	go func() {
		idLine := regexp.MustCompile(`mirror id: (\S+)`)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log.Write(append(sc.Bytes(), '\n'))
			if m := idLine.FindSubmatch(sc.Bytes()); m != nil {
				mirrorID <- string(m[1])
			}
		}
		waitErr = cmd.Wait()
		close(exited)
	}()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(20 * time.Second):
				cmd.Process.Kill()
			}
		}
		if t.Failed() {
			t.Logf("make run's output:\n%s", log.String())
		}
	})

	var id string
	select {
	case id = <-mirrorID:
	case <-exited:
		t.Fatalf("run.sh ended before naming the mirror: %v", waitErr)
	case <-time.After(30 * time.Second):
		t.Fatal("run.sh named no mirror in 30 s")
	}
	// Each server up, each answering what it should: the relay names the
	// mirror to pages, the mirror is a peer on the relay.
	ended := func() string { <-exited; return fmt.Sprintf("run.sh ended: %v", waitErr) }
	waitServing(t, exited, ended, "http://"+devtoolsAddr+"/", ``)
	waitServing(t, exited, ended, "http://"+relayAddr+"/config.json", regexp.QuoteMeta(id))
	waitServing(t, exited, ended, "http://"+mirrorAddr+"/healthz", `nats connected`)
	waitServing(t, exited, ended, "http://"+relayAddr+"/metrics", `(?m)^relay_peers [1-9]`)
	waitServing(t, exited, ended, "http://"+relayAddr+"/index.html?profile=ana", `<html`)

	stopped = true
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("run.sh after SIGTERM: %v, want exit 0", waitErr)
		}
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("run.sh did not end 30 s after SIGTERM")
	}
	for _, a := range []string{relayAddr, devtoolsAddr, mirrorAddr} {
		if res, err := http.Get("http://" + a + "/"); err == nil {
			res.Body.Close()
			t.Errorf("%s still answers after run.sh ended", a)
		}
	}
}
