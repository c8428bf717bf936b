package relaytest

import (
	"net"
	"strconv"
	"testing"
)

// TestFreeAddr: the address is on loopback, its port below the kernel's
// ephemeral range, and a server can listen on it.
func TestFreeAddr(t *testing.T) {
	for range 20 {
		addr := FreeAddr(t)
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host != "127.0.0.1" {
			t.Fatalf("%q: %v", addr, err)
		}
		if p, _ := strconv.Atoi(port); p < freeLow || p >= freeHigh {
			t.Fatalf("port %d, want one in [%d, %d)", p, freeLow, freeHigh)
		}
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		ln.Close()
	}
}
