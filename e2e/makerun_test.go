package e2e

import (
	"bufio"
	"errors"
	"io"
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
	ended := func() error { <-exited; return waitErr }
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

// waitServing polls url until it answers 200 with a body matching want,
// failing if the script ends first or a minute passes.
func waitServing(t *testing.T, exited <-chan struct{}, ended func() error, url, want string) {
	t.Helper()
	re := regexp.MustCompile(want)
	deadline := time.Now().Add(time.Minute)
	last := errors.New("no answer yet")
	for {
		res, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && re.Match(b) {
				return
			}
			err = errors.New(res.Status + ": " + string(b))
		}
		last = err
		select {
		case <-exited:
			t.Fatalf("run.sh ended (%v) while waiting for %s", ended(), url)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v; want 200 with %q", url, last, want)
		}
	}
}
