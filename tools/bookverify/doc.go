// Package bookverify is an independent verifier of task-messenger books,
// written from docs/format.md alone: the Go standard library and
// golang.org/x/mod/sumdb/tlog, none of the project's packages (a test
// checks the imports), with a CBOR reader of its own. It is the proof that
// the docs suffice, and a tool for anyone who holds books they did not
// write (a mirror, devtools, an auditor).
//
// It checks:
//   - a head: [key, length, root, signature], signed by the book key
//     (ParseHead, Head.Verify);
//   - a genesis page: canonical form, keys that are curve points not of
//     small order, the name's rules and the author it binds, the author's
//     signature of the page with a null signature (ParseGenesis), and that
//     it belongs to a head's book (VerifyGenesis);
//   - pages against a head: range proofs [left, tree] (VerifyRange) and
//     RFC 6962 inclusion proofs (VerifyInclusion);
//   - a later head against an older one: RFC 6962 consistency
//     (VerifyConsistency), and a replication upgrade against the head a
//     reader holds (VerifyUpgrade);
//   - a whole book (VerifyBook), a JSON export (VerifyExport, and the
//     bookverify command), and replication messages (ParseMessage).
//
// Its tests run it against books, proofs and a real replication session
// made by the project's code, tampered pages and forged heads, and keep
// the worked examples of docs/format.md true.
package bookverify
