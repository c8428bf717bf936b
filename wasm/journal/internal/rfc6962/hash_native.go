//go:build !wasm

package rfc6962

import "golang.org/x/mod/sumdb/tlog"

// RecordHash returns the leaf hash of a record's data, tlog.RecordHash.
func RecordHash(data []byte) tlog.Hash { return tlog.RecordHash(data) }

// NodeHash returns the hash of an interior node with these children,
// tlog.NodeHash.
func NodeHash(left, right tlog.Hash) tlog.Hash { return tlog.NodeHash(left, right) }
