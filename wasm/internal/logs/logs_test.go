package logs

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestWith(t *testing.T) {
	var buf bytes.Buffer
	l := With(With(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), "a", 1), "b", 2)
	l.Debug("d", "c", 3)
	l.Info("i")
	l.Warn("w")
	l.Error("e", "c", 4)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"level=DEBUG msg=d a=1 b=2 c=3", "level=INFO msg=i a=1 b=2", "level=WARN msg=w a=1 b=2", "level=ERROR msg=e a=1 b=2 c=4"}
	if len(lines) != len(want) {
		t.Fatalf("%d lines: %q", len(lines), lines)
	}
	for i, w := range want {
		if !strings.HasSuffix(lines[i], w) {
			t.Errorf("line %d: %q, want it to end with %q", i, lines[i], w)
		}
	}
}
