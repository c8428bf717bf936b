//go:build js && wasm

package idb

import (
	"context"
	_ "embed"
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
// completion, state]; a request that throws aborts the transaction, so
// nothing of the batch is written.
//
// The batch's conditions are gets issued first in the same transaction:
// each compares the value it reads with the one expected and, on a
// mismatch, records its index in state.conflict and aborts the transaction,
// which undoes the puts issued after it. IndexedDB runs overlapping
// readwrite transactions one at a time, also across tabs, so the check and
// the writes are one atomic step.
var writeBatch = jsutil.Helper("writeBatch", writeBatchSrc)

//go:embed js/writeBatch.js
var writeBatchSrc string

// writeFast writes b (checked, with operations or conditions) in one
// transaction of raw.
func (s *Store) writeFast(ctx context.Context, b *store.Batch) error {
	var tables []string
	size := 0
	for _, op := range b.Ops {
		if !slices.Contains(tables, op.Table) {
			tables = append(tables, op.Table)
		}
		size += len(op.Key) + len(op.Value)
	}
	for _, c := range b.Conds {
		if !slices.Contains(tables, c.Table) {
			tables = append(tables, c.Table)
		}
		size += len(c.Key) + len(c.Value)
	}
	if size > 1<<31-1 {
		return fmt.Errorf("idb %s: write: batch of %d bytes", s.name, size)
	}
	// Each operation and condition is 5 int32s: table index, key start and
	// end in buf, value start and end (-1, -1: a deletion, or a key
	// expected absent).
	buf := make([]byte, 0, size)
	ops := make([]byte, 0, 5*4*len(b.Ops))
	conds := make([]byte, 0, 5*4*len(b.Conds))
	put := func(to []byte, table string, key, value []byte) []byte {
		i32 := func(v int) { to = binary.LittleEndian.AppendUint32(to, uint32(int32(v))) }
		i32(slices.Index(tables, table))
		i32(len(buf))
		buf = append(buf, key...)
		i32(len(buf))
		if value == nil {
			i32(-1)
			i32(-1)
			return to
		}
		i32(len(buf))
		buf = append(buf, value...)
		i32(len(buf))
		return to
	}
	for _, op := range b.Ops {
		ops = put(ops, op.Table, op.Key, op.Value)
	}
	for _, c := range b.Conds {
		conds = put(conds, c.Table, c.Key, c.Value)
	}
	jsTables := make([]any, len(tables))
	for i, t := range tables {
		jsTables[i] = t
	}
	int32s := func(b []byte) js.Value {
		if len(b) == 0 {
			return js.Global().Get("Int32Array").New(0)
		}
		return js.Global().Get("Int32Array").New(jsutil.Uint8Array(b).Get("buffer"))
	}
	res, err := callFn(writeBatch, s.raw, js.ValueOf(jsTables), jsutil.Uint8Array(buf), int32s(ops), int32s(conds))
	if err != nil {
		return s.fail("write", err)
	}
	tx, done, state := res.Index(0), res.Index(1), res.Index(2)
	if _, err := jsutil.Await(ctx, done); err != nil {
		if i := state.Get("conflict").Int(); i >= 0 && i < len(b.Conds) {
			return fmt.Errorf("idb %s: write: %w", s.name, &store.ConflictError{Cond: b.Conds[i]})
		}
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

// readRange is the JavaScript side of Scan, made once: one readonly
// transaction, getAllKeys and getAll over the range, and every key and
// value packed into one buffer ([count, then per entry key length, value
// length], little-endian uint32, then the bytes), so Go copies it out in
// one call. (One get per key through go-indexeddb ran at about 1,000
// records a second: a JS round trip and a finalizer per request.)
var readRange = jsutil.Helper("readRange", readRangeSrc)

//go:embed js/readRange.js
var readRangeSrc string

// scanFast reads [start, end) (end nil: to the end) of table, at most
// limit entries (0: all), in one transaction of raw.
func (s *Store) scanFast(ctx context.Context, table string, start, end []byte, limit int) ([]store.Entry, error) {
	upper := js.Null()
	if end != nil {
		upper = jsutil.Uint8Array(end)
	}
	buf, err := s.read(ctx, "scan", readRange, table, jsutil.Uint8Array(start), upper, max(limit, 0))
	if err != nil {
		return nil, err
	}
	out, err := unpackEntries(buf, false)
	if err != nil {
		return nil, s.fail("scan", err)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// unpackEntries reads the entries the JavaScript readers pack (readRange,
// readSeek): their count n, then n pairs of key and value lengths, then
// the bytes of each key and value, little-endian uint32s. With absent, a
// key length of 0xFFFFFFFF is an entry there is none of (a zero Entry).
func unpackEntries(buf []byte, absent bool) ([]store.Entry, error) {
	if len(buf) < 4 {
		return nil, fmt.Errorf("result of %d bytes", len(buf))
	}
	n := uint64(binary.LittleEndian.Uint32(buf))
	if uint64(len(buf)) < 4+8*n {
		return nil, fmt.Errorf("result of %d bytes for %d entries", len(buf), n)
	}
	out := make([]store.Entry, n)
	at := 4 + 8*n
	for i := range out {
		kl := uint64(binary.LittleEndian.Uint32(buf[4+8*i:]))
		if absent && kl == 0xFFFFFFFF {
			continue
		}
		vl := uint64(binary.LittleEndian.Uint32(buf[8+8*i:]))
		if at+kl+vl > uint64(len(buf)) {
			return nil, fmt.Errorf("entry %d runs past the result", i)
		}
		k, v := at+kl, at+kl+vl
		out[i] = store.Entry{Key: buf[at:k:k], Value: buf[k:v:v]}
		at = v
	}
	return out, nil
}

// readKeys is the JavaScript side of Get, made once: one readonly
// transaction, a get per key (keys cut out of one buffer), and the values
// packed into one buffer ([count, then per key its value's length or
// 0xFFFFFFFF when absent], little-endian uint32, then the bytes).
var readKeys = jsutil.Helper("readKeys", readKeysSrc)

//go:embed js/readKeys.js
var readKeysSrc string

// getFast reads the values of keys (nil where absent) in one transaction.
func (s *Store) getFast(ctx context.Context, table string, keys [][]byte) ([][]byte, error) {
	buf, ends := packKeys(keys)
	res, err := s.read(ctx, "get", readKeys, table, buf, ends)
	if err != nil {
		return nil, err
	}
	if len(res) < 4+4*len(keys) || int(binary.LittleEndian.Uint32(res)) != len(keys) {
		return nil, s.fail("get", fmt.Errorf("result of %d bytes for %d keys", len(res), len(keys)))
	}
	out := make([][]byte, len(keys))
	at := 4 + 4*len(keys)
	for i := range out {
		l := binary.LittleEndian.Uint32(res[4+4*i:])
		if l == 0xFFFFFFFF {
			continue
		}
		if at+int(l) > len(res) {
			return nil, s.fail("get", fmt.Errorf("value %d runs past the result", i))
		}
		out[i] = res[at : at+int(l) : at+int(l)]
		at += int(l)
	}
	return out, nil
}

// readSeek is the JavaScript side of Seek, made once: one readonly
// transaction, a cursor per key (keys cut out of one buffer as for Get),
// and each first entry packed as Scan packs them (a key length of
// 0xFFFFFFFF where there is none).
var readSeek = jsutil.Helper("readSeek", readSeekSrc)

//go:embed js/readSeek.js
var readSeekSrc string

// seekFast reads the first entry at or after each of keys, below end, in
// one transaction.
func (s *Store) seekFast(ctx context.Context, table string, end []byte, keys [][]byte) ([]store.Entry, error) {
	upper := js.Null()
	if end != nil {
		upper = jsutil.Uint8Array(end)
	}
	buf, ends := packKeys(keys)
	res, err := s.read(ctx, "seek", readSeek, table, buf, ends, upper)
	if err != nil {
		return nil, err
	}
	out, err := unpackEntries(res, true)
	if err == nil && len(out) != len(keys) {
		err = fmt.Errorf("%d entries for %d keys", len(out), len(keys))
	}
	if err != nil {
		return nil, s.fail("seek", err)
	}
	return out, nil
}

// packKeys returns keys cut out of one buffer, as the JavaScript readers
// take them: the bytes, and the end of each key in a Uint32Array.
func packKeys(keys [][]byte) (buf, ends js.Value) {
	var b []byte
	e := make([]byte, 0, 4*len(keys))
	for _, k := range keys {
		b = append(b, k...)
		e = binary.LittleEndian.AppendUint32(e, uint32(len(b)))
	}
	return jsutil.Uint8Array(b), js.Global().Get("Uint32Array").New(jsutil.Uint8Array(e).Get("buffer"))
}

// read calls one of the reading functions above with the database and
// args, and returns the buffer its promise resolves to.
func (s *Store) read(ctx context.Context, op string, fn js.Value, args ...any) ([]byte, error) {
	p, err := callFn(fn, append([]any{s.raw}, args...)...)
	if err != nil {
		return nil, s.fail(op, err)
	}
	v, err := jsutil.Await(ctx, p)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, s.fail(op, err)
	}
	b, err := jsutil.Bytes(v)
	if err != nil {
		return nil, s.fail(op, err)
	}
	return b, nil
}
