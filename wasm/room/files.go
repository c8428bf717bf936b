package room

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
	"github.com/task-messenger/task-messenger/wasm/replication"
)

// Files (issue #16). A chat message may carry files: their bytes go into
// the author's blob book of the task ("${self}-blobs-${task}"), one chunk
// of ChunkSize bytes per page, sealed under the task's secret like the
// books to members (the DB's sealer, sealNamed: the name's first part is
// this profile, its last the task). The message lists each file (FileRef):
// its name, type, size, the blob book's key, its first page, its chunks
// and the SHA-256 of its bytes.
//
// One blob book per author and task, not one per reader as messages are:
// a file is written once whatever the number of members (a 10 MB file in
// a task of 10 is 10 MB, not 90), and readers gain nothing from their own
// copy: the message, which is in the per-reader books (so equivocation is
// caught there), binds the bytes by their hash, so an author cannot show
// two readers two files under one message. The book is shared
// (replication.Config.ShareOwn, Session.Share) on every session with a
// member of the task; a reader follows it only when it shows a file
// (Messenger.File), as a sparse replica (replication.Config.Sparse), and
// asks for that file's pages alone (Session.Fetch). A member removed from
// the task has the secrets of the epochs it was in, as for messages: new
// pages are sealed under the newest epoch.

// File bounds.
const (
	// ChunkSize is the bytes of a file per page of a blob book.
	ChunkSize = 64 << 10
	// MaxFile bounds one file's bytes.
	MaxFile = 10 << 20
	// MaxFiles bounds the files of one message.
	MaxFiles = 4
	// MaxFileName bounds a file name's bytes (UTF-8).
	MaxFileName = 255
	// maxFileType bounds a media type's bytes.
	maxFileType = 127
)

// File errors.
var (
	// ErrFileTooLarge means a file over MaxFile bytes, or more than MaxFiles files.
	ErrFileTooLarge = errors.New("room: file too large")
	// ErrFileHash means a file's bytes do not match the hash its message gives.
	ErrFileHash = errors.New("room: file does not match its hash")
	// ErrNoFile means a message that has no file of that index.
	ErrNoFile = errors.New("room: no such file")
)

// FileRef is a file as a message lists it (data.files[i]).
type FileRef struct {
	Name   string      `json:"name"`
	Type   string      `json:"type"`
	Size   int64       `json:"size"`
	Book   identity.ID `json:"book"`   // the author's blob book of the task
	Start  uint64      `json:"start"`  // its first page
	Chunks uint64      `json:"chunks"` // its pages: ⌈size / ChunkSize⌉
	Hash   string      `json:"hash"`   // SHA-256 of its bytes, in hex
}

// UnmarshalJSON reads a file; its book's key is not checked (a costly
// curve decoding, for every message read, as refID): replication checks
// the key before it follows the book.
func (f *FileRef) UnmarshalJSON(b []byte) error {
	type plain FileRef
	var v struct {
		plain
		Book string `json:"book"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	id, err := identity.DecodeID(v.Book)
	if err != nil {
		return fmt.Errorf("book: %w", err)
	}
	*f = FileRef(v.plain)
	f.Book = id
	return nil
}

// FileData is a file to send.
type FileData struct {
	Name string
	Type string
	Data []byte
}

// chunks is how many pages a file of size bytes takes.
func chunks(size int64) uint64 { return uint64((size + ChunkSize - 1) / ChunkSize) }

// blobName names this profile's blob book of a task.
func blobName(self identity.ID, id TaskID) string {
	return blobPrefix(self) + id.String()
}

// blobPrefix is what the names of self's blob books begin with.
func blobPrefix(self identity.ID) string { return self.String() + "-blobs-" }

// CleanFileName makes a file name safe to keep and show: control and
// format characters (bidi overrides, zero widths) dropped, path
// separators replaced, at most MaxFileName bytes; "file" if nothing is
// left.
func CleanFileName(name string) string {
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(name, "") {
		switch {
		case unicode.Is(unicode.Cc, r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			continue
		case r == '/' || r == '\\':
			r = '_'
		}
		if b.Len()+utf8.RuneLen(r) > MaxFileName {
			break
		}
		b.WriteRune(r)
	}
	s := strings.TrimSpace(b.String())
	if s == "" || s == "." || s == ".." {
		return "file"
	}
	return s
}

// CleanFileType returns a media type as a message keeps it: lower case
// printable ASCII without spaces, else "application/octet-stream".
func CleanFileType(typ string) string {
	typ = strings.ToLower(strings.TrimSpace(typ))
	if !validFileType(typ) {
		return "application/octet-stream"
	}
	return typ
}

func validFileType(typ string) bool {
	if typ == "" || len(typ) > maxFileType || !strings.Contains(typ, "/") {
		return false
	}
	for i := 0; i < len(typ); i++ {
		if c := typ[i]; c <= ' ' || c >= 0x7f || c >= 'A' && c <= 'Z' {
			return false
		}
	}
	return true
}

// previewTypes are the image types shown inline, by the bytes they start
// with.
var previewTypes = []struct {
	typ   string
	magic func([]byte) bool
}{
	{"image/png", func(b []byte) bool { return strings.HasPrefix(string(b), "\x89PNG\r\n\x1a\n") }},
	{"image/jpeg", func(b []byte) bool { return strings.HasPrefix(string(b), "\xff\xd8\xff") }},
	{"image/gif", func(b []byte) bool {
		return strings.HasPrefix(string(b), "GIF87a") || strings.HasPrefix(string(b), "GIF89a")
	}},
	{"image/webp", func(b []byte) bool {
		return len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP"
	}},
}

// SafeType is the type a file's bytes may be handed to the page with: its
// type if it is an image type shown inline (png, jpeg, gif, webp) and the
// bytes start as that type does; else application/octet-stream, so a file
// that is not what its type says (HTML, SVG, a script) never runs.
func SafeType(typ string, data []byte) string {
	for _, p := range previewTypes {
		if typ == p.typ && p.magic(data) {
			return typ
		}
	}
	return "application/octet-stream"
}

// FilesOf returns the files a message's data lists; nil if none.
func FilesOf(data json.RawMessage) []FileRef {
	if _, ok := stringFields(data); ok {
		return nil // no field is an array (most messages: no reflection)
	}
	var d struct {
		Files []FileRef `json:"files"`
	}
	if json.Unmarshal(data, &d) != nil {
		return nil
	}
	return d.Files
}

// checkFiles checks a chat message's data.files: 1 to MaxFiles files, each
// well formed (checkFile).
func checkFiles(raw json.RawMessage) error {
	var files []json.RawMessage
	if err := json.Unmarshal(raw, &files); err != nil || files == nil {
		return errors.New("data.files is not an array")
	}
	if len(files) == 0 || len(files) > MaxFiles {
		return fmt.Errorf("data.files: %d files, 1 to %d", len(files), MaxFiles)
	}
	for i, f := range files {
		if err := checkFile(f); err != nil {
			return fmt.Errorf("data.files[%d]: %v", i, err)
		}
	}
	return nil
}

// checkFile checks one file of a message: a clean name, a clean type, a
// size within MaxFile, a blob book key, a first page after the genesis,
// the chunks the size takes, a SHA-256 in hex.
func checkFile(raw json.RawMessage) error {
	var f FileRef
	d := json.NewDecoder(strings.NewReader(string(raw)))
	if err := d.Decode(&f); err != nil {
		return err
	}
	hash, err := hex.DecodeString(f.Hash)
	switch {
	case f.Name != CleanFileName(f.Name):
		return errors.New("name with control characters, separators or over its bound")
	case f.Type != CleanFileType(f.Type):
		return errors.New("bad type")
	case f.Size < 0 || f.Size > MaxFile:
		return fmt.Errorf("size %d, at most %d", f.Size, MaxFile)
	case f.Book.IsZero():
		return errors.New("no book")
	case f.Start < 1 || f.Start > MaxClock:
		return fmt.Errorf("start %d", f.Start)
	case f.Chunks != chunks(f.Size):
		return fmt.Errorf("%d chunks for %d bytes", f.Chunks, f.Size)
	case err != nil || len(hash) != sha256.Size || hex.EncodeToString(hash) != f.Hash:
		return errors.New("hash is not a SHA-256 in lower-case hex")
	}
	return nil
}

// fileState is the messenger's state for files. Its own lock: Sparse is
// called under a replication session's lock.
type fileState struct {
	mu     sync.Mutex
	sparse map[identity.ID]bool // blob books read sparsely
	wmu    sync.Mutex           // serialises appends to this profile's blob books
}

// isSparse reports whether the blob book key was marked sparse (its
// replica opened for a File, maybe before its genesis came).
func (fs *fileState) isSparse(key identity.ID) bool {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.sparse[key]
}

func (fs *fileState) markSparse(key identity.ID) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.sparse == nil {
		fs.sparse = make(map[identity.ID]bool)
	}
	fs.sparse[key] = true
}

// sparse is replication.Config.Sparse: blob books followed are read
// sparsely, known by their names (their genesis), or marked before it
// came. (Open does not list the stored books for them: the book is open
// when a session asks.)
func (m *Messenger) sparse(b *journal.Book) bool {
	return m.files.isSparse(b.Key()) || !b.Writable() && isBlobName(b.Name())
}

// isBlobName reports whether a book's name is a blob book's.
func isBlobName(name string) bool {
	parts := strings.Split(name, "-")
	return len(parts) == 3 && parts[1] == "blobs"
}

// syncFilesLocked sets up a session's sparse replicas, and shares with
// peer this profile's blob books of the tasks peer is a member of: the
// session finds them in its one pass over the books as it starts
// (replication.Config.ShareOwn), so a task without files costs nothing;
// shareBlob adds one made later. Called with m.mu held.
func (m *Messenger) syncFilesLocked(cfg *replication.Config, peer identity.ID) {
	next := cfg.Sparse
	cfg.Sparse = func(b *journal.Book) bool {
		return m.sparse(b) || next != nil && next(b)
	}
	prefix := blobPrefix(m.self)
	cfg.ShareOwn = func(name string) bool {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			return false
		}
		id, err := ParseTaskID(rest)
		if err != nil {
			return false
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		t := m.tasks[id]
		return t != nil && t.members[peer] != nil
	}
}

// shareBlob shares a blob book of t on the live sessions of its members.
func (m *Messenger) shareBlob(t *task, b *journal.Book) {
	m.mu.Lock()
	var sessions []*replication.Session
	for id := range t.members {
		if c := m.conns[id]; c != nil && c.sess != nil {
			sessions = append(sessions, c.sess)
		}
	}
	m.mu.Unlock()
	for _, s := range sessions {
		s.Share(b)
	}
}

// SendFiles writes files into this profile's blob book of the task, then
// a chat message (a reply if replyTo is not nil) that lists them. Over
// MaxFiles files or a file over MaxFile bytes is ErrFileTooLarge, and
// nothing is written. Names and types are cleaned (CleanFileName,
// CleanFileType). Should the message fail after the chunks are written,
// they stay in the blob book, unreferenced.
func (m *Messenger) SendFiles(ctx context.Context, id TaskID, text string, replyTo *Ref, files []FileData) (Message, error) {
	if len(files) == 0 {
		return m.Send(ctx, id, text, replyTo)
	}
	if err := checkText(text); err != nil {
		return Message{}, err
	}
	if len(files) > MaxFiles {
		return Message{}, fmt.Errorf("%w: %d files, at most %d per message", ErrFileTooLarge, len(files), MaxFiles)
	}
	for _, f := range files {
		if len(f.Data) > MaxFile {
			return Message{}, fmt.Errorf("%w: %q is %d bytes, at most %d (%d MiB)", ErrFileTooLarge, CleanFileName(f.Name), len(f.Data), MaxFile, MaxFile>>20)
		}
	}
	t := m.task(id)
	if t == nil {
		return Message{}, fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	if err := m.checkRestoring(); err != nil {
		return Message{}, err
	}
	m.mu.Lock()
	sealed := t.secrets[t.epoch] != nil
	m.mu.Unlock()
	if !sealed {
		return Message{}, errors.New("room: files need a task with a secret (its host has not given one yet)")
	}
	var cause Message
	if replyTo != nil {
		var err error
		if cause, err = m.Lookup(ctx, id, *replyTo); err != nil {
			return Message{}, fmt.Errorf("room: reply: %w", err)
		}
	}
	refs, err := m.writeBlobs(ctx, t, files)
	if err != nil {
		return Message{}, err
	}
	if replyTo != nil {
		m.seen(t, cause.Head.By, cause.Head.Mid, cause.Meta.Clock)
	}
	return m.write(ctx, t, TypeChat, map[string]any{"text": text, "files": refs}, replyTo)
}

// writeBlobs appends the files' chunks to this profile's blob book of t
// (made at its first file), in one write, and shares the book.
func (m *Messenger) writeBlobs(ctx context.Context, t *task, files []FileData) ([]FileRef, error) {
	m.files.wmu.Lock()
	defer m.files.wmu.Unlock()
	b, err := m.db.Author(ctx, blobName(m.self, t.id), genesisMeta{Task: t.id}.encode())
	if err != nil {
		return nil, err
	}
	start := b.Len()
	refs := make([]FileRef, len(files))
	var pages [][]byte
	for i, f := range files {
		sum := sha256.Sum256(f.Data)
		refs[i] = FileRef{Name: CleanFileName(f.Name), Type: CleanFileType(f.Type), Size: int64(len(f.Data)), Book: b.Key(),
			Start: start + uint64(len(pages)), Chunks: chunks(int64(len(f.Data))), Hash: hex.EncodeToString(sum[:])}
		pages = append(pages, split(f.Data)...)
	}
	if len(pages) > 0 {
		if _, err := b.Append(ctx, pages...); err != nil {
			return nil, err
		}
	}
	m.shareBlob(t, b)
	return refs, nil
}

// split cuts data into chunks of ChunkSize bytes (the last shorter).
func split(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		n := min(len(data), ChunkSize)
		out = append(out, data[:n])
		data = data[n:]
	}
	return out
}

// File returns file index of message ref in the task, its bytes verified
// against the hash the message gives: from this profile's blob book, or
// from the author's, whose pages of that file alone are fetched (a sparse
// replica) from the author while it is online; it waits for them until
// ctx ends.
func (m *Messenger) File(ctx context.Context, id TaskID, ref Ref, index int) (FileRef, []byte, error) {
	t := m.task(id)
	if t == nil {
		return FileRef{}, nil, fmt.Errorf("%w %s", ErrUnknownTask, id)
	}
	msg, err := m.Lookup(ctx, id, ref)
	if err != nil {
		return FileRef{}, nil, err
	}
	files := FilesOf(msg.Data)
	if index < 0 || index >= len(files) {
		return FileRef{}, nil, fmt.Errorf("%w: message %s has %d files, not file %d", ErrNoFile, ref, len(files), index)
	}
	f := files[index]
	b, err := m.blobBook(ctx, f.Book, msg.Head.By)
	if err != nil {
		return f, nil, err
	}
	end := f.Start + f.Chunks
	if !b.Writable() {
		if err := m.fetch(ctx, b, msg.Head.By, f.Start, end); err != nil {
			return f, nil, err
		}
	}
	data, err := m.readBlob(ctx, t, b, f.Start, end)
	if err != nil {
		return f, nil, err
	}
	if sum := sha256.Sum256(data); int64(len(data)) != f.Size || hex.EncodeToString(sum[:]) != f.Hash {
		return f, nil, fmt.Errorf("%w: %q from book %s, pages [%d, %d)", ErrFileHash, f.Name, f.Book.Short(), f.Start, end)
	}
	return f, data, nil
}

// blobBook is this profile's blob book, or a sparse replica of author's.
func (m *Messenger) blobBook(ctx context.Context, key, author identity.ID) (*journal.Book, error) {
	if author == m.self {
		return m.db.Get(ctx, key)
	}
	m.files.markSparse(key) // before the follow: the sessions take it as sparse
	return m.db.ReaderFrom(ctx, key, author)
}

// fetchRetry is how often fetch asks again while pages are missing: the
// author's session may have come up, or gone and come back.
const fetchRetry = time.Second

// fetch waits until the replica b holds pages [start, end), asking the
// author's live session for them (and for the genesis, which binds the
// book to its author).
func (m *Messenger) fetch(ctx context.Context, b *journal.Book, author identity.ID, start, end uint64) error {
	key := b.Key()
	wake := make(chan struct{}, 1)
	cancel := m.db.Subscribe(func(ev journal.Event) {
		if ev.Book == key {
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
	defer cancel()
	tick := time.NewTicker(fetchRetry)
	defer tick.Stop()
	for {
		missing := b.Have().Missing(0, 1)
		for _, r := range b.Have().Missing(start, end) {
			missing = missing.Add(r.Start, r.End)
		}
		if len(missing) == 0 {
			return nil
		}
		if s := m.session(author); s != nil {
			for _, r := range missing {
				_ = s.Fetch(key, r.Start, r.End) // not yet a replica of the session: asked again
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("room: file from %s: pages %v of book %s not here yet: %w", author.Short(), missing, key.Short(), ctx.Err())
		case <-m.ctx.Done():
			return ErrClosed
		case <-wake:
		case <-tick.C:
		}
	}
}

// session is the live replication session with peer, nil if none.
func (m *Messenger) session(peer identity.ID) *replication.Session {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c := m.conns[peer]; c != nil {
		return c.sess
	}
	return nil
}

// readBlob returns the pages [start, end) of blob book b of t, opened.
func (m *Messenger) readBlob(ctx context.Context, t *task, b *journal.Book, start, end uint64) ([]byte, error) {
	var out []byte
	ps := m.sealOf(t, b.Key())
	for at := start; at < end; at += 64 {
		pages, err := b.GetRange(ctx, at, min(end, at+64))
		if err != nil {
			return nil, err
		}
		for i, p := range pages {
			plain, err := ps.open(at+uint64(i), p)
			if err != nil {
				return nil, fmt.Errorf("room: file page %d of book %s: %w", at+uint64(i), b.Key().Short(), err)
			}
			out = append(out, plain...)
		}
	}
	return out, nil
}
