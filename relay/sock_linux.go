package relay

import (
	"net"
	"syscall"
	"unsafe"
)

// unsentBytes asks the kernel how many bytes of nc's send queue the peer
// has not acknowledged (SIOCOUTQ), or returns -1.
func unsentBytes(nc net.Conn) int {
	for {
		u, ok := nc.(interface{ NetConn() net.Conn }) // TLS
		if !ok {
			break
		}
		nc = u.NetConn()
	}
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1
	}
	n := -1
	rc.Control(func(fd uintptr) {
		var v int32
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&v))); e == 0 && v >= 0 {
			n = int(v)
		}
	})
	return n
}
