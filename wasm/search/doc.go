// Package search is a full-text index of a profile's messages, searched as
// the user types: pure Go, no I/O, no goroutines.
//
// Text is cut into tokens (runs of letters and digits; each Han, Hiragana
// or Katakana character is a token of its own), lower-cased and, for Latin
// letters, folded to their base letter ("Café" → "cafe"). A query is the
// AND of its tokens, each the start of a word: "meet tom" finds "meeting
// tomorrow" while it is being typed. Results come newest first (by date,
// then by key).
//
// The index keeps an inverted list of documents per token, and two sorted
// views it brings up to date at the next search: the vocabulary (for
// prefixes) and the documents by date. Adding a document is cheap
// (amortised O(tokens)); a search costs the postings it touches plus, at
// most, one pass over the documents by date.
package search
