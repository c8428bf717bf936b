package search

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func ids(rs []Result) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.ID)
	}
	return strings.Join(s, ",")
}

func mustSearch(t *testing.T, ix *Index, q string, o Options) string {
	t.Helper()
	rs, err := ix.Search(q, o)
	if err != nil {
		t.Fatalf("Search(%q): %v", q, err)
	}
	return ids(rs)
}

func TestTokens(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"Hello, World!", "hello world"},
		{"Café crème brûlée", "cafe creme brulee"},
		{"Cafe\u0301", "cafe"}, // a decomposed accent
		{"Straße ŒUVRE", "strasse oeuvre"},
		{"ПРИВЕТ мир", "привет мир"},
		{"東京タワー", "東 京 タ ワ ー"},
		{"v2.0-rc1 x_y", "v2 0 rc1 x y"},
		{"  \u202e\n", ""},
	} {
		var got []string
		for _, tk := range tokens(c.in) {
			got = append(got, tk.term)
		}
		if s := strings.Join(got, " "); s != c.want {
			t.Errorf("tokens(%q) = %q, want %q", c.in, s, c.want)
		}
	}
	long := strings.Repeat("é", 100)
	if tk := tokens(long); len(tk) != 1 || len(tk[0].term) != MaxToken {
		t.Errorf("a long word: %v", tk)
	}
}

func sample() *Index {
	ix := New()
	ix.Add(Doc{Task: "t1", ID: "a/1", Key: "1", Text: "Meeting tomorrow at noon", Date: 1000})
	ix.Add(Doc{Task: "t1", ID: "a/2", Key: "2", Text: "the meeting moved to Friday", Date: 2000})
	ix.Add(Doc{Task: "t2", ID: "b/1", Key: "1", Text: "Café? Tomorrow!", Date: 1500})
	ix.Add(Doc{Task: "t2", ID: "b/2", Key: "2", Text: "nothing here", Date: 3000})
	return ix
}

func TestSearchPrefixAndNewestFirst(t *testing.T) {
	ix := sample()
	for _, c := range []struct{ q, want string }{
		{"meeting", "a/2,a/1"},
		{"mee", "a/2,a/1"},
		{"mee ", "a/2,a/1"},
		{"mee tom", "a/1"},
		{"tom mee", "a/1"},
		{"TOMORROW", "b/1,a/1"},
		{"tom", "b/1,a/1"},
		{"meeting tom", "a/1"},
		{"tomorrow meeting", "a/1"},
		{"cafe", "b/1"},
		{"CAFÉ", "b/1"},
		{"nothing meeting", ""},
		{"zebra", ""},
		{"", ""},
		{"  ?!  ", ""},
		{"t", "a/2,b/1,a/1"},
	} {
		if got := mustSearch(t, ix, c.q, Options{}); got != c.want {
			t.Errorf("Search(%q) = %q, want %q", c.q, got, c.want)
		}
	}
}

func TestSearchTaskAndLimit(t *testing.T) {
	ix := sample()
	if got := mustSearch(t, ix, "tomorrow", Options{Task: "t1"}); got != "a/1" {
		t.Errorf("task t1: %q", got)
	}
	if got := mustSearch(t, ix, "tomorrow", Options{Task: "t3"}); got != "" {
		t.Errorf("task t3: %q", got)
	}
	if got := mustSearch(t, ix, "t", Options{Limit: 2}); got != "a/2,b/1" {
		t.Errorf("limit 2: %q", got)
	}
	if _, err := ix.Search(strings.Repeat("a", MaxQuery+1), Options{}); !errors.Is(err, ErrQueryTooLong) {
		t.Errorf("a long query: %v", err)
	}
}

func TestUpdates(t *testing.T) {
	ix := sample()
	// Added after a search: found by the next one.
	_ = mustSearch(t, ix, "meeting", Options{})
	ix.Add(Doc{Task: "t2", ID: "b/3", Key: "3", Text: "Meeting notes", Date: 500})
	if got := mustSearch(t, ix, "meet", Options{}); got != "a/2,a/1,b/3" {
		t.Errorf("after add: %q", got)
	}
	// The same again: nothing changes.
	ix.Add(Doc{Task: "t2", ID: "b/3", Key: "3", Text: "Meeting notes", Date: 500})
	if ix.Len() != 5 {
		t.Errorf("Len = %d after adding a document twice", ix.Len())
	}
	// An edit replaces.
	ix.Add(Doc{Task: "t1", ID: "a/1", Key: "1", Text: "lunch tomorrow", Date: 1000})
	if got := mustSearch(t, ix, "meeting", Options{}); got != "a/2,b/3" {
		t.Errorf("after edit: %q", got)
	}
	if got := mustSearch(t, ix, "lunch", Options{}); got != "a/1" {
		t.Errorf("the edit: %q", got)
	}
	// A delete.
	if !ix.Remove("t1", "a/2") || ix.Remove("t1", "a/2") {
		t.Error("Remove: want true, then false")
	}
	if got := mustSearch(t, ix, "meeting", Options{}); got != "b/3" {
		t.Errorf("after remove: %q", got)
	}
	if ix.Has("t1", "a/2") || !ix.Has("t1", "a/1") || ix.Len() != 4 {
		t.Errorf("Has/Len wrong after remove: len %d", ix.Len())
	}
}

// TestRetext: an edit known only by its message's id keeps the message's
// place (date, key, author) and changes what finds it.
func TestRetext(t *testing.T) {
	ix := sample()
	if !ix.Retext("t2", "b/2", "Dinner reservation") {
		t.Fatal("Retext of an indexed message: false")
	}
	if got := mustSearch(t, ix, "dinner", Options{}); got != "b/2" {
		t.Errorf("the edit: %q", got)
	}
	if got := mustSearch(t, ix, "nothing", Options{}); got != "" {
		t.Errorf("the old text still finds it: %q", got)
	}
	if ix.Retext("t2", "b/9", "x") || ix.Has("t2", "b/9") {
		t.Error("Retext of a message not indexed added it")
	}
}

func TestSnippet(t *testing.T) {
	ix := New()
	long := strings.Repeat("lorem ipsum ", 30) + "needle\u202e in a\nhaystack " + strings.Repeat("dolor sit ", 30)
	ix.Add(Doc{Task: "t", ID: "x/1", Text: long, Date: 1})
	rs, err := ix.Search("needle", Options{})
	if err != nil || len(rs) != 1 {
		t.Fatalf("Search: %v %v", rs, err)
	}
	s := rs[0].Snippet
	if !strings.HasPrefix(s, "…") || !strings.HasSuffix(s, "…") || !strings.Contains(s, "needle in a haystack") {
		t.Errorf("snippet %q", s)
	}
	if strings.ContainsAny(s, "\n\u202e") || len(s) > snippetBefore+snippetAfter+8 {
		t.Errorf("snippet not cleaned or too long: %q", s)
	}
	if rs[0].Text != long {
		t.Error("Text is not the whole text")
	}
}

// TestManyInterleaved checks the sorted views against a plain scan while
// documents arrive between searches, out of date order.
func TestManyInterleaved(t *testing.T) {
	ix := New()
	words := []string{"alpha", "beta", "gamma", "delta", "alps"}
	var all []Doc
	for i := range 500 {
		d := Doc{Task: fmt.Sprint("t", i%3), ID: fmt.Sprint("p/", i), Key: fmt.Sprintf("%05d", i),
			Text: words[i%5] + " " + words[(i*7)%5], Date: int64((i * 7919) % 1000)}
		ix.Add(d)
		all = append(all, d)
		if i%37 != 0 {
			continue
		}
		rs, err := ix.Search("al", Options{Task: "t1", Limit: MaxLimit})
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range all {
			if d.Task == "t1" && strings.Contains(d.Text, "al") {
				n++
			}
		}
		if len(rs) != min(n, MaxLimit) {
			t.Fatalf("after %d: %d results, want %d", i, len(rs), n)
		}
		for j := 1; j < len(rs); j++ {
			if rs[j].Date > rs[j-1].Date {
				t.Fatalf("not newest first at %d: %d then %d", j, rs[j-1].Date, rs[j].Date)
			}
		}
	}
}
