package relay

import (
	"encoding/json"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

func init() {
	// Not every system's MIME table knows these; browsers need them exact.
	_ = mime.AddExtensionType(".wasm", "application/wasm")
	_ = mime.AddExtensionType(".js", "text/javascript; charset=utf-8")
}

// StaticHandler serves the files of dir (the page, the loader and the
// built module). For a file with a precompressed copy beside it (FILE.br,
// FILE.gz) it sends the copy to clients that accept that encoding, with
// the original's content type.
func StaticHandler(dir string) http.Handler {
	files := http.FileServer(http.Dir(dir))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		name := path.Clean("/" + r.URL.Path)
		if strings.HasSuffix(name, "/") {
			files.ServeHTTP(w, r)
			return
		}
		ctype := mime.TypeByExtension(path.Ext(name))
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
			if err != nil || st.IsDir() {
				continue
			}
			w.Header().Set("Content-Encoding", enc.name)
			w.Header().Add("Vary", "Accept-Encoding")
			if ctype != "" {
				w.Header().Set("Content-Type", ctype)
			}
			http.ServeContent(w, r, name, st.ModTime(), f)
			return
		}
		files.ServeHTTP(w, r)
	})
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
	Devtools string `json:"devtools,omitempty"`
}

// ConfigHandler serves cfg as JSON.
func ConfigHandler(cfg PageConfig) http.Handler {
	b, _ := json.Marshal(cfg)
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(b)
	})
}
