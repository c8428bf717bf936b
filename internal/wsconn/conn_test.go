//go:build !js

package wsconn_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/task-messenger/task-messenger/internal/wsconn"
)

// server echoes one message, then closes with 1008 "enough".
func server(t *testing.T) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			http.Error(w, "too many connections", http.StatusServiceUnavailable)
			return
		}
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		typ, b, err := ws.Read(r.Context())
		if err != nil {
			return
		}
		ws.Write(r.Context(), typ, b)
		ws.Close(websocket.StatusPolicyViolation, "enough")
	}))
	t.Cleanup(srv.Close)
	return "ws" + strings.TrimPrefix(srv.URL, "http")
}

func TestEchoAndCloseStatus(t *testing.T) {
	ctx := context.Background()
	c, err := wsconn.Dial(ctx, server(t)+"/", 1<<10)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, wsconn.Binary, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	typ, b, err := c.Read(ctx)
	if err != nil || typ != wsconn.Binary || string(b) != "hello" {
		t.Fatalf("read %d %q %v, want binary hello", typ, b, err)
	}
	_, _, err = c.Read(ctx)
	code, reason, ok := wsconn.CloseStatus(err)
	if !ok || code != wsconn.StatusPolicyViolation || reason != "enough" {
		t.Fatalf("ended with %v (%d %q %v), want 1008 enough", err, code, reason, ok)
	}
}

func TestRefused(t *testing.T) {
	_, err := wsconn.Dial(context.Background(), server(t)+"/busy", 1<<10)
	var re *wsconn.RefusedError
	if !errors.As(err, &re) || !strings.HasPrefix(re.Status, "503") || re.Body != "too many connections" {
		t.Fatalf("dial: %v, want a 503 RefusedError", err)
	}
	if _, _, ok := wsconn.CloseStatus(err); ok {
		t.Fatal("a refused upgrade has a close status")
	}
}
