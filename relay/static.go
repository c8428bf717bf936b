package relay

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/task-messenger/task-messenger/relay/client"
)

// contentTypes are the types of what the page is made of, whatever the
// system's MIME table says (browsers need them exact); other files get
// mime.TypeByExtension's.
var contentTypes = map[string]string{
	".wasm":        "application/wasm",
	".js":          "text/javascript; charset=utf-8",
	".webmanifest": "application/manifest+json",
	".svg":         "image/svg+xml",
	".html":        "text/html; charset=utf-8",
	".css":         "text/css; charset=utf-8",
	".json":        "application/json",
	".png":         "image/png",
}

// contentType is the type of the file name.
func contentType(name string) string {
	ext := strings.ToLower(path.Ext(name))
	if t, ok := contentTypes[ext]; ok {
		return t
	}
	return mime.TypeByExtension(ext)
}

// immutable is the Cache-Control of a file whose name is a hash of its
// bytes (the module, ModuleName): kept for a year, never revalidated, so
// the browser also keeps the module's compiled code.
const immutable = "public, max-age=31536000, immutable"

// PageCSP is the Content-Security-Policy of the page (StaticHandler):
//   - scripts only from the page's origin (no inline script, no eval),
//     with 'wasm-unsafe-eval' to compile the module (its JavaScript
//     helpers come as a served script, static/taskmessenger-helpers.js);
//   - styles and images from the origin (images also as data: URLs, and
//     as blob: URLs: a file's preview is an object URL of its verified
//     bytes, made only for an image whose bytes match its type);
//   - connections to the origin (the relay, /config.json, the module) and
//     to devtools on loopback (ws://127.0.0.1 or ws://localhost, any
//     port): a page can reach no other server, whatever a link says;
//   - the service worker (sw.js) and the web app manifest only from the
//     origin (worker-src, manifest-src);
//   - no plugins, no <base>, forms only to the origin, and no framing
//     (frame-ancestors 'none': no clickjacking).
//
// WebRTC data channels are not governed by CSP.
const PageCSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data: blob:; " +
	"connect-src 'self' ws://127.0.0.1:* ws://localhost:*; worker-src 'self'; manifest-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// PageCSPWith returns PageCSP with the origins of relays (websocket URLs
// of other nodes of the cluster, see CheckRelayURL) added to connect-src,
// so the page may reach them; with none it returns PageCSP. An invalid
// URL is an error (ErrRelayURL), and no policy.
func PageCSPWith(relays ...string) (string, error) {
	var extra []string
	for _, raw := range relays {
		if err := CheckRelayURL(raw); err != nil {
			return "", err
		}
		u, _ := url.Parse(raw)
		origin := strings.ToLower(u.Scheme) + "://" + u.Host
		if !slices.Contains(extra, origin) {
			extra = append(extra, origin)
		}
	}
	if len(extra) == 0 {
		return PageCSP, nil
	}
	const connect = "connect-src 'self' ws://127.0.0.1:* ws://localhost:*"
	return strings.Replace(PageCSP, connect, connect+" "+strings.Join(extra, " "), 1), nil
}

// CheckRelayURL checks a relay node's address for PageConfig.Relays and
// PageCSPWith (client.CheckURL).
func CheckRelayURL(raw string) error { return client.CheckURL(raw) }

// RelayURLHost is the host of a relay node's URL (CheckRelayURL) as a
// browser names it in the Origin of the pages that host serves: lower
// case, without the scheme's default port.
func RelayURLHost(raw string) (Host, error) {
	if err := CheckRelayURL(raw); err != nil {
		return Host{}, err
	}
	return dialHost(raw)
}

// configCSP is the policy of /config.json: data, never a document.
const configCSP = "default-src 'none'; frame-ancestors 'none'"

// pageHeaders sets the security headers of every page response.
func pageHeaders(h http.Header, csp string) {
	h.Set("Content-Security-Policy", csp)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-cache")
}

// StaticHandler serves the files of dir (the page, the loader and the
// built module) with the page's security headers (PageCSP, nosniff, no
// referrer). For a file with a precompressed copy beside it (FILE.br,
// FILE.gz) it sends the copy to clients that accept that encoding, with
// the original's content type. The module (ModuleFile) is also served as
// ModuleName of its bytes, cached for good (the loader, LoaderFile, is
// sent with that name written in); the service worker's script (/sw.js)
// is sent with the app shell's Shell written in (ShellOf). Both are
// hashed again when a file's size or time changes. It does not check
// Host: mount it behind Server.CheckHost.
func StaticHandler(dir string) http.Handler {
	return StaticHandlerCSP(dir, func() string { return PageCSP })
}

// StaticHandlerCSP is StaticHandler with the policy csp returns for each
// response (PageCSPWith the cluster's relays, which may change).
func StaticHandlerCSP(dir string, csp func() string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	sums := new(shellSum)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pageHeaders(w.Header(), csp())
		name := path.Clean("/" + r.URL.Path)
		switch {
		case name == "/"+workerFile:
			serveWorker(w, r, dir, sums)
		case name == "/"+LoaderFile:
			serveLoader(w, r, dir, sums, files)
		case isModuleName(name[1:]):
			serveModule(w, r, dir, name[1:], sums)
		case strings.HasSuffix(name, "/"):
			files.ServeHTTP(w, r)
		default:
			if t := contentType(name); t != "" {
				w.Header().Set("Content-Type", t)
			}
			if !serveEncoded(w, r, dir, name, time.Time{}) {
				files.ServeHTTP(w, r)
			}
		}
	})
}

// serveEncoded sends dir's file name as its precompressed copy (FILE.br,
// FILE.gz) in an encoding r accepts, if there is one changed no earlier
// than since; it tells whether it did. The caller set the content type.
func serveEncoded(w http.ResponseWriter, r *http.Request, dir, name string, since time.Time) bool {
	accept := r.Header.Get("Accept-Encoding")
	for _, enc := range []struct{ name, ext string }{{"br", ".br"}, {"gzip", ".gz"}} {
		if !acceptsEncoding(accept, enc.name) {
			continue
		}
		f, err := os.Open(filepath.Join(dir, filepath.FromSlash(name)+enc.ext))
		if err != nil {
			continue
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil || st.IsDir() || st.ModTime().Before(since) {
			continue
		}
		w.Header().Set("Content-Encoding", enc.name)
		w.Header().Add("Vary", "Accept-Encoding")
		http.ServeContent(w, r, name, st.ModTime(), f)
		return true
	}
	return false
}

// serveLoader sends the loader with the module's served name written in
// (files' copy of it if the site cannot be hashed).
func serveLoader(w http.ResponseWriter, r *http.Request, dir string, sums *shellSum, files http.Handler) {
	s, err := sums.of(dir)
	if err != nil || s.loader == nil {
		files.ServeHTTP(w, r)
		return
	}
	sum := sha256.Sum256(s.loader)
	w.Header().Set("Content-Type", contentTypes[".js"])
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:12])+`"`)
	http.ServeContent(w, r, LoaderFile, time.Time{}, bytes.NewReader(s.loader))
}

// serveModule sends the module under its hashed name: immutable while the
// file is the one the name was hashed from (not while a build rewrites
// it); a name that is not the module's is not found (an older module: its
// pages have it in their service worker's shell).
func serveModule(w http.ResponseWriter, r *http.Request, dir, name string, sums *shellSum) {
	s, err := sums.of(dir)
	if err != nil || name != s.shell.Module {
		http.NotFound(w, r)
		return
	}
	f, err := os.Open(filepath.Join(dir, ModuleFile))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		http.NotFound(w, r)
		return
	}
	if s.settled && (fileStamp{ModuleFile, st.Size(), st.ModTime()}) == s.module {
		w.Header().Set("Cache-Control", immutable)
	}
	w.Header().Set("Content-Type", contentTypes[".wasm"])
	// A compressed copy older than the module is an earlier build's.
	if serveEncoded(w, r, dir, "/"+ModuleFile, st.ModTime()) {
		return
	}
	http.ServeContent(w, r, name, st.ModTime(), f)
}

func acceptsEncoding(header, enc string) bool {
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(name), enc) && !strings.Contains(strings.ReplaceAll(params, " ", ""), "q=0") {
			return true
		}
	}
	return false
}

// PageConfig is what the server tells the page at /config.json: the
// defaults of tm.open that depend on how the server was started.
type PageConfig struct {
	// Devtools is the websocket URL peers report to; "" turns reporting off.
	// The page's CSP lets it reach only loopback (CheckDevtoolsURL).
	Devtools string `json:"devtools,omitempty"`
	// Mirrors are the peer ids (z-base-32) of the mirrors the page's
	// profiles pin their books to and read them from (relay/mirror).
	Mirrors []string `json:"mirrors,omitempty"`
	// Relays are the websocket URLs of the cluster's relay nodes, this
	// node first (CheckRelayURL each): the page goes online at the first
	// and moves to the others when its node dies. The page's CSP must let
	// it reach them (PageCSPWith).
	Relays []string `json:"relays,omitempty"`
}

// ConfigHandler serves cfg as JSON, with the page's security headers.
func ConfigHandler(cfg PageConfig) http.Handler {
	b, _ := json.Marshal(cfg)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeConfig(w, b)
	})
}

// ConfigHandlerFunc serves the PageConfig cfg returns for each request
// (lists that change while the server runs, such as live mirrors and
// relay nodes) as JSON, with the page's security headers. cfg must be
// safe to call from concurrent requests.
func ConfigHandlerFunc(cfg func() PageConfig) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b, err := json.Marshal(cfg())
		if err != nil {
			http.Error(w, "config unavailable", http.StatusInternalServerError)
			return
		}
		writeConfig(w, b)
	})
}

func writeConfig(w http.ResponseWriter, b []byte) {
	pageHeaders(w.Header(), configCSP)
	w.Header().Set("Content-Type", "application/json")
	w.Write(b)
}

// CheckDevtoolsURL checks a devtools address for PageConfig: a ws:// URL
// on 127.0.0.1 or localhost, which the page's CSP lets it reach. Devtools
// receives every book of a reporting tab and may export, import or reset
// its profile: it is never somewhere else.
func CheckDevtoolsURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "ws" || u.User != nil || u.Port() == "" {
		return fmt.Errorf("%w: %q", ErrDevtoolsURL, clip(raw, 64))
	}
	if h := u.Hostname(); h != "127.0.0.1" && h != "localhost" {
		return fmt.Errorf("%w: %q", ErrDevtoolsURL, clip(raw, 64))
	}
	return nil
}
