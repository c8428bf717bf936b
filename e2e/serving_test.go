package e2e

import (
	"errors"
	"io"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// waitServing polls url until it answers 200 with a body matching the
// regular expression want. It fails if done closes first (the server's
// process ended; ended says how) or a minute passes.
func waitServing(t testing.TB, done <-chan struct{}, ended func() string, url, want string) {
	t.Helper()
	re := regexp.MustCompile(want)
	deadline := time.Now().Add(time.Minute)
	last := errors.New("no answer yet")
	for {
		res, err := http.Get(url)
		if err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && re.Match(b) {
				return
			}
			err = errors.New(res.Status + ": " + string(b))
		}
		last = err
		select {
		case <-done:
			t.Fatalf("%s, while waiting for %s", ended(), url)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v; want 200 with %q", url, last, want)
		}
	}
}
