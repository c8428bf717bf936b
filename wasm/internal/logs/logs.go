// Package logs is the logger the browser module's packages take: the part
// of *slog.Logger they use. Natively any *slog.Logger is one (servers and
// tests pass theirs); the browser module logs to the console without
// log/slog, which it would otherwise link for four methods (34 KB of the
// module under gzip, docs/benchmarks.md).
package logs

// A Logger logs a message with key-value pairs at a level, as
// *slog.Logger's methods of these names do.
type Logger interface {
	Debug(msg string, args ...any)
	Info(msg string, args ...any)
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// With returns a Logger that adds args to every message of l, before the
// message's own, as (*slog.Logger).With does.
func With(l Logger, args ...any) Logger {
	if w, ok := l.(with); ok {
		return with{w.l, append(w.args[:len(w.args):len(w.args)], args...)}
	}
	return with{l, args}
}

type with struct {
	l    Logger
	args []any
}

func (w with) all(args []any) []any { return append(w.args[:len(w.args):len(w.args)], args...) }

func (w with) Debug(msg string, args ...any) { w.l.Debug(msg, w.all(args)...) }
func (w with) Info(msg string, args ...any)  { w.l.Info(msg, w.all(args)...) }
func (w with) Warn(msg string, args ...any)  { w.l.Warn(msg, w.all(args)...) }
func (w with) Error(msg string, args ...any) { w.l.Error(msg, w.all(args)...) }
