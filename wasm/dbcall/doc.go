// Package dbcall is the JS db object of a profile (tm.vault, tm.DB) as
// JSON calls over a journal.DB, so that a tab which does not write the
// profile can work through the tab that does (package tabs).
//
// Do carries out one call: a method named "db.<name>" and its arguments as
// the JSON array JSON.stringify([...arguments]) writes, as package app's
// Do takes them; the result is JSON. The methods, as a follower's db and
// book objects call them (key is a book key):
//
//	db.books   []                 → [info]             info: {key, name, writable, verified, forked, length, have, author?}
//	db.author  [name, meta?]      → {key, name, writable}
//	db.reader  [key]              → {key, name, writable}
//	db.add     [key, value]       → index              value: any JSON value, stored as its JSON text
//	db.get     [key, i]           → page
//	db.len     [key]              → length
//	db.head    [key]              → {length, key?, root?, signature?}
//	db.info    [key]              → info
//	db.export  [{passphrase}?]    → an export (backup.Of)
//	db.import  [json]             → [result]           json: an export object or its text
//	db.reset   []                 → refused: a follower cannot delete the profile another tab writes
//
// A page is {page: value} for a JSON page (page 0, the genesis, as
// {type: 'genesis', author, key, name, meta?}) or {bytes: base64} for
// any other.
//
// Event turns a journal.Event into the JSON a follower's hooks are made
// from: {type: 'book', book: {type, key, index, length, count, pages?}},
// count being the pages appended or stored; pages (as Do's pages) are left
// out when they hold more than MaxEventPages bytes (the page asks for them
// with get).
//
// Service is a db alone as a tabs.Service: the writer of a tab that opened
// the profile for its db only (tm.vault, tm.DB), which yields the profile
// to a messenger tab (tabs.Config.Partial).
//
// Every argument is untrusted: types and sizes are checked, and errors
// have the JS API's texts.
package dbcall
