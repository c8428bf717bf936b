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
	"strings"
	"sync"
	"time"
)

// ShellFiles are the files of the app shell: what the page's service
// worker (static/sw.js) keeps so that the page opens without a server.
// Nothing else is kept: no book, no key, no configuration but
// /config.json's last answer. The module (ModuleFile) is kept under the
// name it is served as (Shell.Module).
var ShellFiles = []string{
	"index.html", "app.js", "app.css", LoaderFile, "taskmessenger-helpers.js",
	"wasm_exec.js", ModuleFile, "manifest.webmanifest", "icon.svg", "icon-192.png", "icon-512.png",
}

// The module and its loader. StaticHandler serves the module as
// taskmessenger.HASH.wasm (ModuleName), cached by browsers for good, and
// the loader with that name written in for moduleMark.
const (
	ModuleFile = "taskmessenger.wasm"
	LoaderFile = "taskmessenger.js"
	moduleMark = `"__TM_MODULE__"`
)

// ModuleName is the name the module with these bytes is served as:
// taskmessenger.HASH.wasm, HASH the first 16 hexadecimal digits of their
// SHA-256.
func ModuleName(sum [sha256.Size]byte) string {
	return "taskmessenger." + hex.EncodeToString(sum[:8]) + ".wasm"
}

// isModuleName tells whether name (no leading slash) has the form of
// ModuleName.
func isModuleName(name string) bool {
	hash, ok := strings.CutPrefix(name, "taskmessenger.")
	hash, ok2 := strings.CutSuffix(hash, ".wasm")
	if !ok || !ok2 || len(hash) != 16 {
		return false
	}
	_, err := hex.DecodeString(hash)
	return err == nil && strings.ToLower(hash) == hash
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
	// file, in order, CONTENT as served. The worker computes it again over
	// what it fetched and keeps nothing unless it matches: one version,
	// whole, or none.
	Version string `json:"version"`
	// Files are the ShellFiles present in the served directory, the
	// module under its served name (Module).
	Files []string `json:"files"`
	// Module is the module's served name (ModuleName), "" without one.
	Module string `json:"module,omitempty"`
}

// site is what StaticHandler serves that depends on the files' contents.
type site struct {
	shell   Shell
	module  fileStamp // the module's size and time when hashed
	loader  []byte    // LoaderFile with the module's name written in; nil without it
	settled bool      // no file changed within settle of hashing: the module's name may be cached for good
}

// shellSum caches a directory's site while its files' sizes and times
// stay. A file changed within settle of the hash may change again with the
// same size and time (file times are coarse): it is hashed again.
type shellSum struct {
	mu     sync.Mutex
	stamp  []fileStamp // guarded by mu
	hashed time.Time   // when site was computed; guarded by mu
	site   site        // guarded by mu
}

const settle = 2 * time.Second

type fileStamp struct {
	name string
	size int64
	mod  time.Time
}

// of returns the site of dir, hashing the files again when any changed.
func (c *shellSum) of(dir string) (site, error) {
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
	if c.site.shell.Version != "" && slices.Equal(stamp, c.stamp) && settled(stamp, c.hashed) {
		return c.site, nil
	}
	now := time.Now()
	s, err := siteOf(dir)
	if err != nil {
		return site{}, err
	}
	s.settled = settled(stamp, now) && s.module == stampOf(stamp, ModuleFile)
	c.stamp, c.hashed, c.site = stamp, now, s
	return s, nil
}

// stampOf is name's stamp in stamp, the zero stamp if it is not there.
func stampOf(stamp []fileStamp, name string) fileStamp {
	for _, f := range stamp {
		if f.name == name {
			return f
		}
	}
	return fileStamp{}
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
	s, err := siteOf(dir)
	return s.shell, err
}

// siteOf hashes the ShellFiles present in dir: the module first, for its
// name, then every file as served.
func siteOf(dir string) (site, error) {
	var s site
	module, st, err := readFile(dir, ModuleFile)
	if err != nil {
		return site{}, err
	}
	if module != nil {
		s.shell.Module, s.module = ModuleName(sha256.Sum256(module)), st
	}
	sum := sha256.New()
	s.shell.Files = []string{}
	for _, name := range ShellFiles {
		b, _, err := readFile(dir, name)
		if err != nil {
			return site{}, err
		}
		if b == nil {
			continue
		}
		switch name {
		case ModuleFile:
			name = s.shell.Module
		case LoaderFile:
			b = withModule(b, s.shell.Module)
			s.loader = b
		}
		h := sha256.Sum256(b)
		s.shell.Files = append(s.shell.Files, name)
		io.WriteString(sum, name+"\x00"+hex.EncodeToString(h[:])+"\n")
	}
	s.shell.Version = hex.EncodeToString(sum.Sum(nil))[:20]
	return s, nil
}

// readFile reads dir's file name and its stamp as it was opened; nil,
// and no error, if there is none.
func readFile(dir, name string) ([]byte, fileStamp, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if os.IsNotExist(err) {
		return nil, fileStamp{}, nil
	}
	if err != nil {
		return nil, fileStamp{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, err
	}
	b, err := io.ReadAll(f)
	return b, fileStamp{name, st.Size(), st.ModTime()}, err
}

// withModule is the loader src with the module's served name written in
// (as a JSON string); src as it is without a module.
func withModule(src []byte, module string) []byte {
	if module == "" {
		return src
	}
	name, _ := json.Marshal(module)
	return bytes.Replace(src, []byte(moduleMark), name, 1)
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
	s, err := sums.of(dir)
	if err != nil {
		http.Error(w, "shell unavailable", http.StatusInternalServerError)
		return
	}
	b, _ := json.Marshal(s.shell)
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Write(bytes.Replace(src, []byte(workerMark), b, 1))
}
