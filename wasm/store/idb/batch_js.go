//go:build js && wasm

package idb

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"syscall/js"

	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
	"github.com/task-messenger/task-messenger/wasm/store"
)

// writeBatch is the JavaScript side of Write, made once: it opens one
// readwrite transaction and issues every put and delete of a batch in a
// single call from Go, cutting keys and values out of one buffer. (Going
// through go-indexeddb costs several JS calls and a listener per request:
// about 2x in pages per second.) It returns [transaction, promise of
// completion]; a request that throws aborts the transaction, so nothing of
// the batch is written.
var writeBatch = js.Global().Get("Function").New("db", "tables", "buf", "ops", `
const tx = db.transaction(tables, 'readwrite', { durability: 'relaxed' })
const done = new Promise((resolve, reject) => {
  tx.oncomplete = () => resolve()
  tx.onerror = (e) => { e.preventDefault(); reject(tx.error || e.target.error) }
  tx.onabort = () => reject(tx.error || new DOMException('transaction aborted', 'AbortError'))
})
try {
  const stores = tables.map((t) => tx.objectStore(t))
  for (let i = 0; i < ops.length; i += 5) {
    const key = buf.subarray(ops[i + 1], ops[i + 2])
    if (ops[i + 3] < 0) stores[ops[i]].delete(key)
    else stores[ops[i]].put(buf.slice(ops[i + 3], ops[i + 4]), key)
  }
} catch (e) {
  try { tx.abort() } catch (_) {}
  done.catch(() => {})
  throw e
}
return [tx, done]
`)

// writeFast writes b (checked, non-empty) in one transaction of raw.
func (s *Store) writeFast(ctx context.Context, b *store.Batch) error {
	var tables []string
	size := 0
	for _, op := range b.Ops {
		if !slices.Contains(tables, op.Table) {
			tables = append(tables, op.Table)
		}
		size += len(op.Key) + len(op.Value)
	}
	if size > 1<<31-1 {
		return fmt.Errorf("idb %s: write: batch of %d bytes", s.name, size)
	}
	buf := make([]byte, 0, size)
	ops := make([]byte, 0, 5*4*len(b.Ops))
	i32 := func(v int) { ops = binary.LittleEndian.AppendUint32(ops, uint32(int32(v))) }
	for _, op := range b.Ops {
		i32(slices.Index(tables, op.Table))
		i32(len(buf))
		buf = append(buf, op.Key...)
		i32(len(buf))
		if op.Value == nil {
			i32(-1)
			i32(-1)
			continue
		}
		i32(len(buf))
		buf = append(buf, op.Value...)
		i32(len(buf))
	}
	jsTables := make([]any, len(tables))
	for i, t := range tables {
		jsTables[i] = t
	}
	opsJS := js.Global().Get("Int32Array").New(jsutil.Uint8Array(ops).Get("buffer"))
	res, err := callFn(writeBatch, s.raw, js.ValueOf(jsTables), jsutil.Uint8Array(buf), opsJS)
	if err != nil {
		return s.fail("write", err)
	}
	tx, done := res.Index(0), res.Index(1)
	if _, err := jsutil.Await(ctx, done); err != nil {
		if ctx.Err() != nil {
			if _, aerr := call(tx, "abort"); aerr != nil {
				return fmt.Errorf("%w (the transaction may have committed: %v)", ctx.Err(), aerr)
			}
			return ctx.Err()
		}
		return s.fail("write", err)
	}
	return nil
}

// callFn calls fn(args...), returning an exception as an error.
func callFn(fn js.Value, args ...any) (js.Value, error) {
	return catch(func() js.Value { return fn.Invoke(args...) })
}
