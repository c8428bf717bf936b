package e2e

import (
	"os/exec"
	"syscall"
)

// setProcAttr makes the kernel kill Chromium if the test binary dies, as
// chromedp does when no ModifyCmdFunc is given.
func setProcAttr(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = new(syscall.SysProcAttr)
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
