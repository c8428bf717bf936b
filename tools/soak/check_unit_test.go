//go:build !js

package soak

import (
	"strings"
	"testing"
)

// TestCheckFindsDefects: the final check names a lost, a doubled, a
// misordered, a stray and a wrongly edited message, with where it is.
func TestCheckFindsDefects(t *testing.T) {
	w := &world{seen: newSightings()}
	for i := range 3 {
		w.peers = append(w.peers, &peer{i: i})
	}
	r := &runner{t: t, w: w, l: newLedger()}
	ms := []int{0, 1, 2}
	a, b, c := chat{ID: "x/1", Text: "a"}, chat{ID: "x/2", Text: "b"}, chat{ID: "y/1", Text: "c"}
	acked := []sent{{ID: "x/1", Text: "a"}, {ID: "x/2", Text: "b", Edit: "b2"}}
	b2 := chat{ID: "x/2", Text: "b2"}
	for _, tc := range []struct {
		name string
		seqs [][]chat
		want string
	}{
		{"whole", [][]chat{{a, b2}, {a, b2}, {a, b2}}, ""},
		{"lost", [][]chat{{a, b2}, {b2}, {a, b2}}, "acknowledged message x/1 (\"a\" by peer 0, acked at"},
		{"where", [][]chat{{a, b2}, {b2}, {a, b2}}, "held by peers [0 2], missing at peer 1;"},
		{"doubled", [][]chat{{a, b2, a}, {a, b2}, {a, b2}}, "message x/1 (\"a\") doubled at peer 0"},
		{"misordered", [][]chat{{a, b2}, {b2, a}, {a, b2}}, "peers 0 and 1 differ at position 0 of 2"},
		{"stray", [][]chat{{a, b2, c}, {a, b2}, {a, b2, c}}, "unacknowledged message y/1 (\"c\") held by peers [0 2], missing at peer 1;"},
		{"edit", [][]chat{{a, b2}, {a, b}, {a, b2}}, "message x/2 at peer 1 reads \"b\", its acknowledged edit \"b2\""},
	} {
		got, _ := r.checkTask(0, ms, tc.seqs, acked)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("%s: defect %q, want it to say %q", tc.name, got, tc.want)
		}
	}
	if _, n := r.checkTask(0, ms, [][]chat{{a, b2}, {a, b2}, {a}}, acked); n != 3 {
		t.Errorf("%d deliveries counted, want 3", n)
	}
}
