//go:build js

package logs

import (
	"fmt"
	"os"
	"strings"
)

// Default is the browser's console (the module's standard error), at
// level info: "LEVEL msg key=value …" lines, as slog's default logger
// writes them natively but for the time.
func Default() Logger { return console{} }

type console struct{}

func (console) Debug(string, ...any) {}

func (console) Info(msg string, args ...any)  { write("INFO", msg, args) }
func (console) Warn(msg string, args ...any)  { write("WARN", msg, args) }
func (console) Error(msg string, args ...any) { write("ERROR", msg, args) }

func write(level, msg string, args []any) {
	var b strings.Builder
	b.WriteString(level)
	b.WriteByte(' ')
	b.WriteString(msg)
	for i := 0; i < len(args); i += 2 {
		if i+1 == len(args) {
			fmt.Fprintf(&b, " !BADKEY=%v", args[i])
			break
		}
		fmt.Fprintf(&b, " %v=%v", args[i], args[i+1])
	}
	b.WriteByte('\n')
	os.Stderr.WriteString(b.String())
}
