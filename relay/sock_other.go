//go:build !linux

package relay

import "net"

// unsentBytes returns -1: only Linux tells how much of a socket's send
// queue the peer has taken.
func unsentBytes(net.Conn) int { return -1 }
