//go:build !linux && !js

package soak

import "os/exec"

// dieWithParent: only Linux kills a child with its parent.
func dieWithParent(*exec.Cmd) {}
