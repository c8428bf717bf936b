//go:build !js

package logs

import "log/slog"

// Default is slog.Default().
func Default() Logger { return slog.Default() }
