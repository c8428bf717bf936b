//go:build !js

package soak

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain checks that no goroutine outlives the soak: every App, mirror
// and relay node stopped all it started, after all the chaos.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
