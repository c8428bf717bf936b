package room

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestSplitAndChunks(t *testing.T) {
	for _, n := range []int{0, 1, ChunkSize - 1, ChunkSize, ChunkSize + 1, 3*ChunkSize + 7} {
		data := randomBytes(n, uint64(n))
		parts := split(data)
		if uint64(len(parts)) != chunks(int64(n)) {
			t.Fatalf("%d bytes: %d chunks, chunks() says %d", n, len(parts), chunks(int64(n)))
		}
		if !bytes.Equal(bytes.Join(parts, nil), data) {
			t.Fatalf("%d bytes: chunks do not join back", n)
		}
		for i, p := range parts {
			if len(p) > ChunkSize || len(p) == 0 {
				t.Fatalf("%d bytes: chunk %d of %d bytes", n, i, len(p))
			}
		}
	}
}

func TestCleanFileName(t *testing.T) {
	for in, want := range map[string]string{
		"photo.png":                    "photo.png",
		"evil\u202Egnp.exe":            "evilgnp.exe",
		"a\x00b\nc\td":                 "abcd",
		"../../etc/passwd":             ".._.._etc_passwd",
		"  ":                           "file",
		"..":                           "file",
		"<img src=x onerror=alert(1)>": "<img src=x onerror=alert(1)>", // shown as text, never parsed
		strings.Repeat("é", 10000):     strings.Repeat("é", MaxFileName/2),
		"bad\xffutf8":                  "badutf8",
	} {
		if got := CleanFileName(in); got != want {
			t.Errorf("CleanFileName(%q) = %q, want %q", in, got, want)
		}
		if got := CleanFileName(in); CleanFileName(got) != got {
			t.Errorf("CleanFileName is not idempotent on %q", in)
		}
	}
}

func TestSafeType(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n....")
	for _, c := range []struct {
		typ  string
		data []byte
		want string
	}{
		{"image/png", png, "image/png"},
		{"image/png", []byte("<svg onload=alert(1)>"), "application/octet-stream"},
		{"image/svg+xml", []byte("<svg/>"), "application/octet-stream"},
		{"text/html", []byte("<script>"), "application/octet-stream"},
		{"image/jpeg", []byte("\xff\xd8\xff\xe0"), "image/jpeg"},
		{"image/gif", []byte("GIF89a"), "image/gif"},
		{"image/webp", []byte("RIFF\x00\x00\x00\x00WEBPVP8 "), "image/webp"},
		{"image/jpeg", png, "application/octet-stream"},
	} {
		if got := SafeType(c.typ, c.data); got != c.want {
			t.Errorf("SafeType(%q, %q) = %q, want %q", c.typ, c.data, got, c.want)
		}
	}
}

func validRef() FileRef {
	sum := sha256.Sum256([]byte("hi"))
	return FileRef{Name: "a.txt", Type: "text/plain", Size: 2, Book: identity.ID{1}, Start: 1, Chunks: 1, Hash: hex.EncodeToString(sum[:])}
}

func TestCheckFiles(t *testing.T) {
	enc := func(fs ...FileRef) json.RawMessage { b, _ := json.Marshal(fs); return b }
	if err := checkFiles(enc(validRef())); err != nil {
		t.Fatalf("a valid file refused: %v", err)
	}
	bad := map[string]func(*FileRef){
		"bidi name":    func(f *FileRef) { f.Name = "x\u202Etxt" },
		"long name":    func(f *FileRef) { f.Name = strings.Repeat("a", MaxFileName+1) },
		"type":         func(f *FileRef) { f.Type = "Text/HTML <b>" },
		"size":         func(f *FileRef) { f.Size, f.Chunks = MaxFile+1, chunks(MaxFile+1) },
		"chunks":       func(f *FileRef) { f.Chunks = 2 },
		"start":        func(f *FileRef) { f.Start = 0 },
		"hash":         func(f *FileRef) { f.Hash = "00" },
		"no book":      func(f *FileRef) { f.Book = identity.ID{} },
		"negative":     func(f *FileRef) { f.Size = -1 },
		"upper hash":   func(f *FileRef) { f.Hash = strings.ToUpper(f.Hash) },
		"genesis page": func(f *FileRef) { f.Start = 0 },
	}
	for name, spoil := range bad {
		f := validRef()
		spoil(&f)
		if err := checkFiles(enc(f)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := checkFiles(enc(validRef(), validRef(), validRef(), validRef(), validRef())); err == nil {
		t.Error("5 files accepted")
	}
	for _, raw := range []string{`null`, `[]`, `{}`, `[1]`, `"x"`} {
		if err := checkFiles(json.RawMessage(raw)); err == nil {
			t.Errorf("files %s accepted", raw)
		}
	}
}

// pair makes a task of Bob's that Ana joined, both paired.
func pair(t testing.TB) (bob, ana *node, task TaskID) {
	url := startRelay(t)
	bob, ana = newNode(t, url, "bob", 2), newNode(t, url, "ana", 1)
	info, err := bob.CreateTask(testCtx(t), "Files", nil)
	if err != nil {
		t.Fatal(err)
	}
	ana.join(bob, info.ID)
	for _, n := range []*node{bob, ana} {
		eventually(t, n.name+" paired", func() bool { return n.paired(info.ID, 1) }, state(info.ID, bob, ana))
	}
	return bob, ana, info.ID
}

// waitMessage waits until n holds message ref of task.
func waitMessage(t *testing.T, n *node, task TaskID, ref Ref) Message {
	t.Helper()
	var msg Message
	eventually(t, n.name+" has "+ref.String(), func() bool {
		var err error
		msg, err = n.Lookup(testCtx(t), task, ref)
		return err == nil
	})
	return msg
}

func TestFilesAcrossMembers(t *testing.T) {
	bob, ana, task := pair(t)
	small := []byte("hello, file")
	big := randomBytes(3*ChunkSize+123, 7)
	png := append([]byte("\x89PNG\r\n\x1a\n"), randomBytes(1000, 8)...)
	msg, err := bob.SendFiles(testCtx(t), task, "three files", nil, []FileData{
		{Name: "note\u202E.txt", Type: "text/plain", Data: small},
		{Name: "big.bin", Type: "", Data: big},
		{Name: "pic.png", Type: "image/png", Data: png},
	})
	if err != nil {
		t.Fatal(err)
	}
	refs := FilesOf(msg.Data)
	if len(refs) != 3 || refs[0].Name != "note.txt" || refs[1].Type != "application/octet-stream" || refs[1].Chunks != 4 {
		t.Fatalf("files of the message: %+v", refs)
	}
	got := waitMessage(t, ana, task, msg.Ref())
	if len(FilesOf(got.Data)) != 3 {
		t.Fatalf("Ana's copy lists %d files", len(FilesOf(got.Data)))
	}
	// Ana shows the last file only: its pages (and the genesis) alone come.
	f, data, err := ana.File(testCtx(t), task, msg.Ref(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, png) || f.Name != "pic.png" {
		t.Fatalf("file 2: %d bytes, %q", len(data), f.Name)
	}
	b, err := ana.db.Get(testCtx(t), refs[2].Book)
	if err != nil {
		t.Fatal(err)
	}
	want := journal.Ranges{{Start: 0, End: 1}}.Add(refs[2].Start, refs[2].Start+refs[2].Chunks)
	if have := b.Have(); !equalRanges(have, want) {
		t.Fatalf("Ana's replica holds %v, want only %v (sparse)", have, want)
	}
	// Then the big one; Bob reads his own.
	if _, data, err = ana.File(testCtx(t), task, msg.Ref(), 1); err != nil || !bytes.Equal(data, big) {
		t.Fatalf("file 1: %d bytes, %v", len(data), err)
	}
	if _, data, err = bob.File(testCtx(t), task, msg.Ref(), 0); err != nil || !bytes.Equal(data, small) {
		t.Fatalf("Bob's file 0: %q, %v", data, err)
	}
	if _, _, err := ana.File(testCtx(t), task, msg.Ref(), 3); !errors.Is(err, ErrNoFile) {
		t.Fatalf("file 3: %v, want ErrNoFile", err)
	}
	// The blob pages are sealed: a book's pages do not hold the bytes.
	page, err := b.Get(testCtx(t), refs[2].Start)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(page, png[:64]) {
		t.Fatal("a blob page holds the file's bytes in the clear")
	}
}

func equalRanges(a, b journal.Ranges) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestFileFetchedAfterReopen(t *testing.T) {
	bob, ana, task := pair(t)
	data := randomBytes(2*ChunkSize, 9)
	msg, err := bob.SendFiles(testCtx(t), task, "later", nil, []FileData{{Name: "x", Data: data}, {Name: "y", Data: data[:10]}})
	if err != nil {
		t.Fatal(err)
	}
	waitMessage(t, ana, task, msg.Ref())
	if _, _, err := ana.File(testCtx(t), task, msg.Ref(), 1); err != nil {
		t.Fatal(err)
	}
	// Ana's tab reopens: the replica stays sparse, the other file comes on demand.
	ana.stop()
	ana.start()
	refs := FilesOf(msg.Data)
	if b, err := ana.db.Get(testCtx(t), refs[0].Book); err != nil || !ana.sparse(b) {
		t.Fatalf("the blob replica is not sparse after a reopen (%v)", err)
	}
	if _, got, err := ana.File(testCtx(t), task, msg.Ref(), 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after reopen: %d bytes, %v", len(got), err)
	}
}

func TestFileRefusals(t *testing.T) {
	bob, _, task := pair(t)
	ctx := testCtx(t)
	if _, err := bob.SendFiles(ctx, task, "big", nil, []FileData{{Name: "big", Data: make([]byte, MaxFile+1)}}); !errors.Is(err, ErrFileTooLarge) ||
		!strings.Contains(err.Error(), "10 MiB") {
		t.Fatalf("an oversized file: %v", err)
	}
	five := make([]FileData, MaxFiles+1)
	if _, err := bob.SendFiles(ctx, task, "many", nil, five); !errors.Is(err, ErrFileTooLarge) {
		t.Fatalf("%d files: %v", len(five), err)
	}
	if b, err := bob.db.Get(ctx, bob.db.BookKey(blobName(bob.self, task))); err == nil {
		t.Fatalf("a refused send made the blob book (%d pages)", b.Len())
	}
	// Without files, SendFiles is Send.
	msg, err := bob.SendFiles(ctx, task, "plain", nil, nil)
	if err != nil || FilesOf(msg.Data) != nil {
		t.Fatalf("no files: %v %s", err, msg.Data)
	}
}

// A message whose hash does not match the blob book's bytes is refused
// when shown: the book is the author's, the hash binds the bytes.
func TestFileHashMismatchRefused(t *testing.T) {
	bob, ana, task := pair(t)
	ctx := testCtx(t)
	msg, err := bob.SendFiles(ctx, task, "one", nil, []FileData{{Name: "a", Data: []byte("the real bytes")}})
	if err != nil {
		t.Fatal(err)
	}
	f := FilesOf(msg.Data)[0]
	// Bob writes a second message naming the same pages with another hash.
	sum := sha256.Sum256([]byte("other bytes"))
	f.Hash = hex.EncodeToString(sum[:])
	t2 := bob.task(task)
	lie, err := bob.write(ctx, t2, TypeChat, map[string]any{"text": "lie", "files": []FileRef{f}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitMessage(t, ana, task, lie.Ref())
	if _, _, err := ana.File(ctx, task, lie.Ref(), 0); !errors.Is(err, ErrFileHash) {
		t.Fatalf("a file whose hash lies: %v, want ErrFileHash", err)
	}
	if _, _, err := bob.File(ctx, task, lie.Ref(), 0); !errors.Is(err, ErrFileHash) {
		t.Fatalf("Bob's own lying message: %v, want ErrFileHash", err)
	}
	if _, got, err := ana.File(ctx, task, msg.Ref(), 0); err != nil || string(got) != "the real bytes" {
		t.Fatalf("the true message: %q %v", got, err)
	}
}

// A file whose author is offline waits, and ends with ctx.
func TestFileAuthorOffline(t *testing.T) {
	bob, ana, task := pair(t)
	msg, err := bob.SendFiles(testCtx(t), task, "one", nil, []FileData{{Name: "a", Data: []byte("bytes")}})
	if err != nil {
		t.Fatal(err)
	}
	waitMessage(t, ana, task, msg.Ref())
	bob.stop()
	ctx, cancel := context.WithTimeout(testCtx(t), 100*time.Millisecond)
	defer cancel()
	if _, _, err := ana.File(ctx, task, msg.Ref(), 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("author offline: %v", err)
	}
	bob.start()
	if _, got, err := ana.File(testCtx(t), task, msg.Ref(), 0); err != nil || string(got) != "bytes" {
		t.Fatalf("author back: %q %v", got, err)
	}
}

func FuzzCheckFiles(f *testing.F) {
	good, _ := json.Marshal([]FileRef{validRef()})
	f.Add(good)
	f.Add([]byte(`[{"name":"a","type":"x/y","size":0,"book":"","start":1,"chunks":0,"hash":""}]`))
	f.Add([]byte(`[{}]`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if checkFiles(raw) != nil {
			return
		}
		for _, fr := range FilesOf(json.RawMessage(`{"files":` + string(raw) + `}`)) {
			if CleanFileName(fr.Name) != fr.Name || fr.Size > MaxFile || fr.Chunks != chunks(fr.Size) || fr.Start == 0 {
				t.Fatalf("accepted a bad file %+v", fr)
			}
		}
	})
}
