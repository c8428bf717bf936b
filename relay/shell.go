package relay

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"
)

// ShellFiles are the files of the app shell: what the page's service
// worker (static/sw.js) keeps so that the page opens without a server.
// Nothing else is kept: no book, no key, no configuration but
// /config.json's last answer.
var ShellFiles = []string{
	"index.html", "app.js", "app.css", "taskmessenger.js", "taskmessenger-helpers.js",
	"wasm_exec.js", "taskmessenger.wasm", "manifest.webmanifest", "icon.svg", "icon-192.png", "icon-512.png",
}

// workerFile is the service worker's script; workerMark in it is replaced
// by the shell (Shell, as JSON) when it is served.
const (
	workerFile = "sw.js"
	workerMark = `"__TM_SHELL__"`
)

// Shell is what the service worker is told of the app shell.
type Shell struct {
	// Version names the contents of Files: the first 20 hexadecimal
	// digits of SHA-256 over "NAME\x00HEX(SHA-256(CONTENT))\n" of each
	// file, in order. The worker computes it again over what it fetched
	// and keeps nothing unless it matches: one version, whole, or none.
	Version string `json:"version"`
	// Files are the ShellFiles present in the served directory.
	Files []string `json:"files"`
}

// shellSum caches a directory's Shell while its files' sizes and times
// stay. A file changed within settle of the hash may change again with the
// same size and time (file times are coarse): it is hashed again.
type shellSum struct {
	mu     sync.Mutex
	stamp  []fileStamp // guarded by mu
	hashed time.Time   // when shell was computed; guarded by mu
	shell  Shell       // guarded by mu
}

const settle = 2 * time.Second

type fileStamp struct {
	name string
	size int64
	mod  time.Time
}

// of returns the Shell of dir, hashing the files again when any changed.
func (c *shellSum) of(dir string) (Shell, error) {
	var stamp []fileStamp
	for _, name := range ShellFiles {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		stamp = append(stamp, fileStamp{name, st.Size(), st.ModTime()})
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.shell.Version != "" && slices.Equal(stamp, c.stamp) && settled(stamp, c.hashed) {
		return c.shell, nil
	}
	now := time.Now()
	sh, err := ShellOf(dir)
	if err != nil {
		return Shell{}, err
	}
	c.stamp, c.hashed, c.shell = stamp, now, sh
	return sh, nil
}

// settled tells whether every file was last changed well before hashed.
func settled(stamp []fileStamp, hashed time.Time) bool {
	for _, f := range stamp {
		if !f.mod.Before(hashed.Add(-settle)) {
			return false
		}
	}
	return true
}

// ShellOf hashes the ShellFiles present in dir into their Shell.
func ShellOf(dir string) (Shell, error) {
	sum := sha256.New()
	sh := Shell{Files: []string{}}
	for _, name := range ShellFiles {
		f, err := os.Open(filepath.Join(dir, name))
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return Shell{}, err
		}
		h := sha256.New()
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return Shell{}, err
		}
		sh.Files = append(sh.Files, name)
		io.WriteString(sum, name+"\x00"+hex.EncodeToString(h.Sum(nil))+"\n")
	}
	sh.Version = hex.EncodeToString(sum.Sum(nil))[:20]
	return sh, nil
}

// serveWorker serves the service worker's script with the shell written
// in: when any shell file changes, so does the script, and the browser
// installs the new version beside the running one.
func serveWorker(w http.ResponseWriter, r *http.Request, dir string, sums *shellSum) {
	src, err := os.ReadFile(filepath.Join(dir, workerFile))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	sh, err := sums.of(dir)
	if err != nil {
		http.Error(w, "shell unavailable", http.StatusInternalServerError)
		return
	}
	b, _ := json.Marshal(sh)
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Write(bytes.Replace(src, []byte(workerMark), b, 1))
}
