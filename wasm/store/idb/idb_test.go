//go:build js && wasm

package idb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"syscall/js"
	"testing"
	"time"

	"github.com/hack-pad/go-indexeddb/idb"

	"github.com/task-messenger/task-messenger/wasm/store"
	"github.com/task-messenger/task-messenger/wasm/store/storetest"
)

var dbSeq atomic.Int64

// tempName returns a database name no other test uses.
func tempName(t *testing.T) string {
	return fmt.Sprintf("idbtest-%s-%d-%d", strings.ReplaceAll(t.Name(), "/", "-"), time.Now().UnixNano(), dbSeq.Add(1))
}

// deleteAfter deletes the database when the test ends.
func deleteAfter(t *testing.T, name string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := Delete(ctx, name); err != nil {
			t.Errorf("Delete(%q): %v", name, err)
		}
	})
}

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	name := tempName(t)
	deleteAfter(t, name)
	s, err := Open(context.Background(), name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, name
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t)
		return s
	})
}

func TestSchema(t *testing.T) {
	s, _ := openTemp(t)
	v, err := s.db.Version()
	if err != nil || v != store.SchemaVersion {
		t.Fatalf("version = %d, %v; want %d", v, err, store.SchemaVersion)
	}
	names, err := s.db.ObjectStoreNames()
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(store.Tables)
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("object stores = %q, want %q (a table was added without an upgrade step?)", names, want)
	}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	s, name := openTemp(t)
	var b store.Batch
	b.Put(store.TableMeta, []byte("profile"), []byte("ana"))
	b.Put(store.TablePages, []byte{1, 0}, []byte("p0"))
	b.Put(store.TablePages, []byte{1, 1}, []byte("p1"))
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, err := Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if v, err := store.GetOne(ctx, s2, store.TableMeta, []byte("profile")); err != nil || string(v) != "ana" {
		t.Fatalf("meta after reopen = %q, %v", v, err)
	}
	es, err := s2.Scan(ctx, store.TablePages, []byte{1}, []byte{2}, 0)
	if err != nil || len(es) != 2 || string(es[0].Value) != "p0" || !bytes.Equal(es[1].Key, []byte{1, 1}) {
		t.Fatalf("pages after reopen = %q, %v", es, err)
	}
}

// A database of version 1 opens at the current version with its records.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := context.Background()
	name := tempName(t)
	deleteAfter(t, name)
	s, err := open(ctx, name, 1)
	if err != nil {
		t.Fatal(err)
	}
	var b store.Batch
	b.Put(store.TablePages, []byte{1, 0}, []byte("p0"))
	b.Put(store.TablePages, []byte{1, 1}, []byte("p1"))
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s2, err := Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if v := s2.raw.Get("version").Int(); v != store.SchemaVersion {
		t.Fatalf("version %d after the upgrade", v)
	}
	es, err := s2.Seek(ctx, store.TablePages, []byte{2}, []byte{1, 0, 5}, []byte{1})
	if err != nil || string(es[0].Value) != "p1" || string(es[1].Value) != "p0" {
		t.Fatalf("Seek after the upgrade = %q, %v", es, err)
	}
}

func TestDeleteDropsData(t *testing.T) {
	ctx := context.Background()
	s, name := openTemp(t)
	var b store.Batch
	b.Put(store.TableBooks, []byte("k"), []byte("v"))
	if err := s.Write(ctx, &b); err != nil {
		t.Fatal(err)
	}
	// Deleting closes this page's open connection.
	if err := Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, store.TableBooks, []byte("k")); !errors.Is(err, ErrConnectionLost) {
		t.Fatalf("Get on a deleted database: %v, want ErrConnectionLost", err)
	}
	s2, err := Open(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if v, err := store.GetOne(ctx, s2, store.TableBooks, []byte("k")); err != nil || v != nil {
		t.Fatalf("after Delete: %q, %v; want nothing", v, err)
	}
}

// rawOpen opens name at version without go-indexeddb, so the connection
// ignores versionchange like an old tab would.
func rawOpen(t *testing.T, name string, version int) js.Value {
	t.Helper()
	req := js.Global().Get("indexedDB").Call("open", name, version)
	done := make(chan string, 2)
	unlisten := listen(req, func(ev string) { done <- ev }, "success", "error")
	defer unlisten()
	if ev := <-done; ev != "success" {
		t.Fatalf("raw open: %v", asError(req.Get("error")))
	}
	return req.Get("result")
}

func TestNewerSchema(t *testing.T) {
	name := tempName(t)
	deleteAfter(t, name)
	rawOpen(t, name, store.SchemaVersion+1).Call("close")
	_, err := Open(context.Background(), name)
	if !errors.Is(err, ErrNewerSchema) {
		t.Fatalf("Open of a newer database: %v, want ErrNewerSchema", err)
	}
	t.Log(err)
}

func TestBlockedOpen(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := tempName(t)
	deleteAfter(t, name)
	old := rawOpen(t, name, 1)
	t.Cleanup(func() { old.Call("close") }) // before the deletion

	// An upgrade while an old connection stays open. Once it closes, the
	// abandoned upgrade goes ahead (and fails: there is no step past
	// store.SchemaVersion).
	_, err := open(ctx, name, store.SchemaVersion+1)
	if !errors.Is(err, ErrBlocked) {
		t.Fatalf("open blocked by an old connection: %v, want ErrBlocked", err)
	}
	t.Log(err)
}

func TestBlockedDelete(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	name := tempName(t)
	old := rawOpen(t, name, 1)
	if err := Delete(ctx, name); !errors.Is(err, ErrBlocked) {
		old.Call("close")
		t.Fatalf("Delete blocked by an old connection: %v, want ErrBlocked", err)
	}
	// Once the old connection closes, the queued deletion goes ahead.
	old.Call("close")
	if err := Delete(ctx, name); err != nil {
		t.Fatal(err)
	}
}

func TestCanceledWhileWaiting(t *testing.T) {
	s, _ := openTemp(t)
	var b store.Batch
	val := bytes.Repeat([]byte{7}, 64<<10)
	for i := range 64 {
		b.Put(store.TablePages, []byte{byte(i)}, val)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go cancel() // runs once Write waits for the transaction
	if err := s.Write(ctx, &b); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write canceled while waiting: %v, want context.Canceled", err)
	}
	es, err := s.Scan(context.Background(), store.TablePages, nil, nil, 0)
	if err != nil || len(es) != 0 {
		t.Fatalf("after canceled Write: %d entries, %v; want none", len(es), err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	go cancel()
	if _, err := s.Get(ctx, store.TablePages, []byte{1}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Get canceled while waiting: %v, want context.Canceled", err)
	}
}

func TestQuotaError(t *testing.T) {
	s := &Store{name: "x"}
	err := s.fail("write", idb.NewDOMException("QuotaExceededError"))
	if !errors.Is(err, ErrQuota) || !errors.Is(err, store.ErrQuota) {
		t.Fatalf("fail(QuotaExceededError) = %v, want ErrQuota (store.ErrQuota)", err)
	}
	err = s.fail("write", asError(js.Global().Get("DOMException").New("full", "QuotaExceededError")))
	if !errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "full") {
		t.Fatalf("fail(QuotaExceededError) = %v, want ErrQuota", err)
	}
	err = s.fail("write", idb.NewDOMException("DataError"))
	if errors.Is(err, ErrQuota) || !strings.Contains(err.Error(), "DataError") {
		t.Fatalf("fail(DataError) = %v", err)
	}
}

// The browser behaviour the store counts on: a readonly transaction created
// after a readwrite one on the same table waits for it and sees its writes.
func TestReadonlyWaitsForReadwrite(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	rw, os, err := s.begin(idb.TransactionReadWrite, store.TableBooks)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.PutKey(bytesJS([]byte("k")), bytesJS([]byte("v"))); err != nil {
		t.Fatal(err)
	}
	// Await must listen before the transaction completes (it waits forever
	// otherwise): the goroutine runs as soon as this one blocks in Get.
	done := make(chan error, 1)
	go func() { done <- rw.Await(ctx) }()
	// Get's readonly transaction is created while rw is pending.
	v, err := store.GetOne(ctx, s, store.TableBooks, []byte("k"))
	if err != nil || string(v) != "v" {
		t.Fatalf("Get after a pending write = %q, %v; want v", v, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// The browser behaviour the store is written around: a transaction ends as
// soon as control returns to the browser, which Go does whenever every
// goroutine blocks. A request made after that fails with a DOMException
// whose name the error keeps.
func TestTransactionEndsWhenGoBlocks(t *testing.T) {
	s, _ := openTemp(t)
	tx, os, err := s.begin(idb.TransactionReadWrite, store.TableBooks)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.PutKey(bytesJS([]byte("a")), bytesJS([]byte("1"))); err != nil {
		t.Fatal(err)
	}
	// Blocking in Await hands control to the browser, which then commits
	// the transaction: it has ended for good, however busy the machine.
	if err := tx.Await(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err = os.PutKey(bytesJS([]byte("b")), bytesJS([]byte("2")))
	if err == nil || !isDOM(s.fail("put", err), "TransactionInactiveError") {
		t.Fatalf("put after the transaction ended: %v, want TransactionInactiveError", err)
	}
	err = s.fail("put", err)
	if !strings.Contains(err.Error(), "TransactionInactiveError: ") {
		t.Fatalf("error %q lacks the DOMException's name", err)
	}
	t.Log(err)
	vs, err := s.Get(context.Background(), store.TableBooks, []byte("a"), []byte("b"))
	if err != nil || string(vs[0]) != "1" || vs[1] != nil {
		t.Fatalf("after: %q, %v; want the first put only", vs, err)
	}
}
