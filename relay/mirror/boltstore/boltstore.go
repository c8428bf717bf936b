//go:build !js

package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/task-messenger/task-messenger/wasm/store"
)

// Errors. Open and Write wrap them with the path or the key concerned.
var (
	// ErrLocked means another process (or another Store in this one) has
	// the file open: bbolt takes an exclusive lock on it.
	ErrLocked = errors.New("boltstore: the store file is in use by another process")
	// ErrNewerSchema means the file was written by a newer version of the
	// program (its schema version is above store.SchemaVersion).
	ErrNewerSchema = errors.New("boltstore: the store file was written by a newer version")
	// ErrNotStore means the file is not a store of this package: it is not
	// a bbolt file, or it has no schema record.
	ErrNotStore = errors.New("boltstore: not a task-messenger store file")
	// ErrTooLarge means a key or a value of a batch is larger than bbolt
	// can keep (MaxKeySize, MaxValueSize). Nothing of the batch is written.
	ErrTooLarge = errors.New("boltstore: key or value too large")
)

// Limits of bbolt on one key and one value.
const (
	MaxKeySize   = bolt.MaxKeySize
	MaxValueSize = bolt.MaxValueSize
)

// pageSize is the size of bbolt's pages in a new file (a file keeps the
// size it was made with). A leaf holds whole values: at 4 KiB only three
// 1 KiB pages fit in one, at 16 KiB fifteen do.
const pageSize = 16 << 10

// DefaultLockTimeout is how long Open waits for another holder of the file
// to let it go when Options.LockTimeout is zero.
const DefaultLockTimeout = time.Second

// schemaBucket holds the schema record; it is not a table.
var (
	schemaBucket = []byte("boltstore")
	schemaKey    = []byte("schema")
)

// Options tune Open. The zero value (or nil) is the default.
type Options struct {
	// LockTimeout is how long Open waits for the file's lock when another
	// holder has it; then it returns ErrLocked. Zero means
	// DefaultLockTimeout; negative means do not wait.
	LockTimeout time.Duration
}

// A Store is a store.Store in one bbolt file. It is safe for concurrent
// use: reads run in parallel, writes go through one writer goroutine that
// commits the batches waiting for it in one transaction.
type Store struct {
	db *bolt.DB // immutable; bbolt is safe for concurrent use

	// mu is held shared by every call in progress and exclusively by Close,
	// so Close waits for the calls in progress and later calls see closed.
	mu     sync.RWMutex
	closed bool // guarded by mu

	writes  chan *write   // to the writer; immutable
	stop    chan struct{} // closed by Close to stop the writer
	stopped chan struct{} // closed by the writer when it returns

	commits atomic.Int64 // transactions the writer committed (or tried), for benchmarks
}

var _ store.Store = (*Store)(nil)

// Open opens the store in the file at path, creating it (mode 0600) and
// its tables if it does not exist. The directory must exist. opts may be
// nil. Open starts the writer goroutine, which Close stops.
func Open(path string, opts *Options) (s *Store, err error) {
	defer func() {
		if err != nil {
			err = fmt.Errorf("open store %s: %w", path, err)
		}
	}()
	if opts == nil {
		opts = &Options{}
	}
	timeout := opts.LockTimeout
	switch {
	case timeout == 0:
		timeout = DefaultLockTimeout
	case timeout < 0:
		timeout = time.Nanosecond // bbolt waits forever on zero
	}
	if err := checkMagic(path); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:      timeout,
		FreelistType: bolt.FreelistMapType,
		PageSize:     pageSize,
	})
	switch {
	case errors.Is(err, bolt.ErrTimeout):
		return nil, ErrLocked
	case errors.Is(err, bolt.ErrInvalid), errors.Is(err, bolt.ErrVersionMismatch), errors.Is(err, bolt.ErrChecksum):
		return nil, fmt.Errorf("%w: %w", ErrNotStore, err)
	case err != nil:
		return nil, err
	}
	if err := db.Update(initSchema); err != nil {
		db.Close()
		return nil, err
	}
	s = &Store{
		db:      db,
		writes:  make(chan *write),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
	}
	go s.writer()
	return s, nil
}

// boltMagic is the number in a bbolt file's meta page, after the page
// header, in the machine's byte order.
const (
	boltMagic       = 0xED0CDAED
	boltMagicOffset = 16
)

// checkMagic returns ErrNotStore if path is a file that is neither empty
// nor a bbolt file, so that Open never takes another file for one.
func checkMagic(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	var head [boltMagicOffset + 4]byte
	switch n, err := io.ReadFull(f, head[:]); {
	case n == 0 && err == io.EOF:
		return nil // bbolt makes an empty file a new store
	case err != nil:
		return fmt.Errorf("%w: %d bytes", ErrNotStore, n)
	case binary.NativeEndian.Uint32(head[boltMagicOffset:]) != boltMagic:
		return fmt.Errorf("%w: not a bbolt file", ErrNotStore)
	}
	return nil
}

// initSchema checks the schema record of a file, or writes it and creates
// the tables in a new one.
func initSchema(tx *bolt.Tx) error {
	if sb := tx.Bucket(schemaBucket); sb != nil {
		v := sb.Get(schemaKey)
		if len(v) != 8 {
			return fmt.Errorf("%w: schema record of %d bytes", ErrNotStore, len(v))
		}
		switch got := binary.BigEndian.Uint64(v); {
		case got > store.SchemaVersion:
			return fmt.Errorf("%w: schema %d, this program knows %d", ErrNewerSchema, got, store.SchemaVersion)
		case got < store.SchemaVersion:
			// Older records are read as they are (store.SchemaVersion);
			// the record moves on, so that an older program refuses the
			// records this one writes.
			if err := sb.Put(schemaKey, binary.BigEndian.AppendUint64(nil, store.SchemaVersion)); err != nil {
				return err
			}
		}
	} else if err := tx.ForEach(func([]byte, *bolt.Bucket) error { return ErrNotStore }); err != nil {
		return fmt.Errorf("%w: it has buckets but no schema record", err)
	} else {
		sb, err := tx.CreateBucket(schemaBucket)
		if err != nil {
			return err
		}
		if err := sb.Put(schemaKey, binary.BigEndian.AppendUint64(nil, store.SchemaVersion)); err != nil {
			return err
		}
	}
	for _, t := range store.Tables {
		if _, err := tx.CreateBucketIfNotExists([]byte(t)); err != nil {
			return err
		}
	}
	return nil
}

// Path returns the path of the store's file.
func (s *Store) Path() string { return s.db.Path() }

// view runs fn in a read transaction, unless ctx is done or s is closed.
func (s *Store) view(ctx context.Context, table string, fn func(*bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return store.ErrClosed
	}
	if err := store.CheckTable(table); err != nil {
		return err
	}
	return s.db.View(func(tx *bolt.Tx) error { return fn(tx.Bucket([]byte(table))) })
}

// Get implements store.Store. The values are copies: bbolt's own slices
// are valid only inside its transaction.
func (s *Store) Get(ctx context.Context, table string, keys ...[]byte) ([][]byte, error) {
	out := make([][]byte, len(keys))
	err := s.view(ctx, table, func(b *bolt.Bucket) error {
		for i, k := range keys {
			if len(k) > 0 { // bbolt holds no empty key
				out[i] = bytes.Clone(b.Get(k))
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// scanCheckEvery is how many entries Scan reads between checks of its ctx.
const scanCheckEvery = 256

// Scan implements store.Store. Each entry's key and value are copied into
// one allocation.
func (s *Store) Scan(ctx context.Context, table string, start, end []byte, limit int) ([]store.Entry, error) {
	var out []store.Entry
	err := s.view(ctx, table, func(b *bolt.Bucket) error {
		c := b.Cursor()
		k, v := c.First()
		if len(start) > 0 {
			k, v = c.Seek(start)
		}
		for ; k != nil; k, v = c.Next() {
			if end != nil && bytes.Compare(k, end) >= 0 || limit > 0 && len(out) >= limit {
				return nil
			}
			if len(out)%scanCheckEvery == scanCheckEvery-1 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			buf := make([]byte, len(k)+len(v))
			n := copy(buf, k)
			copy(buf[n:], v)
			out = append(out, store.Entry{Key: buf[:n:n], Value: buf[n:]})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Seek implements store.Store. Each entry's key and value are copied into
// one allocation.
func (s *Store) Seek(ctx context.Context, table string, end []byte, keys ...[]byte) ([]store.Entry, error) {
	out := make([]store.Entry, len(keys))
	err := s.view(ctx, table, func(b *bolt.Bucket) error {
		c := b.Cursor()
		for i, key := range keys {
			k, v := c.Seek(key)
			if k == nil || end != nil && bytes.Compare(k, end) >= 0 {
				continue
			}
			buf := make([]byte, len(k)+len(v))
			n := copy(buf, k)
			copy(buf[n:], v)
			out[i] = store.Entry{Key: buf[:n:n], Value: buf[n:]}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Close implements store.Store. It waits for the calls in progress, stops
// the writer and closes the file. Calls after Close return
// store.ErrClosed; closing twice is not an error.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	close(s.stop)
	<-s.stopped
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("boltstore: close %s: %w", s.db.Path(), err)
	}
	return nil
}
