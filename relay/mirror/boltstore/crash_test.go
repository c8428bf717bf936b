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
// "committed G" after each Write returns, until it is killed. It reports
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

// TestCrashMidWrite kills (SIGKILL) a child process that is writing
// 100-page batches back to back, reopens the store, and checks that every
// page holds the same generation as the meta record — all of a batch or
// none of it — and that no batch the child saw committed is lost. Five
// rounds, each killed after a different number of commits, on one file.
func TestCrashMidWrite(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "crash.db")
	var seen uint64 // the last generation a child reported committed
	for round := 1; round <= 5; round++ {
		seen = killAfter(t, path, seen+uint64(round))
		s, err := Open(path, nil)
		if err != nil {
			t.Fatalf("round %d: reopen after the kill: %v", round, err)
		}
		gen, err := storedGen(ctx, s)
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
		if len(es) != crashPages {
			t.Fatalf("round %d: %d pages, want %d", round, len(es), crashPages)
		}
		for _, e := range es {
			if g := binary.BigEndian.Uint64(e.Value); g != gen || e.Value[len(e.Value)-1] != byte(gen) {
				t.Fatalf("round %d: %s holds generation %d, the meta record %d: a batch was torn", round, e.Key, g, gen)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: killed after seeing %d committed, store at %d", round, seen, gen)
		seen = gen
	}
}

// killAfter starts a child writing into path, kills it once it reports
// generation target committed, and returns the last generation it
// reported.
func killAfter(t *testing.T, path string, target uint64) uint64 {
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
	var last uint64
	lines := bufio.NewScanner(out)
	for last < target && lines.Scan() {
		g, err := strconv.ParseUint(strings.TrimPrefix(lines.Text(), "committed "), 10, 64)
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child said %q", lines.Text())
		}
		last = g
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	if last < target {
		t.Fatalf("child stopped at generation %d before %d: %s", last, target, stderr.String())
	}
	return last
}
