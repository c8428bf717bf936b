//go:build !js

package soak

import (
	"cmp"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// errNoAnswer marks a call a page did not answer in its time while it
// stayed open: the page hangs, a defect the soak reports.
var errNoAnswer = errors.New("no answer in time (the page is open)")

// stackState is a goroutine's header, "goroutine 7 [chan receive, 2
// minutes]:": its wait reason without the time.
var stackState = regexp.MustCompile(`^goroutine \d+ \[([^,\]]+)`)

// summarizeStacks groups a dump of goroutine stacks (runtime.Stack of all)
// by wait reason and the innermost function of this module, the largest
// groups first, at most limit lines.
func summarizeStacks(dump string, limit int) string {
	type group struct {
		key string
		n   int
	}
	count := make(map[string]int)
	for _, g := range strings.Split(strings.TrimSpace(dump), "\n\n") {
		lines := strings.Split(g, "\n")
		m := stackState.FindStringSubmatch(lines[0])
		if m == nil {
			continue
		}
		at := "(outside this module)"
		for _, l := range lines[1:] {
			if strings.HasPrefix(l, "github.com/task-messenger/task-messenger/") {
				at = strings.TrimPrefix(l, "github.com/task-messenger/task-messenger/")
				if i := strings.LastIndex(at, "("); i > 0 {
					at = at[:i]
				}
				break
			}
		}
		count["["+m[1]+"] "+at]++
	}
	groups := make([]group, 0, len(count))
	for k, n := range count {
		groups = append(groups, group{k, n})
	}
	slices.SortFunc(groups, func(a, b group) int { return cmp.Or(b.n-a.n, strings.Compare(a.key, b.key)) })
	var b strings.Builder
	for i, g := range groups {
		if i == limit {
			fmt.Fprintf(&b, "  … %d groups more\n", len(groups)-limit)
			break
		}
		fmt.Fprintf(&b, "  %d × %s\n", g.n, g.key)
	}
	return b.String()
}

func TestSummarizeStacks(t *testing.T) {
	dump := `goroutine 1 [running]:
main.main()
	/x/main.go:1 +0x1

goroutine 7 [chan receive, 2 minutes]:
github.com/task-messenger/task-messenger/wasm/room.(*Messenger).Send(0x1, 0x2)
	/x/room/send.go:10 +0x2
github.com/task-messenger/task-messenger/wasm/app.(*App).Send(0x3)
	/x/app/calls.go:95 +0x3

goroutine 9 [chan receive]:
github.com/task-messenger/task-messenger/wasm/room.(*Messenger).Send(0x4, 0x5)
	/x/room/send.go:10 +0x2

garbage
`
	got := summarizeStacks(dump, 1)
	want := "  2 × [chan receive] wasm/room.(*Messenger).Send\n  … 1 groups more\n"
	if got != want {
		t.Errorf("summarizeStacks =\n%s\nwant\n%s", got, want)
	}
	if got := summarizeStacks(dump, 5); !strings.Contains(got, "1 × [running] (outside this module)") {
		t.Errorf("summarizeStacks(…, 5) =\n%s\nwant the running goroutine outside this module", got)
	}
}
