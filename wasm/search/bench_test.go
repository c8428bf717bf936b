package search

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// corpus makes n messages in 100 tasks from a vocabulary of 20,000 words
// drawn with a Zipf law (a few words very common, most rare), 4 to 30
// words each, and returns the words.
func corpus(n int) ([]Doc, []string) {
	r := rand.New(rand.NewPCG(1, 2))
	vocab := make([]string, 20000)
	for i := range vocab {
		var b strings.Builder
		for range 3 + r.IntN(7) {
			b.WriteByte(byte('a' + r.IntN(26)))
		}
		vocab[i] = b.String()
	}
	z := rand.NewZipf(r, 1.1, 1, uint64(len(vocab)-1))
	docs := make([]Doc, n)
	for i := range docs {
		words := make([]string, 4+r.IntN(27))
		for j := range words {
			words[j] = vocab[z.Uint64()]
		}
		docs[i] = Doc{Task: fmt.Sprint("task", i%100), ID: fmt.Sprintf("peer/%d", i), Key: fmt.Sprintf("%020d", i),
			By: "peer", Text: strings.Join(words, " "), Date: 1_700_000_000_000 + int64(i)*1000}
	}
	return docs, vocab
}

// keystrokes are the queries typed letter by letter: two words of a
// message each, every prefix of the phrase.
func keystrokes(docs []Doc, n int) []string {
	r := rand.New(rand.NewPCG(3, 4))
	var out []string
	for range n {
		words := strings.Fields(docs[r.IntN(len(docs))].Text)
		phrase := words[0] + " " + words[1]
		for i := 1; i <= len(phrase); i++ {
			out = append(out, phrase[:i])
		}
	}
	return out
}

// BenchmarkSearch100k is a search per keystroke over 100,000 messages, as
// the user types two-word phrases (across every task, 20 results): p50 and
// p99 of the keystrokes, in ms.
func BenchmarkSearch100k(b *testing.B) {
	docs, _ := corpus(100_000)
	ix := New()
	for _, d := range docs {
		ix.Add(d)
	}
	if _, err := ix.Search("x", Options{}); err != nil { // settle
		b.Fatal(err)
	}
	qs := keystrokes(docs, 200)
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		if _, err := ix.Search(qs[i%len(qs)], Options{}); err != nil {
			b.Fatal(err)
		}
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(times)
	ms := func(p float64) float64 { return float64(times[int(p*float64(len(times)-1))]) / 1e6 }
	b.ReportMetric(ms(0.50), "p50-ms")
	b.ReportMetric(ms(0.99), "p99-ms")
}

// BenchmarkIndex100k adds 100,000 messages to an empty index and sorts
// it (what a rebuild costs beyond reading the messages).
func BenchmarkIndex100k(b *testing.B) {
	docs, _ := corpus(100_000)
	b.ResetTimer()
	for range b.N {
		ix := New()
		for _, d := range docs {
			ix.Add(d)
		}
		if _, err := ix.Search("x", Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/100k")
}

// BenchmarkAdd is one message added to an index of 100,000, then a search
// (a message received while the user types).
func BenchmarkAdd(b *testing.B) {
	docs, _ := corpus(100_000)
	ix := New()
	for _, d := range docs {
		ix.Add(d)
	}
	b.ResetTimer()
	for i := range b.N {
		d := docs[i%len(docs)]
		d.ID = fmt.Sprint("new/", i)
		d.Date += 1 << 40
		ix.Add(d)
		if _, err := ix.Search("ab", Options{Limit: 1}); err != nil {
			b.Fatal(err)
		}
	}
}
