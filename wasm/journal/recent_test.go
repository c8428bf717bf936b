package journal

import (
	"fmt"
	"testing"
)

func TestRecentPages(t *testing.T) {
	var r recentPages
	rec := func(i int) []byte { return []byte(fmt.Sprint(i)) }
	for i := 0; i < recentMax+10; i++ {
		r.add(uint64(i), [][]byte{rec(i)})
	}
	if _, ok := r.get(9); ok {
		t.Fatal("page 9 kept past the bound")
	}
	if v, ok := r.get(10); !ok || string(v) != "10" {
		t.Fatalf("page 10: %q %v", v, ok)
	}
	if got, ok := r.span(recentMax, recentMax+10); !ok || len(got) != 10 || string(got[9]) != fmt.Sprint(recentMax+9) {
		t.Fatalf("span: %q %v", got, ok)
	}
	if _, ok := r.span(5, 20); ok {
		t.Fatal("span reaching before the kept pages")
	}
	r.add(1000, [][]byte{rec(1000)}) // not contiguous: replaces
	if _, ok := r.get(100); ok {
		t.Fatal("kept pages after a gap")
	}
	if v, ok := r.get(1000); !ok || string(v) != "1000" {
		t.Fatalf("page 1000: %q %v", v, ok)
	}
}
