package yield

import "testing"

func TestSet(t *testing.T) {
	defer Set(nil)
	Now() // runtime.Gosched: returns
	calls := 0
	Set(func() { calls++ })
	Now()
	Now()
	if calls != 2 {
		t.Fatalf("the yield set was called %d times, want 2", calls)
	}
	Set(nil)
	Now()
	if calls != 2 {
		t.Fatalf("after Set(nil), the old yield was called (%d)", calls)
	}
}
