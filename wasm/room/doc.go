// Package room is the messenger's task rooms: tasks, invite codes, the
// message format and the timeline that merges a task's books in one order,
// the same on every member. It is pure Go, over the journal.
//
// (Work in progress: invite codes, messages and the timeline are here; the
// join handshake and membership come next.)
package room
