//go:build !js

package boltstore

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/wasm/store"
)

// crashEnv names the store file a child process writes until it is killed.
const crashEnv = "BOLTSTORE_CRASH_CHILD"

// crashPages is how many pages each generation's batch rewrites.
const crashPages = 100

// crashChild, in a child process started by TestCrashMidWrite, writes
// generation after generation into the store named by crashEnv, printing
// "writing G" before each Write and "committed G" after it returns, until
// it is killed. It reports
// false in any other process.
func crashChild() bool {
	path := os.Getenv(crashEnv)
	if path == "" {
		return false
	}
	if err := crashWrite(path); err != nil {
		fmt.Fprintln(os.Stderr, "crash child:", err)
		os.Exit(2)
	}
	return true
}

func crashWrite(path string) error {
	ctx := context.Background()
	s, err := Open(path, nil)
	if err != nil {
		return err
	}
	gen, err := storedGen(ctx, s)
	if err != nil {
		return err
	}
	for {
		gen++
		var b store.Batch
		for i := range crashPages {
			v := binary.BigEndian.AppendUint64(nil, gen)
			b.Put(store.TablePages, fmt.Appendf(nil, "page%03d", i), append(v, bytes.Repeat([]byte{byte(gen)}, 1016)...))
		}
		b.Put(store.TableMeta, []byte("gen"), binary.BigEndian.AppendUint64(nil, gen))
		fmt.Printf("writing %d\n", gen)
		if err := s.Write(ctx, &b); err != nil {
			return err
		}
		fmt.Printf("committed %d\n", gen)
	}
}

// storedGen returns the generation in the store, 0 if none.
func storedGen(ctx context.Context, s store.Store) (uint64, error) {
	v, err := store.GetOne(ctx, s, store.TableMeta, []byte("gen"))
	if err != nil || v == nil {
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

// TestCrashMidWrite kills (SIGKILL) a child process as soon as it says it
// is writing a 100-page batch, so that the kill lands inside Write,
// reopens the store, and checks that every page holds the same generation
// as the meta record — all of the batch or none of it — and that no batch
// the child saw committed is lost. Twenty rounds on one file.
func TestCrashMidWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crash.db")
	var gen uint64 // the generation in the store
	for round := 1; round <= 20; round++ {
		target := gen + uint64(round)
		seen := killWriting(t, path, target)
		s, err := Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: reopen after the kill: %v", round, err)
		}
		gen, err = storedGen(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		if gen < seen {
			t.Fatalf("round %d: store at generation %d, but the child saw %d committed", round, gen, seen)
		}
		es, err := s.Scan(ctx, store.TablePages, []byte("page"), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := crashPages * min(gen, 1); len(es) != int(want) {
			t.Fatalf("round %d: %d pages at generation %d, want %d", round, len(es), gen, want)
		}
		for _, e := range es {
			if g := binary.BigEndian.Uint64(e.Value); g != gen || e.Value[len(e.Value)-1] != byte(gen) {
				t.Fatalf("round %d: %s holds generation %d, the meta record %d: a batch was torn", round, e.Key, g, gen)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed once it said it was writing %d, store at %d", round, target, gen)
	}
}

// killWriting starts a child writing into path, kills it once it says it
// is writing generation target, and returns the last generation it saw
// committed.
func killWriting(t *testing.T, path string, target uint64) (committed uint64) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var writing uint64
	lines := bufio.NewScanner(out)
	for writing < target && lines.Scan() {
		verb, n, _ := strings.Cut(lines.Text(), " ")
		g, err := strconv.ParseUint(n, 10, 64)
		switch {
		case err != nil:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child said %q", lines.Text())
		case verb == "writing":
			writing = g
		default:
			committed = g
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if writing < target {
		t.Fatalf("child stopped at generation %d before %d: %s", writing, target, stderr.String())
	}
	return committed
}
