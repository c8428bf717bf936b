package subs

import "testing"

func TestList(t *testing.T) {
	var l List[int]
	l.Emit(0) // none yet
	var a, b []int
	cancelA := l.Add(func(v int) { a = append(a, v) })
	var cancelB func()
	cancelB = l.Add(func(v int) {
		b = append(b, v)
		cancelB() // a function may cancel itself
	})
	l.Emit(1)
	cancelA()
	l.Emit(2)
	if len(a) != 1 || a[0] != 1 || len(b) != 1 || b[0] != 1 {
		t.Fatalf("a %v, b %v; want [1] each", a, b)
	}
}
